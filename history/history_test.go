package history

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// value is a deterministic figure of (instance, series, tick) rounded as
// the probes round (two places), so the test can recompute any bucket.
func value(inst, series, tick int) float64 {
	x := float64(tick)/40 + float64(inst*7+series*3)
	v := 50 + 30*math.Sin(x) + float64((tick*7919+series*104729+inst*15485863)%1000)/100
	return math.Round(v*100) / 100
}

// TestRollupsMatchRaw simulates 3 instances sampling 4 series every 30 s
// for three days on a fake clock (raw written an hour at a time, the
// roller run every 5 minutes), and checks every stored 5-minute and
// 1-hour bucket's min, mean, max and count against the raw samples, and
// that raw samples older than 48 h are pruned once rolled up.
func TestRollupsMatchRaw(t *testing.T) {
	stores := map[string]func(t *testing.T) Store{
		"sqlite":   func(t *testing.T) Store { return sqlitetest.Open(t, sqlite.Options{}) },
		"postgres": func(t *testing.T) Store { return postgrestest.Open(t, postgres.Options{}) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testRollups(t, open(t)) })
	}
}

func testRollups(t *testing.T, st Store) {
	ctx := t.Context()
	const instances, series, days = 3, 4, 3
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tiers := DefaultTiers()
	recs := make([]*Recorder, instances)
	for i := range recs {
		recs[i] = NewRecorder(st, fmt.Sprintf("i%d", i), tiers[0])
	}
	roller := NewRoller(st, "i0", tiers, 90*time.Second, time.Minute)
	ticks := days * 24 * 120
	now := start
	for tick := range ticks {
		now = start.Add(time.Duration(tick) * 30 * time.Second)
		for i, r := range recs {
			// A gap: instance 2 stopped for the 5th hour.
			if i == 2 && tick/120 == 5 {
				continue
			}
			for s := range series {
				r.Add(now, fmt.Sprintf("s%d", s), value(i, s, tick))
			}
		}
		if tick%120 == 119 {
			for _, r := range recs {
				if err := r.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Right after the batch: the grace covers samples written each
		// tick, as the Recorder does in production, not an hour's batch.
		if tick%120 == 119 {
			if ok, err := roller.Run(ctx, now); err != nil || !ok {
				t.Fatalf("roll up at %v: %v, %v", now, ok, err)
			}
		}
	}
	check := func(tier Tier) int {
		chunks, err := st.HistoryChunks(ctx, storage.HistoryQuery{Tier: tier.ID, FromMS: 0, ToMS: math.MaxInt64})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range chunks {
			var inst, s int
			_, _ = fmt.Sscanf(c.Instance, "i%d", &inst)
			_, _ = fmt.Sscanf(c.Series, "s%d", &s)
			pts, err := Decode(c.Data)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pts {
				n++
				want := Point{T: p.T, Min: math.Inf(1), Max: math.Inf(-1)}
				first := int(p.T-start.UnixMilli()) / 30000
				for k := first; k < first+int(tier.Step/(30*time.Second)); k++ {
					if inst == 2 && k/120 == 5 {
						continue
					}
					v := value(inst, s, k)
					want.Min, want.Max = min(want.Min, v), max(want.Max, v)
					want.Sum += v
					want.Count++
				}
				if p.Count != want.Count || p.Min != want.Min || p.Max != want.Max || math.Abs(p.Mean()-want.Mean()) > 1e-9 {
					t.Fatalf("tier %d %s %s bucket %d: got %+v, want %+v", tier.ID, c.Instance, c.Series, p.T, p, want)
				}
			}
		}
		return n
	}
	// Buckets complete by the end, less the grace: every 5-minute one but
	// the last, every hour but the last; instance 2 has none for hour 5.
	want5 := instances*series*(ticks/10-1) - series*12
	if n := check(tiers[1]); n != want5 {
		t.Errorf("5-minute buckets: %d, want %d", n, want5)
	}
	want1h := instances*series*(days*24-1) - series
	if n := check(tiers[2]); n != want1h {
		t.Errorf("1-hour buckets: %d, want %d", n, want1h)
	}
	raw, err := st.HistoryChunks(ctx, storage.HistoryQuery{Tier: 0, FromMS: 0, ToMS: now.Add(-49 * time.Hour).UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 0 {
		t.Errorf("%d raw chunks older than 48 h left", len(raw))
	}
}

// TestRecorderKeepsOneSampleOfASnapshot: the history loop may hand the
// Recorder the same snapshot twice (the sampler has not ticked since, as
// after SIGSTOP and SIGCONT); it is stored once.
func TestRecorderKeepsOneSampleOfASnapshot(t *testing.T) {
	st := sqlitetest.Open(t, sqlite.Options{})
	rec := NewRecorder(st, "i0", DefaultTiers()[0])
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{0, 30 * time.Second, 30 * time.Second, time.Minute} {
		rec.Add(at.Add(d), "cpu.percent", 1)
		if err := rec.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := st.HistoryChunks(t.Context(), storage.HistoryQuery{Tier: 0, FromMS: 0, ToMS: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cs {
		n += c.Points
	}
	if len(cs) != 1 || n != 3 {
		t.Fatalf("%d chunks, %d points; want 1 chunk of 3", len(cs), n)
	}
}
