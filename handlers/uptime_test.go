package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/probes"
)

// The uptime fragment draws the strips of the configured sources from the
// stored history: the database, down for a quarter hour of the last two,
// has a down cell and its share; Redis, not configured, has no row; the
// page loads the fragment after itself rather than reading the store.
func TestUptimePartial(t *testing.T) {
	h := newSQLiteHarness(t)
	st, ok := h.store.(history.Store)
	if !ok {
		t.Fatal("the SQLite harness's store does not write history")
	}
	rec := history.NewRecorder(st, "", history.DefaultTiers()[0])
	now := time.Now()
	down := now.Add(-time.Hour).Truncate(15 * time.Minute)
	for at := now.Add(-2 * time.Hour); !at.After(now); at = at.Add(30 * time.Second) {
		db := probes.LevelOK
		if !at.Before(down) && at.Before(down.Add(15*time.Minute)) {
			db = probes.LevelDown
		}
		rec.Record(&probes.Snapshot{CollectedAt: at, Database: probes.Database{State: db},
			Redis: probes.Redis{State: probes.LevelNotConfigured}})
	}
	if err := rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	page := h.page("/")
	if !strings.Contains(page, `hx-get="/partials/uptime" hx-trigger="load, vitals:poll from:body"`) || strings.Contains(page, `class="strip"`) {
		t.Fatal("the page does not load the strips after itself")
	}
	frag := h.page("/partials/uptime")
	for _, want := range []string{"<h3>Database</h3>", `class="k-down"`, `class="k-ok"`, `class="k-unknown"`, "90 days · <b>", "24 hours · <b>", "no samples"} {
		if !strings.Contains(frag, want) {
			t.Errorf("uptime fragment lacks %q:\n%s", want, frag)
		}
	}
	if strings.Contains(frag, "<h3>Redis</h3>") {
		t.Error("Redis, not configured, has a strip")
	}
	// 30 of the 241 samples were down: the share is the rest.
	if !strings.Contains(frag, "87.55 % ok") {
		t.Errorf("uptime share missing (want 87.55 %% ok):\n%s", frag)
	}
	ru := h.pageLang("/partials/uptime", "ru")
	if !strings.Contains(ru, "<h3>База данных</h3>") || !strings.Contains(ru, "90 дней") {
		t.Error("the Russian fragment is not in Russian")
	}
}
