package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/probes"
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
