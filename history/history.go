package history

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

// Store is the slice of the store the history needs.
type Store interface {
	PutHistoryChunks(ctx context.Context, chunks []storage.HistoryChunk) error
	HistoryChunks(ctx context.Context, q storage.HistoryQuery) ([]storage.HistoryChunk, error)
	HistoryWatermark(ctx context.Context, tier int) (int64, error)
	CommitRollup(ctx context.Context, lease, holder string, nowMS int64, tier int, untilMS int64, chunks []storage.HistoryChunk) error
	PruneHistory(ctx context.Context, tier int, beforeMS int64) (int64, error)
	AcquireLease(ctx context.Context, lease, holder string, nowMS, ttlMS int64) (bool, error)
}

// Tier is one level of the history: its points' step (0 for raw samples),
// how long it is kept, and the period one stored chunk covers.
type Tier struct {
	ID     int
	Step   time.Duration
	Keep   time.Duration
	Period time.Duration
}

// DefaultTiers returns the raw, 5-minute and 1-hour tiers with their
// default retention (docs/architecture.md, "History"). A chunk holds an
// hour of raw samples, a day of 5-minute buckets or a week of hourly ones.
func DefaultTiers() [3]Tier {
	return [3]Tier{
		{ID: 0, Keep: 48 * time.Hour, Period: time.Hour},
		{ID: 1, Step: 5 * time.Minute, Keep: 30 * 24 * time.Hour, Period: 24 * time.Hour},
		{ID: 2, Step: time.Hour, Keep: 365 * 24 * time.Hour, Period: 7 * 24 * time.Hour},
	}
}

func floor(ms int64, d time.Duration) int64 {
	p := d.Milliseconds()
	r := ms % p
	if r < 0 {
		r += p
	}
	return ms - r
}

// Recorder keeps the raw chunks this instance is filling and writes them.
// One goroutine uses it (the history loop).
type Recorder struct {
	store    Store
	instance string
	tier     Tier
	enc      Encoder
	open     map[string]*openChunk
	// retired are chunks whose period ended before they were written.
	retired []*openChunk
}

type openChunk struct {
	series string
	points []Point
	dirty  bool
}

// NewRecorder returns a Recorder of instance's raw samples.
func NewRecorder(store Store, instance string, raw Tier) *Recorder {
	return &Recorder{store: store, instance: instance, tier: raw, open: make(map[string]*openChunk)}
}

// Add appends one sample of series taken at t.
func (r *Recorder) Add(t time.Time, series string, v float64) {
	ms := t.UnixMilli()
	c := r.open[series]
	if c != nil && ms == c.points[len(c.points)-1].T {
		// The same snapshot again (the sampler has not ticked since, as
		// after a SIGSTOP): one sample, not two, or roll-ups count it twice.
		return
	}
	if c != nil && (floor(c.points[0].T, r.tier.Period) != floor(ms, r.tier.Period) || ms <= c.points[len(c.points)-1].T) {
		if c.dirty {
			r.retired = append(r.retired, c)
		}
		c = nil
	}
	if c == nil {
		c = &openChunk{series: series}
		r.open[series] = c
	}
	c.points = append(c.points, Point{T: ms, Min: v, Max: v, Sum: v, Count: 1})
	c.dirty = true
}

// Record adds every numeric figure of snap (those present: a figure
// without a value is a gap) and the states of its watched sources.
func (r *Recorder) Record(snap *probes.Snapshot) {
	snap.Each(func(rd probes.Reading) {
		if rd.Value != nil {
			r.Add(snap.CollectedAt, rd.Series, *rd.Value)
		}
	})
	r.recordStates(snap)
}

// Flush writes every chunk changed since the last Flush in one
// transaction. On failure the chunks stay in memory and the next Flush
// writes them.
func (r *Recorder) Flush(ctx context.Context) error {
	var out []storage.HistoryChunk
	var written []*openChunk
	for _, c := range append(slices.Clone(r.retired), r.dirtyOpen()...) {
		data, err := r.enc.Encode(c.points)
		if err != nil {
			return err
		}
		out = append(out, storage.HistoryChunk{Instance: r.instance, Tier: r.tier.ID, Series: c.series,
			StartMS: c.points[0].T, EndMS: c.points[len(c.points)-1].T, Points: len(c.points), Data: data})
		written = append(written, c)
	}
	if len(out) == 0 {
		return nil
	}
	if err := r.store.PutHistoryChunks(ctx, out); err != nil {
		return fmt.Errorf("history: record: %w", err)
	}
	for _, c := range written {
		c.dirty = false
	}
	r.retired = r.retired[:0]
	return nil
}

func (r *Recorder) dirtyOpen() []*openChunk {
	var out []*openChunk
	for _, c := range r.open {
		if c.dirty {
			out = append(out, c)
		}
	}
	return out
}

// LeaseName is the lease the roll-ups and pruning run under.
const LeaseName = "history"

// Roller rolls raw samples up into the 5-minute tier and those into the
// 1-hour tier, and prunes every tier, on the holder of the lease only.
type Roller struct {
	store  Store
	holder string
	tiers  [3]Tier
	ttl    time.Duration
	// grace is how long after a bucket ends its last samples may still
	// arrive; a bucket is rolled up only after it.
	grace time.Duration
	enc   Encoder
}

// NewRoller returns a Roller for holder (this instance's id) whose lease
// lasts ttl (3 history intervals) and that waits grace past a bucket's end.
func NewRoller(store Store, holder string, tiers [3]Tier, ttl, grace time.Duration) *Roller {
	return &Roller{store: store, holder: holder, tiers: tiers, ttl: ttl, grace: grace}
}

