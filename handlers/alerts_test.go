package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

func TestListAlerts(t *testing.T) {
	store := sqlitetest.Open(t, sqlite.Options{})
	rules, err := alerts.Parse("cpu_high: cpu.percent > 90")
	if err != nil {
		t.Fatal(err)
	}
	e := alerts.New(alerts.Config{Rules: rules, Store: store})
	p := 97.0
	e.Tick(context.Background(), &probes.Snapshot{CPU: probes.CPU{Status: probes.StatusOK, Percent: &p}})
	h := newHarnessConfig(t, store, func(c *handlers.Config) { c.AlertRules = e })
	status, _, body := h.do("GET", "/api/v1/alerts", nil, "", asReader)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	doc := decode[struct {
		Rules []struct {
			Name   string
			Alerts []struct{ Series, Phase string }
		}
	}](t, body)
	var cpu, others int
	for _, r := range doc.Rules {
		if r.Name == "cpu_high" {
			cpu++
			if len(r.Alerts) != 1 || r.Alerts[0].Phase != "firing" || r.Alerts[0].Series != "cpu.percent" {
				t.Errorf("cpu_high: %+v", r.Alerts)
			}
		} else if len(r.Alerts) == 0 {
			others++
		}
	}
	if cpu != 1 || others != len(doc.Rules)-1 {
		t.Errorf("rules: %s", body)
	}
	// The page lists the firing alert above the cards.
	status, _, body = h.do("GET", "/partials/cards", nil, "", asAdmin)
	if status != 200 || !strings.Contains(string(body), `id="alerts"`) || !strings.Contains(string(body), "<b>cpu_high</b> <code>cpu.percent</code> firing") {
		t.Errorf("cards: %d %s", status, body)
	}
}

// The alerts panel lists every rule with its state and silence buttons; a
// silence from it (admin, CSRF) shows in GET /api/v1/alerts and the feed,
// and the firing alert's rule is named beside the header's summary.
func TestSilenceFromThePage(t *testing.T) {
	store := sqlitetest.Open(t, sqlite.Options{})
	rules, err := alerts.Parse("cpu_high: cpu.percent > 90")
	if err != nil {
		t.Fatal(err)
	}
	e := alerts.New(alerts.Config{Rules: rules, Store: store})
	p := 97.0
	e.Tick(context.Background(), &probes.Snapshot{CPU: probes.CPU{Status: probes.StatusOK, Percent: &p}})
	h := newHarnessConfig(t, store, func(c *handlers.Config) { c.AlertRules = e })

	status, _, body := h.do("GET", "/", nil, "", asAdmin)
	page := string(body)
	if status != 200 || !strings.Contains(page, `id="rules"`) || !strings.Contains(page, `id="rule-db_down"`) ||
		!strings.Contains(page, `hx-post="/api/v1/alerts/silence?rule=cpu_high&amp;for=4h"`) {
		t.Fatalf("the page has no alerts panel with every rule and its buttons: %d", status)
	}
	if !strings.Contains(page, `<p id="alertsum" class="alertsum" hx-swap-oob="true" role="status">Firing: <b>cpu_high</b></p>`) {
		t.Errorf("the header does not name the firing rule")
	}
	if strings.Contains(page, "style=") || strings.Contains(page, "<script>") {
		t.Error("inline style or script on the page")
	}
	// The polled cards carry it out of band, so the header follows.
	if _, _, body := h.do("GET", "/partials/cards", nil, "", asAdmin); !strings.Contains(string(body), `<p id="alertsum" class="alertsum" hx-swap-oob="true" role="status">Firing: <b>cpu_high</b></p>`) {
		t.Error("the polled cards do not update the header's firing rules")
	}

	cookie := handlers.SessionCookieForTest([]byte(sessionKey), time.Hour)
	csrf := handlers.CSRFTokenForTest([]byte(sessionKey), cookie)
	withCSRF := func(r *http.Request) {
		session(cookie)(r)
		r.Header.Set("X-CSRF-Token", csrf)
		r.Header.Set("HX-Request", "true")
	}
	if status, _, _ := h.do("POST", "/api/v1/alerts/silence?rule=cpu_high&for=4h", nil, "", asAdmin); status != 403 {
		t.Errorf("a silence without the CSRF token answered %d, want 403", status)
	}
	status, _, body = h.do("POST", "/api/v1/alerts/silence?rule=cpu_high&for=4h", nil, "", withCSRF)
	if status != 200 || !strings.Contains(string(body), "silenced until") {
		t.Fatalf("silence: %d %s", status, body)
	}
	_, _, body = h.do("GET", "/api/v1/alerts", nil, "", asReader)
	doc := decode[struct {
		Rules []struct {
			Name          string
			SilencedUntil *time.Time `json:"silenced_until"`
			SilencedBy    string     `json:"silenced_by"`
		}
	}](t, body)
	for _, r := range doc.Rules {
		silenced := r.SilencedUntil != nil
		if silenced != (r.Name == "cpu_high") {
			t.Errorf("%s: silenced_until %v", r.Name, r.SilencedUntil)
		}
		if silenced && (r.SilencedBy != "admin" || time.Until(*r.SilencedUntil) < 3*time.Hour+59*time.Minute) {
			t.Errorf("cpu_high silenced until %v by %q, want 4 h by admin", r.SilencedUntil, r.SilencedBy)
		}
	}
	evs, _ := store.ListEvents(context.Background(), storage.EventFilter{Types: []string{alerts.TypeSilenced}})
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "cpu_high silenced by admin until") {
		t.Errorf("the feed's silence events: %+v", evs)
	}
	_, _, body = h.do("GET", "/", nil, "", asAdmin)
	if !strings.Contains(string(body), `<span class="silenced">silenced until`) || !strings.Contains(string(body), "for=0") {
		t.Error("the panel does not show the silence and its unsilence button")
	}
	if status, _, _ := h.do("POST", "/api/v1/alerts/silence?rule=cpu_high&for=0", nil, "", withCSRF); status != 200 {
		t.Errorf("unsilence: %d", status)
	}
	if len(e.Silences()) != 0 {
		t.Errorf("still silenced: %v", e.Silences())
	}
}
