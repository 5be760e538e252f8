package handlers_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
)

// On PostgreSQL the page lists the fleet after itself: every instance
// with its state (stale after 3 silent intervals); a row's link shows that
// instance's cards from its stored snapshot, polled with the instance kept,
// and says whose they are; an unknown or malformed instance is a 4xx.
func TestFleetOnThePage(t *testing.T) {
	st := postgrestest.Open(t, postgres.Options{})
	h := newHarness(t, st)
	now := time.Now()
	pct := 97.5
	busy, err := json.Marshal(probes.Snapshot{CollectedAt: now.Add(-2 * time.Second), Instance: probes.Instance{ID: "m-busy", Region: "ams"},
		CPU: probes.CPU{Status: probes.StatusOK, State: probes.LevelCritical, Percent: &pct}})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []storage.Instance{
		{ID: "m-busy", Region: "ams", Version: "1.2.3", StartedMS: now.Add(-time.Hour).UnixMilli(), SeenMS: now.UnixMilli(), IntervalMS: 30_000, Snapshot: busy},
		{ID: "m-gone", Region: "fra", Version: "1.2.2", StartedMS: now.Add(-2 * time.Hour).UnixMilli(), SeenMS: now.Add(-10 * time.Minute).UnixMilli(), IntervalMS: 30_000, Snapshot: busy},
	} {
		if err := st.UpsertInstance(t.Context(), in); err != nil {
			t.Fatal(err)
		}
	}
	page := h.page("/")
	if !strings.Contains(page, `hx-get="/partials/fleet" hx-trigger="load, vitals:poll from:body"`) {
		t.Fatal("the page does not load the fleet on PostgreSQL")
	}
	fleet := h.page("/partials/fleet")
	for _, want := range []string{`<tr class="s-critical"><th scope="row"><a href="/?instance=m-busy">m-busy</a>`,
		`<tr class="s-stale"><th scope="row"><a href="/?instance=m-gone">m-gone</a>`, "<td>ams</td><td>1.2.3</td>"} {
		if !strings.Contains(fleet, want) {
			t.Errorf("fleet lacks %q:\n%s", want, fleet)
		}
	}

	busyPage := h.page("/?instance=m-busy")
	for _, want := range []string{"Showing instance m-busy as it last reported", `<b>m-busy</b> · ams`, "97.5",
		`hx-get="/partials/cards?instance=m-busy"`, `hx-get="/partials/uptime?instance=m-busy"`, `hx-get="/partials/fleet?instance=m-busy"`} {
		if !strings.Contains(busyPage, want) {
			t.Errorf("the page of m-busy lacks %q", want)
		}
	}
	if strings.Contains(busyPage, "silent for 3") {
		t.Error("m-busy, fresh, is called stale")
	}
	if cards := h.page("/partials/cards?instance=m-busy"); !strings.Contains(cards, "97.5") || !strings.Contains(cards, `/partials/cards?instance=m-busy`) {
		t.Error("the polled cards do not keep the instance shown")
	}
	if fl := h.page("/partials/fleet?instance=m-busy"); !strings.Contains(fl, `<b aria-current="page">m-busy</b>`) {
		t.Error("the fleet does not mark the instance shown")
	}
	if gone := h.page("/?instance=m-gone"); !strings.Contains(gone, "silent for 3 of its intervals") {
		t.Error("the stale instance's page does not say it is stale")
	}
	for path, want := range map[string]int{"/?instance=m-nobody": 404, "/partials/cards?instance=m-nobody": 404, "/?instance=%01": 400} {
		if status, _, body := h.do("GET", path, nil, "", asAdmin); status != want {
			t.Errorf("%s: %d %s, want %d", path, status, body, want)
		}
	}
	// SQLite has one instance: no fleet list.
	if strings.Contains(newSQLiteHarness(t).page("/"), `id="fleet"`) {
		t.Error("the SQLite page lists a fleet")
	}
}