// Run takes or renews the lease at now and, when held, rolls up every
// bucket that is complete and prunes what is past its age. It reports
// whether this instance holds the lease.
func (r *Roller) Run(ctx context.Context, now time.Time) (bool, error) {
	nowMS := now.UnixMilli()
	ok, err := r.store.AcquireLease(ctx, LeaseName, r.holder, nowMS, r.ttl.Milliseconds())
	if err != nil || !ok {
		return false, err
	}
	for i := 1; i < len(r.tiers); i++ {
		if err := r.rollTier(ctx, nowMS, r.tiers[i-1], r.tiers[i]); err != nil {
			return true, err
		}
	}
	return true, r.prune(ctx, nowMS)
}

func (r *Roller) prune(ctx context.Context, nowMS int64) error {
	for i, t := range r.tiers {
		before := nowMS - t.Keep.Milliseconds()
		if i+1 < len(r.tiers) {
			// Never prune what the next tier has not rolled up yet.
			wm, err := r.store.HistoryWatermark(ctx, r.tiers[i+1].ID)
			if err != nil {
				return err
			}
			before = min(before, wm)
		}
		if _, err := r.store.PruneHistory(ctx, t.ID, before); err != nil {
			return err
		}
	}
	return nil
}

// rollTier rolls src up into dst from dst's watermark to the last complete
// bucket, a day at a time, each day one transaction with its watermark.
func (r *Roller) rollTier(ctx context.Context, nowMS int64, src, dst Tier) error {
	until := floor(nowMS-r.grace.Milliseconds(), dst.Step)
	if src.ID != 0 {
		swm, err := r.store.HistoryWatermark(ctx, src.ID)
		if err != nil {
			return err
		}
		until = min(until, floor(swm, dst.Step))
	}
	wm, err := r.store.HistoryWatermark(ctx, dst.ID)
	if err != nil {
		return err
	}
	if wm == 0 {
		wm = floor(nowMS-src.Keep.Milliseconds(), dst.Step)
	}
	for wm < until {
		to := min(until, wm+dst.Period.Milliseconds())
		if err := r.rollSpan(ctx, nowMS, src, dst, wm, to); err != nil {
			return err
		}
		wm = to
	}
	return nil
}

type seriesKey struct{ instance, series string }

func (r *Roller) rollSpan(ctx context.Context, nowMS int64, src, dst Tier, from, to int64) error {
	chunks, err := r.store.HistoryChunks(ctx, storage.HistoryQuery{Tier: src.ID, FromMS: from, ToMS: to - 1})
	if err != nil {
		return err
	}
	buckets := make(map[seriesKey]map[int64]*Point)
	for _, c := range chunks {
		pts, err := Decode(c.Data)
		if err != nil {
			return fmt.Errorf("history: roll up %s %s: %w", c.Instance, c.Series, err)
		}
		k := seriesKey{c.Instance, c.Series}
		for _, p := range pts {
			if p.T < from || p.T >= to {
				continue
			}
			if buckets[k] == nil {
				buckets[k] = make(map[int64]*Point)
			}
			b := floor(p.T, dst.Step)
			merge(buckets[k], b, p)
		}
	}
	var out []storage.HistoryChunk
	if len(buckets) > 0 {
		out, err = r.appendBuckets(ctx, dst, from, to, buckets)
		if err != nil {
			return err
		}
	}
	if err := r.store.CommitRollup(ctx, LeaseName, r.holder, nowMS, dst.ID, to, out); err != nil {
		return fmt.Errorf("history: roll up tier %d: %w", dst.ID, err)
	}
	return nil
}

func merge(m map[int64]*Point, b int64, p Point) {
	q := m[b]
	if q == nil {
		m[b] = &Point{T: b, Min: p.Min, Max: p.Max, Sum: p.Sum, Count: p.Count}
		return
	}
	q.Min, q.Max = min(q.Min, p.Min), max(q.Max, p.Max)
	q.Sum = addSum(q.Sum, p.Sum)
	q.Count += p.Count
}

// appendBuckets adds the new buckets to the stored chunks of dst they
// belong in (a chunk per series and Period) and returns those chunks.
func (r *Roller) appendBuckets(ctx context.Context, dst Tier, from, to int64, buckets map[seriesKey]map[int64]*Point) ([]storage.HistoryChunk, error) {
	period := dst.Period.Milliseconds()
	existing, err := r.store.HistoryChunks(ctx, storage.HistoryQuery{Tier: dst.ID, FromMS: floor(from, dst.Period), ToMS: to})
	if err != nil {
		return nil, err
	}
	type ck struct {
		seriesKey
		start int64
	}
	stored := make(map[ck][]Point)
	for _, c := range existing {
		if c.StartMS%period != 0 {
			continue
		}
		pts, err := Decode(c.Data)
		if err != nil {
			return nil, err
		}
		stored[ck{seriesKey{c.Instance, c.Series}, c.StartMS}] = pts
	}
	grouped := make(map[ck][]Point)
	for k, m := range buckets {
		for b, p := range m {
			key := ck{k, floor(b, dst.Period)}
			grouped[key] = append(grouped[key], *p)
		}
	}
	var out []storage.HistoryChunk
	for key, pts := range grouped {
		slices.SortFunc(pts, func(a, b Point) int { return int(a.T - b.T) })
		all := slices.Concat(stored[key], pts)
		data, err := r.enc.Encode(all)
		if err != nil {
			return nil, err
		}
		out = append(out, storage.HistoryChunk{Instance: key.instance, Tier: dst.ID, Series: key.series,
			StartMS: key.start, EndMS: all[len(all)-1].T, Points: len(all), Data: data})
	}
	return out, nil
}
