package history

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

// Range is one of the history API's ranges: how far back it reaches, the
// step of its points, and the tier its points are read from.
type Range struct {
	Name string
	Span time.Duration
	Step time.Duration
	// Tier is the coarsest tier whose step divides Step; what that tier
	// has not rolled up yet is read from the tiers below.
	Tier int
}

// Points is how many points a series of r has: Span / Step, rounded up
// (the 1-year range has 183 two-day steps).
func (r Range) Points() int {
	return int((r.Span + r.Step - 1) / r.Step)
}

// Ranges lists the ranges of DESIGN.md ("History"), at most 300 points
// each.
func Ranges() []Range {
	return []Range{
		{Name: "1h", Span: time.Hour, Step: 30 * time.Second, Tier: 0},
		{Name: "6h", Span: 6 * time.Hour, Step: 2 * time.Minute, Tier: 0},
		{Name: "24h", Span: 24 * time.Hour, Step: 5 * time.Minute, Tier: 1},
		{Name: "7d", Span: 7 * 24 * time.Hour, Step: time.Hour, Tier: 2},
		{Name: "30d", Span: 30 * 24 * time.Hour, Step: 3 * time.Hour, Tier: 2},
		{Name: "1y", Span: 365 * 24 * time.Hour, Step: 48 * time.Hour, Tier: 2},
	}
}

// RangeNamed returns the range called name.
func RangeNamed(name string) (Range, bool) {
	for _, r := range Ranges() {
		if r.Name == name {
			return r, true
		}
	}
	return Range{}, false
}

// maxSeriesKey is the longest key a keyed series may carry ("disk[KEY]"),
// as long as the store's column allows with room for the rest of the name.
const maxSeriesKey = 200

// KnownSeries reports whether name is a series of the figure list (a
// figure's series, or a keyed one's with a key in place of "[*]") or a
// watched source's state series (states.go).
func KnownSeries(name string) bool {
	if len(name) > 255 {
		return false
	}
	if knownStateSeries(name) {
		return true
	}
	for _, f := range probes.Figures() {
		head, tail, keyed := strings.Cut(f.Series, "[*]")
		if !keyed {
			if name == f.Series {
				return true
			}
			continue
		}
		if !strings.HasPrefix(name, head+"[") || !strings.HasSuffix(name, "]"+tail) {
			continue
		}
		if validKey(name[len(head)+1 : len(name)-len(tail)-1]) {
			return true
		}
	}
	return false
}

// validKey reports whether key may name an entry in a keyed series: not
// empty, not the wildcard, short enough for the store, one line of text.
func validKey(key string) bool {
	return key != "" && key != "*" && len(key) <= maxSeriesKey && !strings.ContainsAny(key, "\x00\n\r")
}

// ReadStore is the slice of the store the history's reader needs.
type ReadStore interface {
	HistoryChunks(ctx context.Context, q storage.HistoryQuery) ([]storage.HistoryChunk, error)
	HistoryWatermark(ctx context.Context, tier int) (int64, error)
}

// Reader answers the history API from the stored tiers.
type Reader struct {
	store  ReadStore
	tiers  [3]Tier
	frozen *frozenCache
}

// NewReader returns a Reader of store's history with the default tiers'
// steps. A Reader remembers the steps of rolled-up ranges that can no
// longer change (frozen.go), so keep one for the life of the store rather
// than one per query; it is safe for concurrent use.
func NewReader(store ReadStore) *Reader {
	return &Reader{store: store, tiers: DefaultTiers(), frozen: newFrozenCache()}
}

// Result is one query's answer: the start of its first step and, per
// series asked for (in order), one bucket per step. A bucket with Count 0
// had no sample: a gap.
type Result struct {
	StartMS int64
	Series  [][]Point
}

