package history

import (
	"math"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// TestStrips records three days of snapshots on a fake clock (the
// database down for hour 10 of day 0, the API target warning for hour 30,
// vitals stopped for hours 62 and 63, Redis not configured), rolls them up
// as production does, and reads the 90-day and 24-hour strips: each
// cell's share of ok samples and worst state are the recorded ones, a
// stopped period and an unconfigured source are unknown (no samples),
// never down.
func TestStrips(t *testing.T) {
	ctx := t.Context()
	st := sqlitetest.Open(t, sqlite.Options{})
	tiers := DefaultTiers()
	rec := NewRecorder(st, "i0", tiers[0])
	roller := NewRoller(st, "i0", tiers, 90*time.Second, time.Minute)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const ticks = 3 * 24 * 120
	var now time.Time
	for tick := range ticks {
		now = start.Add(time.Duration(tick) * 30 * time.Second)
		hour := tick / 120
		if hour == 62 || hour == 63 {
			continue
		}
		db, api := probes.LevelOK, probes.LevelOK
		if hour == 10 {
			db = probes.LevelDown
		}
		if hour == 30 {
			api = probes.LevelWarning
		}
		rec.Record(&probes.Snapshot{CollectedAt: now,
			Database: probes.Database{State: db}, Redis: probes.Redis{State: probes.LevelNotConfigured},
			HTTP: []probes.HTTPTarget{{Name: "api", State: api}}})
		if tick%120 == 119 {
			if err := rec.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := roller.Run(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rd := NewReader(st)
	sources := []string{"database", "redis", "http[api]"}

	days, err := rd.Strips(ctx, "i0", sources, 90*24*time.Hour, 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	db, redis, api := days[0], days[1], days[2]
	if len(db.Cells) != 90 {
		t.Fatalf("%d day cells, want 90", len(db.Cells))
	}
	last := len(db.Cells) - 1
	for i, c := range db.Cells[:last-2] {
		if c.Samples != 0 || c.Worst != "" {
			t.Fatalf("day cell %d before the first sample: %+v", i, c)
		}
	}
	d0, d1, d2 := db.Cells[last-2], db.Cells[last-1], db.Cells[last]
	if d0.StartMS != start.UnixMilli() || d0.Samples != 24*120 || d0.Worst != probes.LevelDown || math.Abs(d0.OKShare-23.0/24) > 1e-9 {
		t.Errorf("day 0 of the database: %+v, want 2880 samples, 23/24 ok, worst down", d0)
	}
	if d1.Samples != 24*120 || d1.Worst != probes.LevelOK || d1.OKShare != 1 {
		t.Errorf("day 1 of the database: %+v", d1)
	}
	// Day 2 is read from the tiers below where the hourly roll-up has not
	// reached yet (its last hour): every sample counts, none twice.
	if d2.Samples != 22*120 || d2.Worst != probes.LevelOK {
		t.Errorf("day 2 of the database: %+v, want the 22 hours sampled", d2)
	}
	if a := api.Cells[last-1]; a.Worst != probes.LevelWarning || math.Abs(a.OKShare-23.0/24) > 1e-9 {
		t.Errorf("day 1 of the API target: %+v, want warning, 23/24 ok", a)
	}
	if want := (70.0*120 - 120) / (70 * 120); db.Uptime == nil || math.Abs(*db.Uptime-want) > 1e-9 {
		t.Errorf("database uptime %v, want %v", db.Uptime, want)
	}
	for _, c := range redis.Cells {
		if c.Samples != 0 {
			t.Fatalf("Redis, not configured, has a sampled cell: %+v", c)
		}
	}
	if redis.Uptime != nil {
		t.Errorf("Redis uptime %v, want none", *redis.Uptime)
	}

	quarters, err := rd.Strips(ctx, "i0", sources[:1], 24*time.Hour, 15*time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	q := quarters[0].Cells
	if len(q) != 96 {
		t.Fatalf("%d quarter-hour cells, want 96", len(q))
	}
	// The last 24 h end at hour 71; hours 62 and 63 are the 8 cells
	// 96-40 .. 96-33 and have no samples: unknown, not down.
	unknown := 0
	for i, c := range q {
		switch {
		case c.Samples == 0:
			unknown++
			if i < 56 || i >= 64 {
				t.Errorf("quarter cell %d unknown, outside the stop", i)
			}
		case c.Samples != 30 || c.Worst != probes.LevelOK:
			t.Errorf("quarter cell %d: %+v, want 30 ok samples", i, c)
		}
	}
	if unknown != 8 {
		t.Errorf("%d unknown quarter cells, want the 8 of the stop", unknown)
	}
}

func TestKnownStateSeries(t *testing.T) {
	for name, want := range map[string]bool{
		"database.state_ok": true, "redis.state_rank": true, "http[api].state_ok": true,
		"http[*].state_ok": false, "http[].state_rank": false, "cpu.state_ok": false, "database.state": false,
	} {
		if got := KnownSeries(name); got != want {
			t.Errorf("KnownSeries(%q) = %v, want %v", name, got, want)
		}
	}
}
