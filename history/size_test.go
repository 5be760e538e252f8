package history

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// TestSizePerInstanceYear estimates one instance-year on SQLite from two
// simulated days of 150 series (about the default figures plus 20
// application routes): the raw tier as it stands once full (48 h), the
// roll-up tiers' encoded bytes per day times the days they keep. It is an
// extrapolation, not the simulated year the issue asks for.
func TestSizePerInstanceYear(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx := t.Context()
	st := sqlitetest.Open(t, sqlite.Options{})
	tiers := DefaultTiers()
	rec := NewRecorder(st, "i0", tiers[0])
	roller := NewRoller(st, "i0", tiers, 90*time.Second, time.Minute)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const series, days = 150, 2
	ticks := days * 24 * 120
	var now time.Time
	for tick := range ticks {
		now = start.Add(time.Duration(tick) * 30 * time.Second)
		for s := range series {
			v := value(0, s, tick)
			if s%5 == 0 {
				v = float64(1 << 30) // constants: totals, limits, cores
			}
			rec.Add(now, fmt.Sprintf("s%03d", s), v)
		}
		if tick%120 == 119 {
			if err := rec.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := roller.Run(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	bytesOf := func(tier int) (int64, int) {
		cs, err := st.HistoryChunks(ctx, storage.HistoryQuery{Tier: tier, FromMS: 0, ToMS: math.MaxInt64})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, c := range cs {
			n += int64(len(c.Data)) + int64(len(c.Series)+len(c.Instance)+40) // key, times, row header
		}
		return n, len(cs)
	}
	raw, rawRows := bytesOf(0)
	m5, m5Rows := bytesOf(1)
	h1, h1Rows := bytesOf(2)
	rolledDays := float64(days) - 1.0/24
	year := raw + int64(float64(m5)/rolledDays*30) + int64(float64(h1)/rolledDays*365)
	t.Logf("raw 48h: %d rows %d B; 5m per day: %.0f B (%d rows); 1h per day: %.0f B (%d rows); estimated instance-year %.1f MB",
		rawRows, raw, float64(m5)/rolledDays, m5Rows, float64(h1)/rolledDays, h1Rows, float64(year)/1e6)
	if year > 20e6 {
		t.Errorf("estimated instance-year %d B, over the 20 MB bound", year)
	}
}
