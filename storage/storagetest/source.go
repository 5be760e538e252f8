package storagetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vitalsdev/vitals/storage"
)

// vitalsEv is one of vitals' own events; i tells events apart.
func vitalsEv(i int) storage.NewEvent {
	return storage.NewEvent{Type: storage.TypeSignInFailed, Message: fmt.Sprintf("vitals %d", i), Source: storage.SourceVitals}
}

// bySource splits every stored event by source, newest first.
func bySource(t *testing.T, evs []storage.Event) (app, vitals []storage.Event) {
	t.Helper()
	for _, e := range evs {
		switch e.Source {
		case storage.SourceApp:
			app = append(app, e)
		case storage.SourceVitals:
			vitals = append(vitals, e)
		default:
			t.Fatalf("event %d has source %q", e.ID, e.Source)
		}
	}
	return app, vitals
}

// testSource: every event comes back with its source, the application's
// unless marked as vitals'; any other source is refused.
func testSource(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, 100)
	got := insert(t, ctx, s,
		ev("plain", 1),
		storage.NewEvent{Type: "explicit", Message: "m", Source: storage.SourceApp},
		vitalsEv(3),
		storage.NewEvent{Type: storage.TypeTokenCreated, Message: "keyed", Source: storage.SourceVitals, IdempotencyKey: "src-key"},
	)
	want := []string{storage.SourceApp, storage.SourceApp, storage.SourceVitals, storage.SourceVitals}
	for i, e := range got {
		if e.Source != want[i] {
			t.Errorf("InsertEvents answer %d source = %q, want %q", i, e.Source, want[i])
		}
	}
	listed := all(t, ctx, s)
	for _, e := range listed {
		i := slices.IndexFunc(got, func(g storage.Event) bool { return g.ID == e.ID })
		if i < 0 || e.Source != want[i] {
			t.Errorf("listed event %d (%s) source = %q", e.ID, e.Type, e.Source)
		}
	}
	dup := insert(t, ctx, s, storage.NewEvent{Type: storage.TypeTokenCreated, Message: "keyed", Source: storage.SourceVitals, IdempotencyKey: "src-key"})[0]
	if !dup.Duplicate || dup.Source != storage.SourceVitals {
		t.Errorf("duplicate = {dup %v, source %q}, want the stored vitals event", dup.Duplicate, dup.Source)
	}
	if _, err := s.InsertEvents(ctx, []storage.NewEvent{ev("ok", 5), {Type: "t", Message: "m", Source: "other"}}); err == nil {
		t.Error("InsertEvents accepted the source \"other\"")
	}
	if n := len(all(t, ctx, s)); n != len(listed) {
		t.Errorf("%d events after a rejected batch, want %d", n, len(listed))
	}
}

// testVitalsBudget: vitals' own events are kept by their own budget, so
// that however many of them arrive (a burst of failed sign-ins) none of the
// application's events is pruned, and the application's retention never
// prunes vitals' own.
func testVitalsBudget(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const keep = 10
	vkeep := storage.DefaultVitalsEventsKeep
	s := open(t, keep)
	appEvents := insertN(t, ctx, s, keep, keep)

	// A burst of vitals' own events, singles and batches, three times
	// their budget.
	var burst []storage.Event
	nv := 0
	for i := 0; len(burst) < 3*vkeep; i++ {
		size := 1
		if i%3 == 2 {
			size = 37
		}
		evs := make([]storage.NewEvent, size)
		for j := range evs {
			evs[j] = vitalsEv(len(burst) + j)
		}
		burst = append(burst, insert(t, ctx, s, evs...)...)
		nv = model(nv, size, vkeep)
		app, vitals := bySource(t, all(t, ctx, s))
		if len(vitals) != nv {
			t.Fatalf("after %d vitals events: %d stored, want %d", len(burst), len(vitals), nv)
		}
		if len(app) != keep {
			t.Fatalf("after %d vitals events: %d application events left, want all %d", len(burst), len(app), keep)
		}
	}
	app, vitals := bySource(t, all(t, ctx, s))
	wantApp := ids(appEvents)
	slices.Reverse(wantApp)
	if !slices.Equal(ids(app), wantApp) {
		t.Fatalf("application events after the burst %v, want %v", ids(app), wantApp)
	}
	wantVitals := ids(burst[len(burst)-len(vitals):])
	slices.Reverse(wantVitals)
	if !slices.Equal(ids(vitals), wantVitals) {
		t.Fatalf("vitals events kept are not the newest %d", len(vitals))
	}

	// The application's events crossing their threshold prune only
	// theirs.
	n := keep
	for i := range 3 * keep {
		insert(t, ctx, s, ev("app", i))
		n = model(n, 1, keep)
		app, v := bySource(t, all(t, ctx, s))
		if len(app) != n || len(v) != nv {
			t.Fatalf("app insert %d: %d app and %d vitals events, want %d and %d", i+1, len(app), len(v), n, nv)
		}
	}
}

