package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// asAdminHX is the admin's browser asking with htmx, as the page does.
func asAdminHX(r *http.Request) {
	asAdmin(r)
	r.Header.Set("HX-Request", "true")
}

// selfID is the id of the instance serving h, as the history API names
// it.
func selfID(t *testing.T, h *harness) string {
	t.Helper()
	return getHistory(t, h, "series=cpu.percent&range=1h").Instance
}

// TestChartRefusesBadQueries: a bad parameter is a 400 naming it, an
// instance the fleet does not list a 404, on both backends; only the
// admin's session opens it.
func TestChartRefusesBadQueries(t *testing.T) {
	cases := []struct{ query, field string }{
		{"range=1h", "series"},
		{"series=cpu.nope&range=1h", "series"},
		{"series=cpu.percent,memory.percent&range=1h", "series"},
		{"series=cpu.percent", "range"},
		{"series=cpu.percent&range=2d", "range"},
		{"series=cpu.percent&range=1h&types=Bad%20Type", "types"},
		{"series=cpu.percent&range=1h&instance=a%0Ab", "instance"},
	}
	forEachHistoryStore(t, func(t *testing.T, _ storage.Store, h *harness) {
		h = h.with(t)
		for _, c := range cases {
			status, hdr, body := h.do(http.MethodGet, "/partials/chart?"+c.query, nil, "", asAdminHX)
			if status != http.StatusBadRequest || hdr.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s: %d %s %s", c.query, status, hdr.Get("Content-Type"), body)
			}
			var p struct {
				Errors []struct {
					Field string `json:"field"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(body, &p); err != nil || len(p.Errors) == 0 || p.Errors[0].Field != c.field {
				t.Fatalf("%s: %s, want the field %s named", c.query, body, c.field)
			}
		}
		status, _, body := h.do(http.MethodGet, "/partials/chart?series=cpu.percent&range=1h&instance=nobody-here", nil, "", asAdminHX)
		if status != http.StatusNotFound || !strings.Contains(string(body), "no instance") {
			t.Fatalf("unknown instance: %d %s", status, body)
		}
		if status, _, _ := h.do(http.MethodGet, "/partials/chart?series=cpu.percent&range=1h", nil, "", asReader); status != http.StatusForbidden {
			t.Fatalf("a read token opened the chart: %d", status)
		}
		if status, _, _ := h.do(http.MethodGet, "/partials/chart?series=cpu.percent&range=1h", nil, "", anon); status != http.StatusUnauthorized {
			t.Fatalf("no credential: %d", status)
		}
	})
}

var (
	linePath = regexp.MustCompile(`class="line" d="([^"]*)"`)
	markers  = regexp.MustCompile(`<g class="mk">`)
)

// TestChartDrawsTheHistory: the chart of a seeded quarter hour with a gap
// draws two runs, the card's limits, the range's application events as
// markers (vitals' own only when chosen), a band for a range of several
// samples a step, and another instance's history when it names one.
func TestChartDrawsTheHistory(t *testing.T) {
	forEachHistoryStore(t, func(t *testing.T, st storage.Store, h *harness) {
		h = h.with(t)
		self := selfID(t, h)
		seedHistory(t, st, self)
		now := time.Now()
		at := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
		if _, err := st.InsertEvents(t.Context(), []storage.NewEvent{
			{Type: "stream_started", Message: "m", OccurredAt: at(5 * time.Minute)},
			{Type: "track_added", Message: "m", OccurredAt: at(3 * time.Hour)},
		}); err != nil {
			t.Fatal(err)
		}
		status, hdr, body := h.do(http.MethodGet, "/partials/chart?series=cpu.percent&range=1h", nil, "", asAdminHX)
		page := string(body)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || strings.Contains(page, "<html") {
			t.Fatalf("1h: %d %s %.200s", status, hdr.Get("Content-Type"), body)
		}
		m := linePath.FindStringSubmatch(page)
		if m == nil || strings.Count(m[1], "M") != 2 {
			t.Fatalf("1h line, want two runs around the gap: %v", m)
		}
		if strings.Contains(page, `class="band"`) || !strings.Contains(page, `class="th-warn"`) || !strings.Contains(page, `class="th-crit"`) {
			t.Fatal("1h: a band, or no limit lines")
		}
		if n := len(markers.FindAllString(page, -1)); n != 1 {
			t.Fatalf("1h: %d markers, want the one event of the hour", n)
		}
		// A row per sampled step (the hour's 26 samples), one per run of
		// steps without: before, in the middle and maybe the current step.
		rows, gaps := strings.Count(page, "<tr><th scope=\"row\">"), strings.Count(page, `class="gap"`)
		if rows-gaps != 26 || gaps < 2 || gaps > 3 {
			t.Fatalf("1h: the table has %d rows, %d of them gaps", rows, gaps)
		}
		// 6h reaches the older event; a chip limits the markers.
		_, _, body = h.do(http.MethodGet, "/partials/chart?series=cpu.percent&range=6h", nil, "", asAdminHX)
		if n := len(markers.FindAllString(string(body), -1)); n != 2 || !strings.Contains(string(body), `class="band"`) {
			t.Fatalf("6h: %d markers, band %v", n, strings.Contains(string(body), `class="band"`))
		}
		_, _, body = h.do(http.MethodGet, "/partials/chart?series=cpu.percent&range=6h&types=track_added", nil, "", asAdminHX)
		if n := len(markers.FindAllString(string(body), -1)); n != 1 || !strings.Contains(string(body), `value="track_added" checked`) {
			t.Fatalf("6h of track_added: %d markers", n)
		}
		// Every range answers, each at its step.
		for _, r := range history.Ranges() {
			status, _, body := h.do(http.MethodGet, "/partials/chart?series=disk%5B%2F%5D.percent&range="+r.Name, nil, "", asAdminHX)
			if status != 200 || strings.Count(string(body), `<rect class="hit"`) != r.Points() {
				t.Fatalf("%s: %d, %d steps, want %d", r.Name, status, strings.Count(string(body), `<rect class="hit"`), r.Points())
			}
		}
		// Its close button empties the place.
		_, _, body = h.do(http.MethodGet, "/partials/chart?close=1", nil, "", asAdminHX)
		if string(body) != `<section id="chart" class="chart" hidden></section>` {
			t.Fatalf("closed: %s", body)
		}
		// Without htmx, a page of its own.
		status, _, body = h.do(http.MethodGet, "/partials/chart?series=cpu.percent&range=1h", nil, "", asAdmin)
		if status != 200 || !strings.Contains(string(body), "<!doctype html>") || !strings.Contains(string(body), `id="chart"`) {
			t.Fatalf("full page: %d %.300s", status, body)
		}
		// Another instance of the fleet: its history, its id kept in the
		// range links.
		seedHistory(t, st, "other-1")
		_, _, body = h.do(http.MethodGet, "/partials/chart?series=cpu.percent&range=1h&instance=other-1", nil, "", asAdminHX)
		if !strings.Contains(string(body), "instance=other-1") || linePath.FindString(string(body)) == "" {
			t.Fatalf("other instance: %.400s", body)
		}
	})
}

// TestCardsCarrySparklines: a card whose series has samples in the last
// hour has a sparkline linking to its chart; a card without has none.
func TestCardsCarrySparklines(t *testing.T) {
	forEachHistoryStore(t, func(t *testing.T, st storage.Store, h *harness) {
		h = h.with(t)
		self := selfID(t, h)
		_, _, body := h.do(http.MethodGet, "/partials/cards", nil, "", asAdminHX)
		if strings.Contains(string(body), `class="sparkl"`) {
			t.Fatal("a sparkline without history")
		}
		seedHistory(t, st, self)
		// The cards' read of a moment ago is kept a few seconds; a new
		// harness is a new server.
		h2 := newHarness(t, st.(harnessStore))
		_, _, body = h2.do(http.MethodGet, "/partials/cards", nil, "", asAdminHX)
		cards := string(body)
		if !strings.Contains(cards, `href="/partials/chart?range=1h&amp;series=cpu.percent"`) {
			t.Fatalf("no CPU sparkline: %s", cards)
		}
		if strings.Contains(cards, "series=memory.percent") {
			t.Fatal("a memory sparkline without memory history")
		}
		m := regexp.MustCompile(`<svg class="spark"[^>]*><path d="([^"]*)"`).FindStringSubmatch(cards)
		if m == nil || strings.Count(m[1], "M") != 2 {
			t.Fatalf("the sparkline does not break at the gap: %v", m)
		}
		if st.Backend() == "postgres" {
			_, _, body = h2.do(http.MethodGet, "/partials/fleet", nil, "", asAdminHX)
			if !strings.Contains(string(body), `<svg class="spark"`) {
				t.Fatalf("no fleet sparkline: %s", body)
			}
		}
	})
}

// hangingHistory is a store whose history reads hang until their context
// ends, as a frozen database's do; it counts them.
type hangingHistory struct {
	harnessStore
	reads atomic.Int32
}

func (s *hangingHistory) HistoryChunks(ctx context.Context, _ storage.HistoryQuery) ([]storage.HistoryChunk, error) {
	s.reads.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestCardsOutliveAHangingHistory: the cards answer without sparklines
// when the history read hangs, the read ended by its own bound before the
// request's deadline, and the next poll within the sparklines' TTL does
// not wait on the store again.
func TestCardsOutliveAHangingHistory(t *testing.T) {
	st := &hangingHistory{harnessStore: sqlitetest.Open(t, sqlite.Options{})}
	h := newHarnessConfig(t, st, func(c *handlers.Config) { c.RequestTimeout = time.Minute })
	for i := range 2 {
		status, _, body := h.do(http.MethodGet, "/partials/cards", nil, "", asAdminHX)
		if status != 200 || !strings.Contains(string(body), `id="card-cpu"`) || strings.Contains(string(body), `class="sparkl"`) {
			t.Fatalf("poll %d: %d %.300s", i, status, body)
		}
	}
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("%d history reads for two polls, want 1", n)
	}
}
