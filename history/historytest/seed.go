// Package historytest stores a year of history the way the Recorder and
// the Roller leave it, for the benchmarks that read one (the handlers'
// and `go run ./internal/bench`).
package historytest

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/storage"
)

// SeedYear stores, for each of series of instance, 48 h of raw samples
// every 30 s (a chunk an hour), 30 days of 5-minute buckets (a chunk a day)
// and a year of hourly ones (a chunk a week), with both watermarks just
// behind now, as the Roller leaves them, so that a roller starting next
// does not redo the year. The lease it takes for that expires at once.
func SeedYear(ctx context.Context, st history.Store, instance string, series []string, now time.Time) error {
	var enc history.Encoder
	for _, ts := range []struct {
		tier               int
		step, period, span time.Duration
		count              int64
	}{
		{0, 30 * time.Second, time.Hour, 48 * time.Hour, 1},
		{1, 5 * time.Minute, 24 * time.Hour, 30 * 24 * time.Hour, 10},
		{2, time.Hour, 7 * 24 * time.Hour, 365 * 24 * time.Hour, 120},
	} {
		end := now.Truncate(ts.step)
		for _, name := range series {
			var chunks []storage.HistoryChunk
			var pts []history.Point
			emit := func() error {
				data, err := enc.Encode(pts)
				if err != nil {
					return err
				}
				start := time.UnixMilli(pts[0].T).Truncate(ts.period).UnixMilli()
				if ts.tier == 0 {
					start = pts[0].T
				}
				chunks = append(chunks, storage.HistoryChunk{Instance: instance, Tier: ts.tier, Series: name,
					StartMS: start, EndMS: pts[len(pts)-1].T, Points: len(pts), Data: data})
				pts = pts[:0]
				return nil
			}
			for at := end.Add(-ts.span); at.Before(end); at = at.Add(ts.step) {
				v := math.Round((50+30*math.Sin(float64(at.Unix()/30)/500))*100) / 100
				p := history.Point{T: at.UnixMilli(), Min: v, Max: v, Sum: v, Count: 1}
				if ts.count > 1 {
					p = history.Point{T: at.UnixMilli(), Min: v - 5, Max: v + 5, Sum: math.Round(v*float64(ts.count)*100) / 100, Count: ts.count}
				}
				if len(pts) > 0 && at.Truncate(ts.period) != time.UnixMilli(pts[0].T).Truncate(ts.period) {
					if err := emit(); err != nil {
						return err
					}
				}
				pts = append(pts, p)
			}
			if len(pts) > 0 {
				if err := emit(); err != nil {
					return err
				}
			}
			if err := st.PutHistoryChunks(ctx, chunks); err != nil {
				return err
			}
		}
	}
	nowMS := now.UnixMilli()
	if ok, err := st.AcquireLease(ctx, history.LeaseName, "seed", nowMS, 1); err != nil || !ok {
		return fmt.Errorf("history lease: %v %v", ok, err)
	}
	for tier, until := range map[int]time.Time{1: now.Truncate(5 * time.Minute).Add(-5 * time.Minute), 2: now.Truncate(time.Hour).Add(-time.Hour)} {
		if err := st.CommitRollup(ctx, history.LeaseName, "seed", nowMS, tier, until.UnixMilli(), nil); err != nil {
			return err
		}
	}
	return nil
}