// testSourcesConcurrent: writers of both sources at once, some erasing; each
// source keeps its newest and its count stays exact.
func testSourcesConcurrent(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const keep, workers, each = 10, 8, 40
	vkeep := storage.DefaultVitalsEventsKeep
	s := open(t, keep)
	inserted := concurrently(t, workers, func(w int) ([]storage.Event, error) {
		var out []storage.Event
		for i := range each {
			evs := []storage.NewEvent{ev(fmt.Sprintf("w%d", w), i)}
			if w%2 == 0 {
				// Vitals' own, mostly in batches, so that they cross
				// their threshold too.
				evs = []storage.NewEvent{vitalsEv(i), vitalsEv(1000 + i)}
				evs[1].UserEmail = ptr(fmt.Sprintf("v%d@example.com", i%3))
			}
			got, err := s.InsertEvents(ctx, evs)
			if err != nil {
				return out, fmt.Errorf("worker %d insert %d: %w", w, i, err)
			}
			out = append(out, got...)
			if w == 1 && i%10 == 9 {
				if _, err := s.DeleteEventsByEmail(ctx, fmt.Sprintf("V%d@example.com", i%3)); err != nil {
					return out, err
				}
			}
		}
		return out, nil
	})
	app, vitals := bySource(t, all(t, ctx, s))
	if len(app) < keep || len(app) > storage.PruneThreshold(keep) {
		t.Fatalf("%d application events stored, want %d..%d", len(app), keep, storage.PruneThreshold(keep))
	}
	if len(vitals) > storage.PruneThreshold(vkeep) {
		t.Fatalf("%d vitals events stored, more than %d", len(vitals), storage.PruneThreshold(vkeep))
	}
	// None of the newest keep application events was deleted.
	slices.SortFunc(inserted, newer)
	insApp, _ := bySource(t, inserted)
	stored := make(map[int64]bool, len(app))
	for _, e := range app {
		stored[e.ID] = true
	}
	for _, e := range insApp[:keep] {
		if !stored[e.ID] {
			t.Fatalf("application event %d, among the newest %d, was deleted", e.ID, keep)
		}
	}
	// Both counts are exact: sequential inserts of each source follow
	// the model from what is stored.
	na, nv := len(app), len(vitals)
	last := 2*storage.PruneThreshold(vkeep) - 1
	for i := range last + 1 {
		if i%2 == 0 {
			insert(t, ctx, s, ev("after", i))
			na = model(na, 1, keep)
		} else {
			insert(t, ctx, s, vitalsEv(i))
			nv = model(nv, 1, vkeep)
		}
		if i%25 != 0 && i != last {
			continue
		}
		a, v := bySource(t, all(t, ctx, s))
		if len(a) != na || len(v) != nv {
			t.Fatalf("sequential insert %d: %d app and %d vitals stored, want %d and %d", i+1, len(a), len(v), na, nv)
		}
	}
}
