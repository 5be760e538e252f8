package history

import (
	"database/sql"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// EnvYear, set to 1, makes TestSimulatedYear simulate a whole year of the
// default figures plus 20 application routes (150 series) for each of 3
// instances; unset it simulates 9 days of 8 series, which every run can
// afford. VITALS_HISTORY_SIM_DAYS and VITALS_HISTORY_SIM_SERIES override
// either.
const EnvYear = "VITALS_HISTORY_YEAR"

// yearValue is a deterministic figure of (instance, series, tick) shaped
// like the probes' (two decimals): totals and limits that never change,
// counters that only grow, percentages that drift with noise.
func yearValue(inst, s, tick int) float64 {
	switch s % 5 {
	case 0:
		return float64(1<<30 + inst*4096)
	case 1:
		return float64(tick / 7)
	}
	h := uint32(tick)*2654435761 ^ uint32(s*40503+inst*9973)
	h ^= h >> 13
	return float64(3000+((tick/120+s*7)%4000)+int(h%200)) / 100
}

// stopped reports whether instance inst took no sample at tick: instance
// 2 stops for an hour every 100 hours, instance 1 for 7 minutes a day
// (partial buckets).
func stopped(inst, tick int) bool {
	switch inst {
	case 2:
		return tick/120%100 == 5
	case 1:
		return tick%2880 >= 1000 && tick%2880 < 1014
	}
	return false
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

// TestSimulatedYear runs 3 instances on a fake clock, each sampling every
// 30 s and writing an hour at a time, the Roller every 6 hours; it checks
// every 5-minute and 1-hour bucket it rolled up (each day's 5-minute
// buckets before they age out, the rest at the end) against the raw
// samples (count, min, max exact; mean within 1e-9), that no bucket is
// there twice, and measures the tables' real bytes per instance.
func TestSimulatedYear(t *testing.T) {
	full := os.Getenv(EnvYear) == "1"
	days, series := 9, 8
	if full {
		if raceEnabled {
			t.Skip("the simulated year is too slow under -race; the 9-day simulation runs there")
		}
		days, series = 365, 150
	}
	days = envInt(t, "VITALS_HISTORY_SIM_DAYS", days)
	series = envInt(t, "VITALS_HISTORY_SIM_SERIES", series)
	t.Run("sqlite", func(t *testing.T) {
		st := sqlitetest.Open(t, sqlite.Options{})
		simulate(t, st, days, series, func() (int64, string) {
			// dbstat counts the table's and index's pages; the file,
			// vacuumed, is what the disk holds for everything.
			n, err := st.HistoryBytes(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", st.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(t.Context(), "VACUUM"); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(st.Path())
			if err != nil {
				t.Fatal(err)
			}
			after, err := st.HistoryBytes(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return after, fmt.Sprintf("dbstat %d B before VACUUM, %d B after; the whole file after VACUUM %d B", n, after, fi.Size())
		})
	})
	t.Run("postgres", func(t *testing.T) {
		st := postgrestest.Open(t, postgres.Options{})
		simulate(t, st, days, series, func() (int64, string) {
			before, err := st.HistoryBytes(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Pool().Exec(t.Context(), "VACUUM FULL history_chunks"); err != nil {
				t.Fatal(err)
			}
			n, err := st.HistoryBytes(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return n, fmt.Sprintf("pg_total_relation_size %d B before VACUUM FULL, %d B after", before, n)
		})
	})
}

func simulate(t *testing.T, st Store, days, series int, measure func() (int64, string)) {
	ctx := t.Context()
	const instances = 3
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tiers := DefaultTiers()
	recs := make([]*Recorder, instances)
	names := make([]string, series)
	for s := range names {
		names[s] = fmt.Sprintf("s%03d", s)
	}
	for i := range recs {
		recs[i] = NewRecorder(st, fmt.Sprintf("i%d", i), tiers[0])
	}
	roller := NewRoller(st, "i0", tiers, 90*time.Second, time.Minute)
	checked := map[string]bool{}
	verified := [3]int{}
	// verify checks every bucket of the chunks of tier whose period
	// starts in [from, to) and that were not checked before.
	verify := func(tier Tier, from, to int64) {
		chunks, err := st.HistoryChunks(ctx, storage.HistoryQuery{Tier: tier.ID, FromMS: from, ToMS: to - 1})
		if err != nil {
			t.Fatal(err)
		}
		per := int64(tier.Step / (30 * time.Second))
		for _, c := range chunks {
			key := fmt.Sprintf("%d/%s/%s/%d", tier.ID, c.Instance, c.Series, c.StartMS)
			if c.StartMS < from || c.StartMS >= to || checked[key] {
				continue
			}
			checked[key] = true
			inst, _ := strconv.Atoi(c.Instance[1:])
			s, _ := strconv.Atoi(c.Series[1:])
			pts, err := Decode(c.Data)
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != c.Points {
				t.Fatalf("%s: %d points, the row says %d", key, len(pts), c.Points)
			}
			for j, p := range pts {
				if j > 0 && p.T <= pts[j-1].T {
					t.Fatalf("%s: bucket %d twice or out of order", key, p.T)
				}
				want := Point{T: p.T, Min: math.Inf(1), Max: math.Inf(-1)}
				first := (p.T - start.UnixMilli()) / 30_000
				for k := first; k < first+per; k++ {
					if stopped(inst, int(k)) {
						continue
					}
					v := yearValue(inst, s, int(k))
					want.Min, want.Max = min(want.Min, v), max(want.Max, v)
					want.Sum += v
					want.Count++
				}
				if p.Count != want.Count || p.Min != want.Min || p.Max != want.Max || math.Abs(p.Mean()-want.Mean()) > 1e-9 {
					t.Fatalf("%s bucket %d: got %+v, want %+v", key, p.T, p, want)
				}
				verified[tier.ID]++
			}
		}
	}
	day := int64(24 * time.Hour / time.Millisecond)
	ticks := days * 24 * 120
	began := time.Now()
	var samples int64
	var now time.Time
	for tick := range ticks {
		now = start.Add(time.Duration(tick) * 30 * time.Second)
		for i, r := range recs {
			if stopped(i, tick) {
				continue
			}
			for s, name := range names {
				r.Add(now, name, yearValue(i, s, tick))
			}
			samples += int64(series)
		}
		if tick%120 != 119 {
			continue
		}
		for _, r := range recs {
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if tick%720 != 719 {
			continue
		}
		if ok, err := roller.Run(ctx, now); err != nil || !ok {
			t.Fatalf("roll up at %v: %v, %v", now, ok, err)
		}
		if tick%2880 == 2879 {
			// The 5-minute chunks of two days ago are complete; they are
			// checked now, before they age out of the 30 days kept.
			d := floor(now.UnixMilli(), 24*time.Hour) - day
			verify(tiers[1], d-day, d)
		}
	}
	simulated := time.Since(began)
	verify(tiers[1], 0, math.MaxInt64)
	verify(tiers[2], 0, math.MaxInt64)

	// Every bucket that had a sample before the tier's watermark was
	// rolled up and checked; the 5-minute ones older than 30 days were
	// checked before they were pruned.
	for _, tier := range tiers[1:] {
		wm, err := st.HistoryWatermark(ctx, tier.ID)
		if err != nil {
			t.Fatal(err)
		}
		per := int(tier.Step / (30 * time.Second))
		want := 0
		for i := range instances {
			for b := 0; int64(b)*tier.Step.Milliseconds() < wm-start.UnixMilli(); b++ {
				for k := b * per; k < (b+1)*per && k < ticks; k++ {
					if !stopped(i, k) {
						want += series
						break
					}
				}
			}
		}
		if tier.ID == 2 {
			// The hourly tier keeps a year: buckets older were pruned.
			cut := now.Add(-tier.Keep)
			if cut.After(start) {
				t.Logf("(hourly buckets before %v pruned)", cut)
				want = -1
			}
		}
		if want >= 0 && verified[tier.ID] != want {
			t.Errorf("tier %d: %d buckets checked, want %d", tier.ID, verified[tier.ID], want)
		}
	}
	raw, err := st.HistoryChunks(ctx, storage.HistoryQuery{Tier: 0, FromMS: 0, ToMS: now.Add(-49 * time.Hour).UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 0 {
		t.Errorf("%d raw chunks older than 48 h left", len(raw))
	}
	var rows [3]int
	var data [3]int64
	for _, tier := range tiers {
		cs, err := st.HistoryChunks(ctx, storage.HistoryQuery{Tier: tier.ID, FromMS: 0, ToMS: math.MaxInt64})
		if err != nil {
			t.Fatal(err)
		}
		rows[tier.ID] = len(cs)
		for _, c := range cs {
			data[tier.ID] += int64(len(c.Data))
		}
	}
	bytes, how := measure()
	perInstance := bytes / instances
	t.Logf("%d days, %d instances x %d series, %d samples in %s; buckets checked: %d 5-minute, %d hourly",
		days, instances, series, samples, simulated.Round(time.Second), verified[1], verified[2])
	t.Logf("rows: raw %d, 5-minute %d, hourly %d; encoded data %d / %d / %d B", rows[0], rows[1], rows[2], data[0], data[1], data[2])
	t.Logf("history tables and indexes: %d B, %d B (%.2f MB) per instance; %s", bytes, perInstance, float64(perInstance)/1e6, how)
	if perInstance > 20e6 {
		t.Errorf("%d B per instance after %d days, over the 20 MB an instance-year may take", perInstance, days)
	}
}
