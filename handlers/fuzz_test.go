package handlers

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vitalsdev/vitals/storage"
)

// Fuzz targets for what a client sends before and after it is trusted:
// the event body (decoding and validation) and the list cursor. Their seed
// corpora run as ordinary tests; `go test ./handlers -run '^$' -fuzz
// FuzzX -fuzztime 5m` searches further.

func FuzzDecodeAndValidateEvents(f *testing.F) {
	for _, s := range []string{
		`{"type":"user_registered","message":"Новый пользователь","user_email":"anna@example.com","details":{"plan":"free"}}`,
		`[{"type":"a","message":"b"},{"type":"c","message":"d","idempotency_key":"k1"}]`,
		`{"type":"a","message":"b","details":{"n":1e308,"s":"\\u0000","a":[[[{"x":null}]]]}}`,
		`{"type":"a","message":"b","details":{"n":1e999999}}`,
		`{"type":"a","message":"b","details":{"s":"\ud800"}}`,
		`{"Type":"a","message":"b"}`,
		`{"type":"a","type":"b","message":"c"}`,
		`{"type":"a","message":"b"} trailing`,
		`{"type":"a","message":"b","occurred_at":"2026-11-26T10:15:30.123Z"}`,
		`[]`, `[1]`, `"x"`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		inputs, _, err := decodeEvents(body)
		if err != nil {
			if _, ok := err.(*Problem); !ok {
				t.Fatalf("decode error %T is not a problem answer", err)
			}
			return
		}
		if len(inputs) == 0 || len(inputs) > MaxBatchEvents {
			t.Fatalf("decoded %d events", len(inputs))
		}
		for i, in := range inputs {
			ev, errs := validateEvent(in, &i, now)
			if len(errs) > 0 {
				continue
			}
			checkValidEvent(t, ev)
		}
	})
}

// checkValidEvent holds what the stores rely on for an event validation
// let through: the same verdict on SQLite and PostgreSQL.
func checkValidEvent(t *testing.T, ev storage.NewEvent) {
	t.Helper()
	if !typePattern.MatchString(ev.Type) || len(ev.Type) > maxTypeLen {
		t.Fatalf("type %q passed", ev.Type)
	}
	if ev.Message == "" || !utf8.ValidString(ev.Message) || bytes.IndexByte([]byte(ev.Message), 0) >= 0 {
		t.Fatalf("message %q passed", ev.Message)
	}
	if ev.Details != nil {
		checkStorableDetails(t, ev.Details)
	}
}

// checkStorableDetails: a JSON object within the depth bound, whose numbers
// are finite doubles and whose strings are valid Unicode without NUL.
func checkStorableDetails(t *testing.T, d []byte) {
	t.Helper()
	if !json.Valid(d) {
		t.Fatalf("details %q passed but are not JSON", d)
	}
	dec := json.NewDecoder(bytes.NewReader(d))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("details %q: %v", d, err)
	}
	if _, ok := v.(map[string]any); !ok {
		t.Fatalf("details %q passed but are not an object", d)
	}
	if depth := jsonDepth(v); depth > maxDetailsDepth {
		t.Fatalf("details nested %d deep passed", depth)
	}
	walkJSON(v, func(x any) {
		switch x := x.(type) {
		case json.Number:
			f, err := x.Float64()
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				t.Fatalf("number %s passed", x)
			}
		case string:
			if !utf8.ValidString(x) || bytes.IndexByte([]byte(x), 0) >= 0 {
				t.Fatalf("string %q passed", x)
			}
		}
	})
}

func jsonDepth(v any) int {
	switch v := v.(type) {
	case map[string]any:
		d := 0
		for _, c := range v {
			d = max(d, jsonDepth(c))
		}
		return d + 1
	case []any:
		d := 0
		for _, c := range v {
			d = max(d, jsonDepth(c))
		}
		return d + 1
	}
	return 0
}

func walkJSON(v any, fn func(any)) {
	fn(v)
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			fn(k)
			walkJSON(c, fn)
		}
	case []any:
		for _, c := range v {
			walkJSON(c, fn)
		}
	}
}

func FuzzCheckDetails(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":[1,2,{"b":"c"}]}`, `{"a":1e999}`, `{"a":"\ud83d\ude00"}`,
		`{"a":"\udc00"}`, `{"a":1,"a":2}`, `{"a":-0.0e-400}`, `{"a":"\\u0000"}`, `{"a":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) || len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
			return // checkDetails is called on a JSON object only
		}
		if msg := checkDetails(raw); msg == "" {
			checkStorableDetails(t, raw)
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	k := deriveSessionKeys([]byte("fuzz secret"))
	f.Add(encodeCursor(k, storage.EventCursor{CreatedAt: time.Unix(1764151530, 123456789), ID: 42}))
	f.Add("")
	f.Add("AQ")
	f.Add("not-a-cursor!")
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := decodeCursor(k, s)
		if !ok {
			return
		}
		if c.ID <= 0 {
			t.Fatalf("cursor with id %d accepted", c.ID)
		}
		again, ok := decodeCursor(k, encodeCursor(k, c))
		if !ok || !again.CreatedAt.Equal(c.CreatedAt) || again.ID != c.ID {
			t.Fatalf("cursor %+v does not survive a round trip", c)
		}
		if _, ok := decodeCursor(deriveSessionKeys([]byte("another secret")), s); ok {
			t.Fatal("a cursor verified under another instance's secret")
		}
	})
}

func FuzzCursorRoundTrip(f *testing.F) {
	f.Add(int64(1764151530123456789), int64(1))
	f.Add(int64(-1), int64(math.MaxInt64))
	k := deriveSessionKeys([]byte("fuzz secret"))
	f.Fuzz(func(t *testing.T, ns, id int64) {
		c := storage.EventCursor{CreatedAt: time.Unix(0, ns).UTC(), ID: id}
		got, ok := decodeCursor(k, encodeCursor(k, c))
		if id <= 0 {
			if ok {
				t.Fatalf("cursor with id %d accepted", id)
			}
			return
		}
		if !ok || !got.CreatedAt.Equal(c.CreatedAt) || got.ID != id {
			t.Fatalf("round trip of %+v gave %+v, %v", c, got, ok)
		}
	})
}
