package history

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// TestFrozenStepsMatchTheStore runs ten days of two instances sampling on a
// fake clock with the roller every hour, and at every sixth hour asks every
// range of a Reader that keeps final steps (frozen.go) and of one that reads
// everything from the store: the answers must be equal, and the first must
// have taken steps from its cache (else the test proves nothing).
func TestFrozenStepsMatchTheStore(t *testing.T) {
	stores := map[string]func(t *testing.T) Store{
		"sqlite":   func(t *testing.T) Store { return sqlitetest.Open(t, sqlite.Options{}) },
		"postgres": func(t *testing.T) Store { return postgrestest.Open(t, postgres.Options{}) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testFrozen(t, open(t)) })
	}
}

func testFrozen(t *testing.T, st Store) {
	ctx := t.Context()
	const days = 10
	series := []string{"s0", "s1"}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	tiers := DefaultTiers()
	recs := []*Recorder{NewRecorder(st, "i0", tiers[0]), NewRecorder(st, "i1", tiers[0])}
	roller := NewRoller(st, "i0", tiers, 90*time.Second, time.Minute)
	cached := NewReader(st)
	plain := &Reader{store: st, tiers: tiers}
	for tick := range days * 24 * 120 {
		now := start.Add(time.Duration(tick) * 30 * time.Second)
		for i, r := range recs {
			// Instance 1 is stopped for the third day: a gap in the
			// final steps as well.
			if i == 1 && tick/2880 == 2 {
				continue
			}
			for s, name := range series {
				r.Add(now, name, value(i, s, tick))
			}
		}
		if tick%120 != 119 {
			continue
		}
		for _, r := range recs {
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := roller.Run(ctx, now); err != nil || !ok {
			t.Fatalf("roll up at %v: %v, %v", now, ok, err)
		}
		if tick%720 != 719 {
			continue
		}
		for _, inst := range []string{"i0", "i1"} {
			for _, rg := range Ranges() {
				// Twice: the first fills the cache, the second reads it.
				for range 2 {
					got, err := cached.Query(ctx, inst, series, rg, now)
					if err != nil {
						t.Fatal(err)
					}
					want, err := plain.Query(ctx, inst, series, rg, now)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s %s at %v: the cached answer differs from the store's", inst, rg.Name, now)
					}
				}
			}
		}
	}
	if cached.frozen.hits == 0 {
		t.Fatal("no step came from the frozen cache")
	}
	t.Logf("%d steps served from the cache, %d entries", cached.frozen.hits, len(cached.frozen.entries))
}

func TestFrozenCacheIsBounded(t *testing.T) {
	f := newFrozenCache()
	clock := time.Unix(1e9, 0)
	f.now = func() time.Time { return clock }
	pts := make([]Point, 300)
	for i := range frozenEntries + 10 {
		clock = clock.Add(time.Second)
		f.put(frozenKey{instance: "i", series: fmt.Sprint(i), tier: 2, stepMS: 1000}, 0, pts)
	}
	if len(f.entries) != frozenEntries {
		t.Fatalf("%d entries, want %d", len(f.entries), frozenEntries)
	}
	if _, ok := f.entries[frozenKey{instance: "i", series: "0", tier: 2, stepMS: 1000}]; ok {
		t.Error("the least recently used entry was kept")
	}
	dst := make([]Point, 300)
	k := frozenKey{instance: "i", series: fmt.Sprint(frozenEntries + 9), tier: 2, stepMS: 1000}
	if got := f.get(k, 5000, dst); got != 300000 {
		t.Errorf("get from a later start filled up to %d, want 300000", got)
	}
	clock = clock.Add(frozenTTL + time.Second)
	if got := f.get(k, 0, dst); got != 0 {
		t.Errorf("an expired entry served steps up to %d", got)
	}
}
