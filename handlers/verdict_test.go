package handlers_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// verdictCases are inputs on which the two stores would judge differently
// (or fail) if the handlers let them through: each gets the same answer on
// SQLite and on PostgreSQL, and no valid one a 500.
var verdictCases = []struct {
	name  string
	body  string
	ctype string
	want  int
	// field is the field the 400 must name, when it names one.
	field string
}{
	{"plain event", `{"type":"ok","message":"m"}`, "", 201, ""},
	{"details 32 deep", `{"type":"ok","message":"m","details":` + nest(31) + `}`, "", 201, ""},
	{"details 33 deep", `{"type":"ok","message":"m","details":` + nest(32) + `}`, "", 400, "details"},
	{"details 1000 deep", `{"type":"ok","message":"m","details":` + nest(999) + `}`, "", 400, "details"},
	{"number out of range", `{"type":"ok","message":"m","details":{"n":1e999999}}`, "", 400, "details"},
	{"number underflows", `{"type":"ok","message":"m","details":{"n":1e-999999}}`, "", 400, "details"},
	{"largest double", `{"type":"ok","message":"m","details":{"n":1.7976931348623157e308,"z":0e-5,"neg":-0.0}}`, "", 201, ""},
	{"lone high surrogate", `{"type":"ok","message":"m","details":{"s":"\ud800"}}`, "", 400, "details"},
	{"lone low surrogate", `{"type":"ok","message":"m","details":{"s":"\udc00x"}}`, "", 400, "details"},
	{"reversed pair", `{"type":"ok","message":"m","details":{"s":"\udc00\ud800"}}`, "", 400, "details"},
	{"surrogate pair", `{"type":"ok","message":"m","details":{"s":"\ud83d\ude00"}}`, "", 201, ""},
	{"surrogate in a key", `{"type":"ok","message":"m","details":{"\ud800":1}}`, "", 400, "details"},
	{"NUL escape", `{"type":"ok","message":"m","details":{"s":"a\u0000b"}}`, "", 400, "details"},
	{"escaped backslash then u0000", `{"type":"ok","message":"m","details":{"s":"\\u0000"}}`, "", 201, ""},
	{"duplicate key in details", `{"type":"ok","message":"m","details":{"a":1,"a":2}}`, "", 400, "details"},
	{"same key in two objects", `{"type":"ok","message":"m","details":{"a":{"a":1},"b":[{"a":1},{"a":2}]}}`, "", 201, ""},
	{"duplicate field", `{"type":"ok","message":"m","type":"other"}`, "", 400, "type"},
	{"field in upper case", `{"TYPE":"ok","message":"m"}`, "", 400, "TYPE"},
	{"unknown field", `{"type":"ok","message":"m","extra":1}`, "", 400, "extra"},
	{"trailing garbage", `{"type":"ok","message":"m"}x`, "", 400, ""},
	{"reserved prefix admin.", `{"type":"admin.signed_in","message":"m"}`, "", 400, "type"},
	{"reserved prefix token.", `{"type":"token.revoked","message":"m"}`, "", 400, "type"},
	{"reserved prefix in a batch", `[{"type":"ok","message":"m"},{"type":"vitals.x","message":"m"}]`, "", 400, "type"},
	{"application/jsonx", `{"type":"ok","message":"m"}`, "application/jsonx", 415, ""},
	{"json with another charset", `{"type":"ok","message":"m"}`, "application/json; charset=latin1", 415, ""},
	{"json with utf-8", `{"type":"ok","message":"m"}`, "application/json; charset=UTF-8", 201, ""},
}

// nest is n nested arrays inside an object: depth n+1.
func nest(n int) string {
	return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

func TestOneVerdictOnBothBackends(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		h = h.with(t)
		for _, tc := range verdictCases {
			ctype := tc.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			before := len(h.stored())
			status, _, body := h.do(http.MethodPost, "/api/v1/events", []byte(tc.body), ctype, asIngest)
			if status != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.want)
				continue
			}
			stored := len(h.stored()) - before
			if status >= 400 {
				if stored != 0 {
					t.Errorf("%s: refused but %d stored", tc.name, stored)
				}
				if tc.field != "" && !bytes.Contains(body, []byte(`"field":"`+tc.field+`"`)) {
					t.Errorf("%s: the answer does not name %s: %s", tc.name, tc.field, body)
				}
			} else if stored != 1 {
				t.Errorf("%s: %d stored", tc.name, stored)
			}
		}
	})
}

// A repeated idempotency key answers which event it was, never what it
// holds: another client's message, email and details stay unread.
func TestDuplicateAnswerCarriesNoContent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		h = h.with(t)
		first := `{"type":"ok","message":"secret message","user_email":"a@example.com","details":{"k":"secret"},"idempotency_key":"k1"}`
		if status, body := h.postJSON(first, asIngest); status != 201 {
			t.Fatalf("first: %d %s", status, body)
		}
		status, body := h.postJSON(`{"type":"ok","message":"guess","idempotency_key":"k1"}`, asIngest)
		if status != 200 {
			t.Fatalf("repeat: %d %s", status, body)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got["duplicate"] != true || got["id"] == nil || got["created_at"] == nil {
			t.Fatalf("duplicate answer %s, want only id, created_at and duplicate", body)
		}
		status, body = h.postJSON(`[{"type":"ok","message":"guess","idempotency_key":"k1"},{"type":"ok","message":"new"}]`, asIngest)
		if status != 201 || bytes.Contains(body, []byte("secret")) {
			t.Fatalf("batch with a repeat: %d %s", status, body)
		}
	})
}

// gzip is taken on ingest only, one layer, and the limits apply to what it
// decodes to.
func TestIngestGzipIsBounded(t *testing.T) {
	h := newSQLiteHarness(t)
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	post := func(path string, body []byte, encoding string, c cred) (int, []byte) {
		status, _, out := h.do(http.MethodPost, path, body, "application/json", func(r *http.Request) {
			r.Header.Set("Content-Encoding", encoding)
			c(r)
		})
		return status, out
	}
	if status, body := post("/api/v1/events", gz([]byte(`{"type":"ok","message":"zipped"}`)), "gzip", asIngest); status != 201 {
		t.Fatalf("one gzip event: %d %s", status, body)
	}
	big := []byte(`{"type":"ok","message":"m","details":{"a":"` + strings.Repeat("x", 70<<10) + `"}}`)
	if status, body := post("/api/v1/events", gz(big), "gzip", asIngest); status != 413 {
		t.Fatalf("gzip of a 70 KiB event: %d %s", status, body)
	}
	bomb := gz(bytes.Repeat([]byte(" "), 8<<20))
	if status, body := post("/api/v1/events", bomb, "gzip", asIngest); status != 413 {
		t.Fatalf("gzip bomb: %d %s", status, body)
	}
	if status, body := post("/api/v1/events", gz(gz([]byte(`{"type":"ok","message":"m"}`))), "gzip, gzip", asIngest); status != 415 {
		t.Fatalf("two layers: %d %s", status, body)
	}
	if status, body := post("/api/v1/events", []byte(`{"type":"ok","message":"m"}`), "br", asIngest); status != 415 {
		t.Fatalf("br: %d %s", status, body)
	}
	if status, body := post("/login", gz([]byte("a=b")), "gzip", anon); status != 415 {
		t.Fatalf("gzip on /login: %d %s", status, body)
	}
	if n := len(h.stored()); n != 1 {
		t.Fatalf("%d stored, want 1", n)
	}
}