// Query returns series of instance over r ending at now. Each step is
// computed from the range's tier where that tier has been rolled up (its
// watermark) and from the tiers below for the rest, so that the newest
// steps are there before their roll-up; chunks of one series that overlap
// (written by a restarted instance within one raw period) are merged
// point by point.
func (rd *Reader) Query(ctx context.Context, instance string, series []string, r Range, now time.Time) (Result, error) {
	step := r.Step.Milliseconds()
	n := r.Points()
	start := floor(now.UnixMilli(), r.Step) - int64(n-1)*step
	end := start + int64(n)*step
	res := Result{StartMS: start, Series: make([][]Point, len(series))}
	index := make(map[string]int, len(series))
	for i, s := range series {
		index[s] = i
		res.Series[i] = make([]Point, n)
		for j := range res.Series[i] {
			res.Series[i][j] = Point{T: start + int64(j)*step}
		}
	}
	var dec Decoder
	pos := start
	// from[i] is where series i needs points from the range's tier: the
	// steps before it came from the frozen cache.
	from := make([]int64, len(series))
	for i := range from {
		from[i] = start
	}
	var final int64 // the steps before final are final (frozen.go)
	for tier := r.Tier; tier >= 0 && pos < end; tier-- {
		upto := end
		fromMS := pos
		if tier > 0 {
			wm, err := rd.store.HistoryWatermark(ctx, rd.tiers[tier].ID)
			if err != nil {
				return Result{}, fmt.Errorf("history: query: %w", err)
			}
			upto = min(end, max(pos, wm))
			if tier == r.Tier {
				final = min(upto, floor(floor(wm, rd.tiers[tier].Period), r.Step))
				fromMS = rd.fromFrozen(instance, series, tier, step, start, final, res.Series, from)
			}
		}
		if upto <= fromMS {
			pos = max(pos, upto)
			continue
		}
		chunks, err := rd.store.HistoryChunks(ctx, storage.HistoryQuery{Tier: rd.tiers[tier].ID, Instance: instance,
			Series: series, FromMS: fromMS, ToMS: upto - 1})
		if err != nil {
			return Result{}, fmt.Errorf("history: query: %w", err)
		}
		for _, c := range chunks {
			i, ok := index[c.Series]
			if !ok || c.Instance != instance {
				continue
			}
			pts, err := dec.Decode(c.Data)
			if err != nil {
				return Result{}, fmt.Errorf("history: query %s: %w", c.Series, err)
			}
			out := res.Series[i]
			lo := pos
			if tier == r.Tier {
				lo = from[i]
			}
			for _, p := range pts {
				if p.T < lo || p.T >= upto {
					continue
				}
				addTo(&out[(p.T-start)/step], p)
			}
		}
		pos = upto
	}
	if rd.frozen != nil && final > start {
		n := (final - start) / step
		for i, s := range series {
			if from[i] < final {
				rd.frozen.put(frozenKey{instance: instance, series: s, tier: r.Tier, stepMS: step}, start, res.Series[i][:n])
			}
		}
	}
	return res, nil
}

// fromFrozen fills each series' final steps from the frozen cache, records
// in from where each one needs the store's points again, and returns the
// earliest of those.
func (rd *Reader) fromFrozen(instance string, series []string, tier int, step, start, final int64, out [][]Point, from []int64) int64 {
	earliest := final
	for i, s := range series {
		from[i] = start
		if rd.frozen != nil && final > start {
			n := (final - start) / step
			from[i] = rd.frozen.get(frozenKey{instance: instance, series: s, tier: tier, stepMS: step}, start, out[i][:n])
		}
		earliest = min(earliest, from[i])
	}
	return earliest
}

// addTo merges p into bucket b: min and max of both, sums and counts
// added, so the mean of any span of buckets stays exact.
func addTo(b *Point, p Point) {
	if b.Count == 0 {
		b.Min, b.Max, b.Sum, b.Count = p.Min, p.Max, p.Sum, p.Count
		return
	}
	b.Min, b.Max = math.Min(b.Min, p.Min), math.Max(b.Max, p.Max)
	b.Sum += p.Sum
	b.Count += p.Count
}
