package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/vitalsdev/vitals/storage"
)

// The export holds every event the filters keep, across the store's pages,
// newest first, in both formats and on both backends.
func TestExportEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.insertEvents(1050) // more than two of the export's pages
		anna := "Anna@Example.com"
		if _, err := h.store.InsertEvents(context.Background(), []storage.NewEvent{
			{Type: "user_registered", Message: "=HYPERLINK(\"http://evil\")", UserEmail: &anna},
			{Type: "user_approved", Message: "approved, \"quoted\"\nsecond line", UserEmail: &anna, Details: []byte(`{"by":"admin"}`)},
		}); err != nil {
			t.Fatal(err)
		}
		want := h.stored()

		status, hdr, body := h.do("GET", "/api/v1/events/export?format=jsonl", nil, "", asReader)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/jsonl") ||
			!strings.HasPrefix(hdr.Get("Content-Disposition"), "attachment; filename=\"vitals-events-") {
			t.Fatalf("jsonl: %d %v", status, hdr)
		}
		var got []storage.Event
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e storage.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("line %d: %v: %s", len(got)+1, err, sc.Bytes())
			}
			got = append(got, e)
		}
		if len(got) != len(want) {
			t.Fatalf("jsonl: %d events, the store has %d", len(got), len(want))
		}
		for i := range want {
			if got[i].ID != want[i].ID || got[i].Message != want[i].Message {
				t.Fatalf("jsonl line %d: id %d %q, want id %d %q", i+1, got[i].ID, got[i].Message, want[i].ID, want[i].Message)
			}
		}

		status, hdr, body = h.do("GET", "/api/v1/events/export?format=csv", nil, "", asAdmin)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
			t.Fatalf("csv: %d %v", status, hdr)
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("csv: %v", err)
		}
		if len(rows) != len(want)+1 || strings.Join(rows[0], ",") != "id,created_at,type,source,user_email,message,details" {
			t.Fatalf("csv: %d rows (header %q), want %d events", len(rows), rows[0], len(want))
		}
		for i, e := range want {
			if rows[i+1][0] != strconv.FormatInt(e.ID, 10) {
				t.Fatalf("csv row %d: id %s, want %d", i+1, rows[i+1][0], e.ID)
			}
		}
		if r := rows[1]; r[5] != "approved, \"quoted\"\nsecond line" || strings.ReplaceAll(r[6], " ", "") != `{"by":"admin"}` || r[4] != anna {
			t.Errorf("csv newest row: %q", r)
		}
		if r := rows[2]; r[5] != "'=HYPERLINK(\"http://evil\")" {
			t.Errorf("a formula is exported as text: %q", r[5])
		}

		// The list's filters: one person (ignoring case), and one type.
		_, _, body = h.do("GET", "/api/v1/events/export?format=jsonl&user_email=anna@example.COM", nil, "", asReader)
		if n := bytes.Count(body, []byte("\n")); n != 2 {
			t.Errorf("one person's export: %d lines\n%s", n, body)
		}
		_, _, body = h.do("GET", "/api/v1/events/export?format=csv&type=track_added", nil, "", asReader)
		rows, _ = csv.NewReader(bytes.NewReader(body)).ReadAll()
		for _, r := range rows[1:] {
			if r[2] != "track_added" {
				t.Fatalf("type filter let %q through", r[2])
			}
		}
		if len(rows) < 100 {
			t.Errorf("type filter: %d rows", len(rows))
		}
	})
}

func TestExportRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		for q, field := range map[string]string{
			"":                                "format",
			"format=xml":                      "format",
			"format=csv&limit=10":             "limit",
			"format=csv&cursor=abc":           "cursor",
			"format=jsonl&user_email=nobody":  "user_email",
			"format=jsonl&since=yesterday":    "since",
			"format=jsonl&type=Not-A-Type":    "type",
			"format=pdf&user_email=not-email": "user_email",
		} {
			status, hdr, body := h.do("GET", "/api/v1/events/export?"+q, nil, "", asReader)
			if status != 400 || hdr.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), `"field":"`+field+`"`) {
				t.Errorf("?%s: %d %s, want 400 naming %s", q, status, body, field)
			}
		}
		if status, _, _ := h.do("GET", "/api/v1/events/export?format=csv", nil, "", anon); status != 401 {
			t.Errorf("without credentials: %d, want 401", status)
		}
		if status, _, _ := h.do("GET", "/api/v1/events/export?format=csv", nil, "", asIngest); status != 403 {
			t.Errorf("with an ingest token: %d, want 403", status)
		}
	})
}

// GET /api/v1/events takes user_email too: one person's timeline.
func TestListOnePerson(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.insertEvents(30)
		status, _, body := h.do("GET", "/api/v1/events?user_email=USER003@example.com", nil, "", asReader)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		page := decode[struct{ Events []storage.Event }](t, body)
		if len(page.Events) != 1 || *page.Events[0].UserEmail != "user003@example.com" {
			t.Errorf("one person: %+v", page.Events)
		}
		if status, _, body := h.do("GET", "/api/v1/events?user_email=user003", nil, "", asReader); status != 400 {
			t.Errorf("a part of an address: %d %s, want 400", status, body)
		}
	})
}
