package handlers_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

func TestPageEscapesEventText(t *testing.T) {
	h := newSQLiteHarness(t)
	payload := `{"type":"user_registered","message":"<script>alert(1)</script>","user_email":"x@example.com","details":{"html":"<img src=x onerror=alert(2)>"}}`
	if status, body := h.postJSON(payload, asIngest); status != 201 {
		t.Fatalf("post: %d %s", status, body)
	}
	for _, path := range []string{"/", "/partials/events"} {
		status, hdr, body := h.do("GET", path, nil, "", asAdmin)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", path, status, hdr.Get("Content-Type"))
		}
		page := string(body)
		if strings.Contains(page, "<script>alert(1)") || strings.Contains(page, "<img src=x") {
			t.Fatalf("GET %s: event text reached the page unescaped", path)
		}
		if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Fatalf("GET %s: escaped message missing", path)
		}
		if !strings.Contains(hdr.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, hdr.Get("Content-Security-Policy"))
		}
	}
}

func TestPageShowsCardsAndPolls(t *testing.T) {
	h := newSQLiteHarness(t)
	_, _, body := h.do("GET", "/", nil, "", asAdmin)
	page := string(body)
	for _, want := range []string{`id="card-cpu"`, `id="card-memory"`, `card-disk`, `id="card-db-latency"`,
		`hx-get="/partials/cards"`, `hx-get="/partials/events?read=`, `data-poll-seconds="30"`, `hx-trigger="vitals:poll from:body"`, "No events yet."} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// SQLite has no connection figures: no grey card, one quiet line that
	// names it beside the unconfigured ones, with a how-to link.
	i := strings.Index(page, `id="quiet"`)
	if i < 0 || strings.Contains(page, `id="card-db-connections"`) {
		t.Fatalf("connections on SQLite are a card, not the quiet line")
	}
	if line := page[i:min(len(page), i+400)]; !strings.Contains(line, "Not applicable: Database connections") || !strings.Contains(line, "Redis latency") || !strings.Contains(line, `<a `) {
		t.Errorf("quiet line on SQLite: %s", line)
	}
	// The header, the title and the favicon carry the summary.
	if !strings.Contains(page, `id="summary"`) || !strings.Contains(page, `id="favicon" href="/static/favicon-`) || !regexp.MustCompile(`<title>[^<]+ · vitals</title>`).MatchString(page) {
		t.Errorf("no summary in the header, title or favicon")
	}
	if strings.Contains(page, "style=") || strings.Contains(page, "<script>") {
		t.Error("page has inline style or script, which the CSP forbids")
	}
	_, _, cards := h.do("GET", "/partials/cards", nil, "", asAdmin)
	if !strings.HasPrefix(strings.TrimSpace(string(cards)), `<section id="cards"`) {
		t.Errorf("cards fragment: %.200s", cards)
	}
}

func TestSystemMetricsShape(t *testing.T) {
	h := newSQLiteHarness(t)
	status, hdr, body := h.do("GET", "/api/v1/system/metrics", nil, "", asReader)
	if status != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", status, hdr.Get("Content-Type"))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"collected_at", "instance", "cpu", "memory", "disk", "database"} {
		if _, ok := m[k]; !ok {
			t.Errorf("snapshot lacks %q: %s", k, body)
		}
	}
	var db struct {
		Status      string   `json:"status"`
		Connections *int64   `json:"connections"`
		LatencyMS   *float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal(m["database"], &db); err != nil {
		t.Fatal(err)
	}
	if db.Status != "ok" || db.Connections != nil || db.LatencyMS == nil {
		t.Errorf("database on SQLite: %s", m["database"])
	}
}

// The middleware records what clients got: statuses set by the error
// handler count; static files, /health and the page do not (they are
// vitals' own traffic).
func TestLatencyMiddlewareRecords(t *testing.T) {
	w := probes.NewLatencyWindow()
	h := newHarnessWith(t, sqlitetest.Open(t, sqlite.Options{}), w)
	h.do("GET", "/health", nil, "", anon)
	h.do("GET", "/api/v1/events", nil, "", anon) // 401 from the error handler
	h.do("GET", "/api/v1/events?limit=0", nil, "", asReader)
	_, _, page := h.do("GET", "/", nil, "", asAdmin)
	i := strings.Index(string(page), "/static/app.")
	css := string(page[i:])
	h.do("GET", css[:strings.IndexByte(css, '"')], nil, "", anon)
	s := w.Summary()
	if s.Requests != 2 || s.Errors != 0 || s.P50 <= 0 {
		t.Fatalf("summary %+v, want the 2 API requests, no 5xx", s)
	}
}

// The api group times the API's clients, not the admin's open tab, the
// health checks, the scrapes or the sign-in's password hashing.
func TestAPILatencyLeavesOutOwnTraffic(t *testing.T) {
	lw := probes.NewLatencyWindow()
	h := newHarnessWith(t, sqlitetest.Open(t, sqlite.Options{}), lw)
	for _, path := range []string{"/", "/partials/cards", "/health", "/login"} {
		h.do("GET", path, nil, "", asAdmin)
	}
	if n := lw.Summary().Requests; n != 0 {
		t.Fatalf("own traffic counted: %d requests", n)
	}
	h.do("GET", "/api/v1/system/metrics", nil, "", asAdmin)
	if n := lw.Summary().Requests; n != 1 {
		t.Fatalf("an API request counted %d times, want 1", n)
	}
}
