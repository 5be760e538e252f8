package history

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// BenchmarkHistoryTick is one history tick of one instance: a sample of
// 150 series (the default figures and 20 application routes) added to
// their open raw chunks, which are re-encoded and written in one
// transaction, as the history loop does every interval. The timed ticks
// find the chunks 30 to 60 minutes full (the hour's first half is added
// untimed), so the figure is on the dear side of the hour's average.
func BenchmarkHistoryTick(b *testing.B) {
	stores := []struct {
		name string
		open func(testing.TB) Store
	}{{"sqlite", func(tb testing.TB) Store { return sqlitetest.Open(tb, sqlite.Options{}) }}}
	if os.Getenv(postgrestest.EnvURL) != "" || os.Getenv("CI") == "true" {
		stores = append(stores, struct {
			name string
			open func(testing.TB) Store
		}{"postgres", func(tb testing.TB) Store { return postgrestest.Open(tb, postgres.Options{}) }})
	}
	const series = 150
	names := make([]string, series)
	for s := range names {
		names[s] = fmt.Sprintf("s%03d", s)
	}
	for _, be := range stores {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			rec := NewRecorder(st, "i0", DefaultTiers()[0])
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			tick := 0
			add := func() {
				// Keep every chunk half an hour full: the hour's first 60
				// ticks are added without timing.
				at := start.Add(time.Duration(tick) * 30 * time.Second)
				for s, name := range names {
					rec.Add(at, name, yearValue(0, s, tick))
				}
				tick++
			}
			for range 60 {
				add()
			}
			if err := rec.Flush(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if tick%120 == 0 {
					b.StopTimer()
					for range 60 {
						add()
					}
					if err := rec.Flush(b.Context()); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				add()
				if err := rec.Flush(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
