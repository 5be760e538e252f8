package hostile

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"mime/multipart"
	"strings"
	"sync"
	"time"
)

// kase is one hostile request and what vitals must answer.
type kase struct {
	name string
	req  []byte
	// status is the answer's status; says a text its body must hold.
	status int
	says   string
	// stores is how many events the request may store; 0: the store is
	// unchanged.
	stores int
	// closes: the server must close the connection after answering
	// (framing it refused: nothing after it on the stream is a request).
	closes bool
	// html: the answer is the sign-in page, not problem+json.
	html bool
	// head: the request is a HEAD, whose answer has no body.
	head bool
}

func ingest(body string, headers ...string) []byte {
	return request("POST", "/api/v1/events", append([]string{"Authorization: Bearer " + ingestToken, "Content-Type: application/json"}, headers...), []byte(body))
}

func ingestBytes(body []byte, headers ...string) []byte {
	return request("POST", "/api/v1/events", append([]string{"Authorization: Bearer " + ingestToken}, headers...), body)
}

func list(query string) []byte {
	return request("GET", "/api/v1/events?"+query, []string{"Authorization: Bearer " + readToken}, nil)
}

func form(path, ctype string, body []byte) []byte {
	return request("POST", path, []string{"Content-Type: " + ctype}, body)
}

// secrets are credentials sent along with requests the parser refuses.
var secrets = []string{"Authorization: Bearer " + secretBearer, "Cookie: vitals_session=" + secretCookie}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// bombs are built once: compressing hundreds of megabytes takes a moment.
var bombs = sync.OnceValues(func() (bomb, multipartBomb []byte) {
	// 256 MiB of zeros in about 256 KB.
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 256 {
		_, _ = w.Write(zeros)
	}
	_ = w.Close()
	bomb = buf.Bytes()

	// The finding: a multipart form of 64 MiB in one field, sent
	// gzipped to a form route.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.SetBoundary("hostileboundary")
	fw, _ := mw.CreateFormField("password")
	field := bytes.Repeat([]byte("a"), 1<<20)
	for range 64 {
		_, _ = fw.Write(field)
	}
	_ = mw.Close()
	return bomb, gz(mp.Bytes())
})

func event(extra string) string { return `{"type":"ok","message":"m"` + extra + `}` }

