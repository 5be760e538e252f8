package handlers_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

type eventJSON struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Message   string          `json:"message"`
	UserEmail *string         `json:"user_email"`
	Details   json.RawMessage `json:"details"`
	CreatedAt time.Time       `json:"created_at"`
}

type problemJSON struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Index   *int   `json:"index"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func TestPostThenList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		before := time.Now().Add(-time.Second)
		status, body := h.postJSON(`{"type":"user_registered","message":"Новый пользователь зарегистрировался","user_email":"anna@example.com","details":{"plan":"free","tags":["a","b"],"nested":{"emoji":"🎵"}}}`, asIngest)
		if status != http.StatusCreated {
			t.Fatalf("post: %d %s", status, body)
		}
		ev := decode[eventJSON](t, body)
		if ev.ID == 0 || ev.CreatedAt.Before(before) || ev.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("stored event has id %d and created_at %s", ev.ID, ev.CreatedAt)
		}
		if ev.Type != "user_registered" || ev.Message != "Новый пользователь зарегистрировался" || ev.UserEmail == nil || *ev.UserEmail != "anna@example.com" {
			t.Fatalf("stored event: %+v", ev)
		}
		var details map[string]any
		if err := json.Unmarshal(ev.Details, &details); err != nil || details["nested"].(map[string]any)["emoji"] != "🎵" {
			t.Fatalf("details: %s (%v)", ev.Details, err)
		}

		for i, typ := range []string{"stream_started", "track_added", "stream_stopped"} {
			if status, body := h.postJSON(fmt.Sprintf(`{"type":%q,"message":"m%d"}`, typ, i), asIngest); status != 201 {
				t.Fatalf("post %s: %d %s", typ, status, body)
			}
		}
		status, _, body = h.do("GET", "/api/v1/events", nil, "", asReader)
		if status != 200 {
			t.Fatalf("list: %d %s", status, body)
		}
		list := decode[struct{ Events []eventJSON }](t, body).Events
		var types []string
		for _, e := range list {
			types = append(types, e.Type)
		}
		if got := strings.Join(types, ","); got != "stream_stopped,track_added,stream_started,user_registered" {
			t.Fatalf("newest first: %s", got)
		}
		if list[3].UserEmail == nil || list[0].UserEmail != nil {
			t.Fatalf("emails: %v %v", list[3].UserEmail, list[0].UserEmail)
		}
		if !strings.Contains(string(body), `"user_email":null`) || !strings.Contains(string(body), `"details":null`) {
			t.Fatalf("absent email and details must be null: %s", body)
		}

		_, _, body = h.do("GET", "/api/v1/events?type=track_added,user_registered", nil, "", asReader)
		if got := decode[struct{ Events []eventJSON }](t, body).Events; len(got) != 2 || got[0].Type != "track_added" {
			t.Fatalf("type filter: %s", body)
		}
		_, _, body = h.do("GET", "/api/v1/events?type=track_added&type=stream_started", nil, "", asReader)
		if got := decode[struct{ Events []eventJSON }](t, body).Events; len(got) != 2 {
			t.Fatalf("repeated type filter: %s", body)
		}
		_, _, body = h.do("GET", "/api/v1/events?limit=2", nil, "", asReader)
		if got := decode[struct{ Events []eventJSON }](t, body).Events; len(got) != 2 || got[0].Type != "stream_stopped" {
			t.Fatalf("limit: %s", body)
		}
	})
}

func TestPostBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		var b strings.Builder
		b.WriteString("[")
		for i := range 100 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"type":"track_added","message":"track %d"}`, i)
		}
		b.WriteString("]")
		status, body := h.postJSON(b.String(), asIngest)
		if status != 201 {
			t.Fatalf("batch: %d %s", status, body)
		}
		got := decode[struct{ Events []eventJSON }](t, body).Events
		if len(got) != 100 || got[0].Message != "track 0" || got[99].Message != "track 99" || got[99].ID <= got[0].ID {
			t.Fatalf("batch answer: %d events", len(got))
		}
		if n := len(h.stored()); n != 100 {
			t.Fatalf("%d stored, want 100", n)
		}

		// One bad event stores nothing and names its index and field.
		status, body = h.postJSON(`[{"type":"a","message":"ok"},{"type":"b","message":""},{"type":"c","message":"ok"}]`, asIngest)
		if status != 400 {
			t.Fatalf("bad batch: %d %s", status, body)
		}
		p := decode[problemJSON](t, body)
		if len(p.Errors) != 1 || p.Errors[0].Index == nil || *p.Errors[0].Index != 1 || p.Errors[0].Field != "message" {
			t.Fatalf("bad batch problem: %s", body)
		}
		if n := len(h.stored()); n != 100 {
			t.Fatalf("bad batch stored something: %d", n)
		}
	})
}