// nest is n nested arrays inside a details object: depth n+1.
func nest(n int) string { return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}` }

// cases is the whole table: the findings, compression bombs on
// every route, smuggling shapes, malformed and oversized headers, and the
// bad-input table.
func cases() []kase {
	bomb, multipartBomb := bombs()
	var cs []kase

	// Findings of the issue, as they were found.
	cs = append(cs,
		kase{name: "finding: gzipped multipart form to /login", req: request("POST", "/login", []string{"Content-Type: multipart/form-data; boundary=hostileboundary", "Content-Encoding: gzip"}, multipartBomb), status: 415, says: "Content-Encoding"},
		kase{name: "finding: gzipped multipart form to /prefs", req: request("POST", "/prefs", []string{"Content-Type: multipart/form-data; boundary=hostileboundary", "Content-Encoding: gzip"}, multipartBomb), status: 415, says: "Content-Encoding"},
		kase{name: "finding: multipart form to /login", req: form("/login", "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nx\r\n--x--\r\n")), status: 415, says: "x-www-form-urlencoded"},
		kase{name: "finding: Content-Length +1 quotes the credentials", req: request("POST", "/api/v1/events", append([]string{"Content-Length: +1"}, secrets...), []byte("x")), status: 400, says: "could not be read", closes: true},
		kase{name: "finding: header line without a colon", req: request("GET", "/api/v1/events", append([]string{"ThisLineHasNoColon"}, secrets...), nil), status: 400, says: "could not be read", closes: true},
		kase{name: "finding: 4.4 KB of gzip that decodes to megabytes", req: ingestBytes(gz([]byte("["+strings.Repeat(`{"type":"ok","message":"`+strings.Repeat("m", 1900)+`"},`, 1900)+`{"type":"ok","message":"m"}]`)), "Content-Type: application/json", "Content-Encoding: gzip"), status: 413, says: "decoded body is larger"},
		kase{name: "finding: two layers of gzip", req: ingestBytes(gz(gz([]byte(event("")))), "Content-Type: application/json", "Content-Encoding: gzip, gzip"), status: 415, says: "one layer of gzip"},
		kase{name: "finding: 16 KiB of nested arrays in details", req: ingest(event(`,"details":` + nest(8000))), status: 400, says: "nested more than 32"},
		kase{name: "finding: type admin.signed_in from an ingest token", req: ingest(`{"type":"admin.signed_in","message":"The admin signed in from 127.0.0.1"}`), status: 400, says: `reserved for vitals' own events`},
		kase{name: "finding: type token.revoked from an ingest token", req: ingest(`{"type":"token.revoked","message":"m"}`), status: 400, says: `\"token.\"`},
		kase{name: "finding: Transfer-Encoding other than chunked", req: request("POST", "/api/v1/events", []string{"Authorization: Bearer " + ingestToken, "Content-Type: application/json", "Transfer-Encoding: gzip"}, []byte("1b\r\n"+event("")+"\r\n0\r\n\r\n")), status: 400, says: `exactly \"chunked\"`, closes: true},
		kase{name: "finding: Content-Length and Transfer-Encoding", req: request("POST", "/api/v1/events", []string{"Authorization: Bearer " + ingestToken, "Content-Type: application/json", "Content-Length: 4", "Transfer-Encoding: chunked"}, []byte("1b\r\n"+event("")+"\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")), status: 400, says: "not both", closes: true},
		kase{name: "finding: details nested 1000 deep", req: ingest(event(`,"details":` + nest(999))), status: 400, says: "nested more than 32"},
		kase{name: "finding: lone surrogate in details", req: ingest(event(`,"details":{"s":"\ud800"}`)), status: 400, says: "lone surrogate"},
		kase{name: "finding: 1e999999 in details", req: ingest(event(`,"details":{"n":1e999999}`)), status: 400, says: "not a finite double"},
		kase{name: "finding: forged cursor", req: list("cursor=" + base64.RawURLEncoding.EncodeToString(append([]byte{2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}, bytes.Repeat([]byte{7}, 16)...))), status: 400, says: "cursor"},
		kase{name: "finding: application/jsonx", req: request("POST", "/api/v1/events", []string{"Authorization: Bearer " + ingestToken, "Content-Type: application/jsonx"}, []byte(event(""))), status: 415, says: "application/json"},
		kase{name: "finding: keys in upper case", req: ingest(`{"TYPE":"ok","message":"m"}`), status: 400, says: `"field":"TYPE"`},
		kase{name: "finding: a duplicate key", req: ingest(`{"type":"ok","message":"m","type":"other"}`), status: 400, says: "more than once"},
		kase{name: "finding: the text \\\\u0000 is text", req: ingest(event(`,"details":{"s":"\\u0000"}`)), status: 201, stores: 1},
		kase{name: "finding: q=%00", req: list("q=%00"), status: 400, says: "control characters"},
	)

	// A compression bomb on every route: refused before any decoding,
	// except on ingest, where the decoded bytes stop at the batch limit.
	routes := []struct{ method, path, cred string }{
		{"GET", "/", ""}, {"GET", "/login", ""}, {"POST", "/login", ""}, {"POST", "/prefs", ""},
		{"POST", "/logout", ""}, {"GET", "/health", ""}, {"HEAD", "/health", ""}, {"GET", "/metrics", ""},
		{"GET", "/api/v1/events", readToken}, {"DELETE", "/api/v1/events", ""}, {"GET", "/api/v1/system/metrics", ""},
		{"GET", "/api/v1/openapi.json", ""}, {"GET", "/partials/cards", ""}, {"GET", "/partials/events", ""},
		{"GET", "/partials/events/older", ""}, {"GET", "/partials/events/details", ""}, {"GET", "/partials/feed", ""},
		{"GET", "/static/app.css", ""}, {"GET", "/no/such/route", ""}, {"PUT", "/api/v1/events", ingestToken},
	}
	for _, r := range routes {
		h := []string{"Content-Type: application/x-www-form-urlencoded", "Content-Encoding: gzip"}
		if r.cred != "" {
			h = append(h, "Authorization: Bearer "+r.cred)
		}
		cs = append(cs, kase{name: "bomb: " + r.method + " " + r.path, req: request(r.method, r.path, h, bomb), status: 415, says: "Content-Encoding", head: r.method == "HEAD"})
	}
	cs = append(cs,
		kase{name: "bomb: POST /api/v1/events", req: ingestBytes(bomb, "Content-Type: application/json", "Content-Encoding: gzip"), status: 413, says: "decoded body is larger"},
		kase{name: "bomb: POST /api/v1/events without a token", req: request("POST", "/api/v1/events", []string{"Content-Type: application/json", "Content-Encoding: gzip"}, bomb), status: 401, says: "credentials"},
		kase{name: "bomb: deflate on ingest", req: ingestBytes(bomb, "Content-Type: application/json", "Content-Encoding: deflate"), status: 415, says: "one layer of gzip"},
		kase{name: "bomb: br on ingest", req: ingestBytes(bomb, "Content-Type: application/json", "Content-Encoding: br"), status: 415, says: "one layer of gzip"},
		kase{name: "bomb: gzip twice as two headers", req: ingestBytes(bomb, "Content-Type: application/json", "Content-Encoding: gzip", "Content-Encoding: gzip"), status: 415, says: "one layer of gzip"},
		kase{name: "bomb: not gzip at all", req: ingestBytes([]byte("plainly not gzip"), "Content-Type: application/json", "Content-Encoding: gzip"), status: 400, says: "not valid gzip"},
		kase{name: "bomb: gzip then garbage", req: ingestBytes(append(gz([]byte(event(""))), "trailing"...), "Content-Type: application/json", "Content-Encoding: gzip"), status: 400, says: "after its gzip stream"},
		kase{name: "bomb: a gzipped event is taken", req: ingestBytes(gz([]byte(event(""))), "Content-Type: application/json", "Content-Encoding: gzip"), status: 201, stores: 1},
	)

	// Smuggling and framing shapes: refused, and the connection closed.
	chunkedEvent := "1b\r\n" + event("") + "\r\n0\r\n\r\n"
	smuggled := "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + readToken + "\r\n\r\n"
	for _, f := range []struct {
		name    string
		headers []string
		says    string
	}{
		{"TE xchunked", []string{"Transfer-Encoding: xchunked"}, "exactly"},
		{"TE chunked, identity", []string{"Transfer-Encoding: chunked, identity"}, "exactly"},
		{"TE gzip, chunked", []string{"Transfer-Encoding: gzip, chunked"}, "exactly"},
		{"TE Chunked", []string{"Transfer-Encoding: Chunked"}, "exactly"},
		{"TE twice", []string{"Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}, "exactly"},
		{"TE identity with CL", []string{"Transfer-Encoding: identity", "Content-Length: 27"}, "not both"},
		{"CL then TE", []string{"Content-Length: 27", "Transfer-Encoding: chunked"}, "not both"},
		{"TE then CL", []string{"Transfer-Encoding: chunked", "Content-Length: 0"}, "not both"},
		{"two Content-Lengths", []string{"Content-Length: 27", "Content-Length: 27"}, "one Content-Length"},
	} {
		body := chunkedEvent
		if strings.Contains(f.name, "Content-Length") || f.name == "TE identity with CL" {
			body = event("")
		}
		cs = append(cs, kase{name: "framing: " + f.name,
			req:    request("POST", "/api/v1/events", append([]string{"Authorization: Bearer " + ingestToken, "Content-Type: application/json"}, f.headers...), []byte(body+smuggled)),
			status: 400, says: f.says, closes: true})
	}
	cs = append(cs,
		kase{name: "framing: Content-Length -1", req: request("POST", "/api/v1/events", append([]string{"Content-Length: -1"}, secrets...), nil), status: 400, says: "could not be read", closes: true},
		kase{name: "framing: Content-Length 1x", req: request("POST", "/api/v1/events", append([]string{"Content-Length: 1x"}, secrets...), []byte("x")), status: 400, says: "could not be read", closes: true},
		kase{name: "framing: body larger than any route takes", req: request("POST", "/api/v1/events", append([]string{"Content-Length: 2000000"}, secrets...), nil), status: 413, says: "too large", closes: true},
		kase{name: "framing: space before the colon", req: request("GET", "/health", append(secrets, "Bad Header : x"), nil), status: 400, says: "could not be read", closes: true},
		kase{name: "framing: chunked alone is taken", req: request("POST", "/api/v1/events", []string{"Authorization: Bearer " + ingestToken, "Content-Type: application/json", "Transfer-Encoding: chunked"}, []byte(chunkedEvent)), status: 201, stores: 1},
	)

	// Headers: many, huge, and just enough.
	many := func(n int) []string {
		h := make([]string, n)
		for i := range h {
			h[i] = fmt.Sprintf("X-Hostile-%d: v", i)
		}
		return h
	}
	cs = append(cs,
		kase{name: "headers: 3000 of them", req: request("GET", "/health", append(secrets, many(3000)...), nil), status: 431, says: "too large", closes: true},
		kase{name: "headers: one of 100 KiB", req: request("GET", "/health", append(secrets, "X-Huge: "+strings.Repeat("h", 100<<10)), nil), status: 431, says: "too large", closes: true},
		kase{name: "headers: a 100 KiB cookie", req: request("GET", "/", []string{"Cookie: vitals_session=" + strings.Repeat("c", 100<<10)}, nil), status: 431, says: "too large", closes: true},
		kase{name: "headers: a 100 KiB request line", req: request("GET", "/health?"+strings.Repeat("q", 100<<10), nil, nil), status: 431, says: "too large", closes: true},
		kase{name: "headers: 100 small ones are fine", req: request("GET", "/health", many(100), nil), status: 200},
		kase{name: "headers: a wrong bearer token", req: request("GET", "/api/v1/events", []string{"Authorization: Bearer " + secretBearer}, nil), status: 401, says: "not valid"},
	)

	// Deep JSON.
	cs = append(cs,
		kase{name: "deep: 1 MiB of [ as a batch", req: ingest(strings.Repeat("[", 1<<20-1)), status: 400, says: "must be a JSON object"},
		kase{name: "deep: 900 KiB of [ in details of a batch", req: ingest(`[{"type":"ok","message":"m","details":` + strings.Repeat("[", 900<<10) + `}]`), status: 400, says: "not valid JSON"},
		kase{name: "deep: 15 KB of { in details", req: ingest(`{"type":"ok","message":"m","details":` + strings.Repeat(`{"a":`, 2500) + `1` + strings.Repeat("}", 2500) + `}`), status: 400, says: "nested more than 32"},
		kase{name: "deep: 50 KiB of { in details", req: ingest(`{"type":"ok","message":"m","details":` + strings.Repeat(`{"a":`, 10<<10) + `1` + strings.Repeat("}", 10<<10) + `}`), status: 400, says: "not valid JSON"},
		kase{name: "deep: details 33 levels", req: ingest(event(`,"details":` + nest(32))), status: 400, says: "nested more than 32"},
		kase{name: "deep: details 32 levels are fine", req: ingest(event(`,"details":` + nest(31))), status: 201, stores: 1},
	)

	// The bad-input table: malformed, truncated, trailing garbage, invalid
	// UTF-8, control characters, over-long fields, HTML and SQL, bad limits.
	old := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	bad := []kase{
		{name: "malformed JSON", req: ingest(`{"type":`), status: 400, says: "not valid JSON"},
		{name: "truncated JSON", req: ingest(`{"type":"ok","message":"m"`), status: 400, says: "not valid JSON"},
		{name: "truncated string", req: ingest(`{"type":"ok","message":"m`), status: 400, says: "not valid JSON"},
		{name: "trailing object", req: ingest(event("") + ` {}`), status: 400, says: "more than one JSON value"},
		{name: "trailing text", req: ingest(event("") + `xyz`), status: 400, says: "more than one JSON value"},
		{name: "single quotes", req: ingest(`{'type':'ok','message':'m'}`), status: 400, says: "not valid JSON"},
		{name: "invalid UTF-8", req: ingest("{\"type\":\"ok\",\"message\":\"\xff\xfe\"}"), status: 400, says: "UTF-8"},
		{name: "overlong UTF-8", req: ingest("{\"type\":\"ok\",\"message\":\"\xc0\xaf\"}"), status: 400, says: "UTF-8"},
		{name: "raw control character in a string", req: ingest("{\"type\":\"ok\",\"message\":\"a\x01b\"}"), status: 400, says: "not valid JSON"},
		{name: "NUL escape in the message", req: ingest(`{"type":"ok","message":"a\u0000b"}`), status: 400, says: "NUL"},
		{name: "control character in the type", req: ingest(`{"type":"ok\u0007","message":"m"}`), status: 400, says: `"field":"type"`},
		{name: "control character in the idempotency key", req: ingest(event(`,"idempotency_key":"a\u001bb"`)), status: 400, says: "control characters"},
		{name: "type too long", req: ingest(`{"type":"` + strings.Repeat("t", 51) + `","message":"m"}`), status: 400, says: "longer than 50"},
		{name: "message too long", req: ingest(`{"type":"ok","message":"` + strings.Repeat("я", 2001) + `"}`), status: 400, says: "longer than 2000"},
		{name: "email too long", req: ingest(event(`,"user_email":"` + strings.Repeat("a", 250) + `@example.com"`)), status: 400, says: "longer than 255"},
		{name: "email not an address", req: ingest(event(`,"user_email":"not an email"`)), status: 400, says: "not an email address"},
		{name: "idempotency key too long", req: ingest(event(`,"idempotency_key":"` + strings.Repeat("k", 65) + `"`)), status: 400, says: "longer than 64"},
		{name: "idempotency key empty", req: ingest(event(`,"idempotency_key":""`)), status: 400, says: "must not be empty"},
		{name: "details too large", req: ingest(event(`,"details":{"a":"` + strings.Repeat("d", 17<<10) + `"}`)), status: 400, says: "larger than"},
		{name: "details not an object", req: ingest(event(`,"details":[1,2]`)), status: 400, says: "must be a JSON object"},
		{name: "details duplicate key", req: ingest(event(`,"details":{"a":1,"a":2}`)), status: 400, says: "more than once"},
		{name: "details number underflows", req: ingest(event(`,"details":{"n":1e-999999}`)), status: 400, says: "not a finite double"},
		{name: "details reversed surrogates", req: ingest(event(`,"details":{"s":"\udc00\ud800"}`)), status: 400, says: "lone surrogate"},
		{name: "occurred_at not a time", req: ingest(event(`,"occurred_at":"yesterday"`)), status: 400, says: "RFC 3339"},
		{name: "occurred_at in the future", req: ingest(event(`,"occurred_at":"` + future + `"`)), status: 400, says: "in the future"},
		{name: "occurred_at two days ago", req: ingest(event(`,"occurred_at":"` + old + `"`)), status: 400, says: "24 hours"},
		{name: "unknown field", req: ingest(event(`,"extra":1`)), status: 400, says: `"field":"extra"`},
		{name: "type is a number", req: ingest(`{"type":1,"message":"m"}`), status: 400, says: "must be a JSON string"},
		{name: "empty body", req: ingest(""), status: 400, says: "empty"},
		{name: "white space only", req: ingest(" \r\n\t "), status: 400, says: "empty"},
		{name: "null", req: ingest("null"), status: 400, says: "event object"},
		{name: "a string", req: ingest(`"event"`), status: 400, says: "event object"},
		{name: "empty batch", req: ingest("[]"), status: 400, says: "batch is empty"},
		{name: "batch of numbers", req: ingest("[1]"), status: 400, says: "must be a JSON object"},
		{name: "batch of 501", req: ingest("[" + strings.Repeat(event("")+",", 500) + event("") + "]"), status: 413, says: "at most 500"},
		{name: "single event over 64 KiB", req: ingest(`{"type":"ok","message":"m","pad":"` + strings.Repeat(" ", 65<<10) + `"}`), status: 413, says: "at most 65536"},
		{name: "HTML in the type", req: ingest(`{"type":"<script>alert(1)</script>","message":"m"}`), status: 400, says: `"field":"type"`},
		{name: "SQL in the type", req: ingest(`{"type":"x'; DROP TABLE events;--","message":"m"}`), status: 400, says: `"field":"type"`},
		{name: "HTML in the message is text", req: ingest(`{"type":"ok","message":"<img src=x onerror=alert(1)>"}`), status: 201, stores: 1},
		{name: "SQL in the message is text", req: ingest(`{"type":"ok","message":"'); DELETE FROM events; --"}`), status: 201, stores: 1},
		{name: "reserved prefix alert.", req: ingest(`{"type":"alert.firing","message":"m"}`), status: 400, says: `\"alert.\"`},
		{name: "reserved prefix events.", req: ingest(`{"type":"events.erased","message":"m"}`), status: 400, says: `\"events.\"`},
		{name: "reserved prefix vitals.", req: ingest(`{"type":"vitals.started","message":"m"}`), status: 400, says: `\"vitals.\"`},
		{name: "Content-Type text/plain", req: request("POST", "/api/v1/events", []string{"Authorization: Bearer " + ingestToken, "Content-Type: text/plain"}, []byte(event(""))), status: 415, says: "application/json"},
		{name: "Content-Type json with latin1", req: request("POST", "/api/v1/events", []string{"Authorization: Bearer " + ingestToken, "Content-Type: application/json; charset=latin1"}, []byte(event(""))), status: 415, says: "application/json"},
		{name: "no Content-Type", req: request("POST", "/api/v1/events", []string{"Authorization: Bearer " + ingestToken}, []byte(event(""))), status: 415, says: "application/json"},
		{name: "limit 0", req: list("limit=0"), status: 400, says: `"field":"limit"`},
		{name: "limit -1", req: list("limit=-1"), status: 400, says: `"field":"limit"`},
		{name: "limit 201", req: list("limit=201"), status: 400, says: `"field":"limit"`},
		{name: "limit abc", req: list("limit=abc"), status: 400, says: `"field":"limit"`},
		{name: "limit 1e3", req: list("limit=1e3"), status: 400, says: `"field":"limit"`},
		{name: "limit beyond int64", req: list("limit=99999999999999999999"), status: 400, says: `"field":"limit"`},
		{name: "since not a time", req: list("since=yesterday"), status: 400, says: `"field":"since"`},
		{name: "until before since", req: list("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"), status: 400, says: `"field":"until"`},
		{name: "cursor garbage", req: list("cursor=%3Cscript%3E"), status: 400, says: `"field":"cursor"`},
		{name: "cursor of the old unsigned layout", req: list("cursor=" + base64.RawURLEncoding.EncodeToString([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9})), status: 400, says: `"field":"cursor"`},
		{name: "type filter not a type", req: list("type=DROP%20TABLE"), status: 400, says: `"field":"type"`},
		{name: "q with a control character", req: list("q=a%01b"), status: 400, says: "control characters"},
		{name: "q not UTF-8", req: list("q=%ff%fe"), status: 400, says: "UTF-8"},
		{name: "q too long", req: list("q=" + strings.Repeat("q", 300)), status: 400, says: "longer than"},
		{name: "q with SQL is text", req: list("q=%27%20OR%201%3D1%20--"), status: 200, says: `"events":[]`},
		{name: "q with LIKE wildcards is text", req: list("q=%25_%25"), status: 200, says: `"events":[]`},
		{name: "form as JSON", req: form("/login", "application/json", []byte(`{"password":"x"}`)), status: 415, says: "x-www-form-urlencoded"},
		{name: "form over 4 KiB", req: form("/login", "application/x-www-form-urlencoded", []byte("password="+strings.Repeat("p", 5<<10))), status: 413, says: "4 KiB"},
		{name: "form with a bad escape", req: form("/login", "application/x-www-form-urlencoded", []byte("password=%zz")), status: 400, says: "not valid"},
		{name: "form without its CSRF token", req: form("/login", "application/x-www-form-urlencoded", []byte("username=admin&password=x")), status: 403, html: true},
		{name: "prefs as multipart", req: form("/prefs", "multipart/form-data; boundary=x", []byte("--x--\r\n")), status: 415, says: "x-www-form-urlencoded"},
		{name: "erase without credentials", req: request("DELETE", "/api/v1/events?user_email=a@example.com", nil, nil), status: 401, says: "credentials"},
	}
	for _, b := range bad {
		b.name = "input: " + b.name
		cs = append(cs, b)
	}
	return cs
}