// Each invalid input gets a 4xx problem naming what is wrong and stores
// nothing.
func TestInvalidEvents(t *testing.T) {
	long := func(n int, c string) string { return strings.Repeat(c, n) }
	bigDetails := `{"x":"` + long(16<<10, "a") + `"}`
	cases := []struct {
		name        string
		body        string
		contentType string
		status      int
		field       string
	}{
		{"missing type", `{"message":"m"}`, "", 400, "type"},
		{"empty type", `{"type":"","message":"m"}`, "", 400, "type"},
		{"type with upper case", `{"type":"UserRegistered","message":"m"}`, "", 400, "type"},
		{"type starting with a digit", `{"type":"1user","message":"m"}`, "", 400, "type"},
		{"type with a space", `{"type":"user registered","message":"m"}`, "", 400, "type"},
		{"type too long", `{"type":"` + long(51, "a") + `","message":"m"}`, "", 400, "type"},
		{"type not a string", `{"type":5,"message":"m"}`, "", 400, "type"},
		{"missing message", `{"type":"a"}`, "", 400, "message"},
		{"empty message", `{"type":"a","message":""}`, "", 400, "message"},
		{"message too long", `{"type":"a","message":"` + long(2001, "я") + `"}`, "", 400, "message"},
		{"message with NUL", `{"type":"a","message":"a\u0000b"}`, "", 400, "message"},
		{"email without at", `{"type":"a","message":"m","user_email":"anna"}`, "", 400, "user_email"},
		{"email with display name", `{"type":"a","message":"m","user_email":"Anna <anna@example.com>"}`, "", 400, "user_email"},
		{"email without domain dot", `{"type":"a","message":"m","user_email":"anna@localhost"}`, "", 400, "user_email"},
		{"email too long", `{"type":"a","message":"m","user_email":"` + long(250, "a") + `@example.com"}`, "", 400, "user_email"},
		{"email not a string", `{"type":"a","message":"m","user_email":7}`, "", 400, "user_email"},
		{"details an array", `{"type":"a","message":"m","details":[1,2]}`, "", 400, "details"},
		{"details a string", `{"type":"a","message":"m","details":"x"}`, "", 400, "details"},
		{"details too large", `{"type":"a","message":"m","details":` + bigDetails + `}`, "", 400, "details"},
		{"details with NUL", `{"type":"a","message":"m","details":{"k":"\u0000"}}`, "", 400, "details"},
		{"unknown field", `{"type":"a","message":"m","severity":"high"}`, "", 400, "severity"},
		{"not JSON", `type=a&message=m`, "", 400, ""},
		{"two JSON values", `{"type":"a","message":"m"}{"type":"a","message":"m"}`, "", 400, ""},
		{"empty body", ``, "", 400, ""},
		{"invalid UTF-8", "{\"type\":\"a\",\"message\":\"\xff\xfe\"}", "", 400, ""},
		{"wrong content type", `{"type":"a","message":"m"}`, "text/plain", 415, ""},
		{"no content type", `{"type":"a","message":"m"}`, "-", 415, ""},
		{"single body over 64 KiB", `{"type":"a","message":"m","details":{"x":"` + long(65<<10, "a") + `"}}`, "", 413, ""},
		{"batch over 500", `[` + strings.TrimSuffix(strings.Repeat(`{"type":"a","message":"m"},`, 501), ",") + `]`, "", 413, ""},
		{"empty batch", `[]`, "", 400, ""},
	}
	forEachBackend(t, func(t *testing.T, h *harness) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := h.with(t)
				ct := "application/json"
				switch tc.contentType {
				case "-":
					ct = ""
				case "":
				default:
					ct = tc.contentType
				}
				status, hdr, body := h.do("POST", "/api/v1/events", []byte(tc.body), ct, asIngest)
				if status != tc.status {
					t.Fatalf("status %d, want %d: %s", status, tc.status, body)
				}
				if got := hdr.Get("Content-Type"); got != "application/problem+json" {
					t.Fatalf("Content-Type %q: %s", got, body)
				}
				p := decode[problemJSON](t, body)
				if p.Status != tc.status || p.Detail == "" {
					t.Fatalf("problem: %s", body)
				}
				if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
					t.Fatalf("problem does not name %s: %s", tc.field, body)
				}
				if n := len(h.stored()); n != 0 {
					t.Fatalf("%d events stored after an invalid post", n)
				}
			})
		}
	})
}

func TestInvalidListQueries(t *testing.T) {
	h := newSQLiteHarness(t)
	for _, q := range []string{"limit=0", "limit=201", "limit=-1", "limit=ten", "type=Bad-Type", "type=" + strings.Repeat("a", 51)} {
		status, hdr, body := h.do("GET", "/api/v1/events?"+q, nil, "", asReader)
		if status != 400 || hdr.Get("Content-Type") != "application/problem+json" {
			t.Errorf("?%s: %d %s", q, status, body)
		}
	}
	for _, q := range []string{"limit=1", "limit=200", "type=a.b_c"} {
		if status, _, body := h.do("GET", "/api/v1/events?"+q, nil, "", asReader); status != 200 {
			t.Errorf("?%s: %d %s", q, status, body)
		}
	}
}

// A body over the 1 MiB batch limit is refused from its Content-Length,
// before it is read: the client gets 413 and nothing is stored. A raw
// connection sends only the headers, so the server's early answer is read
// rather than lost to a reset while the client is still writing.
func TestBodyOverLimit(t *testing.T) {
	h := newSQLiteHarness(t)
	base := h.serve()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
		"Authorization: Bearer " + ingestToken + "\r\nContent-Length: " + fmt.Sprint(2<<20) + "\r\n\r\n[" + strings.Repeat(" ", 1000)
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	if n := len(h.stored()); n != 0 {
		t.Fatalf("%d stored", n)
	}
}
