package probes

import (
	"context"
	"math/bits"
	"sync/atomic"
	"time"
)

// The latency window's shape: 30 slots of 10 s make the 5-minute window;
// each slot is a histogram of subBins bins per power of two of
// microseconds, so a bin is at most 1/subBins (12.5 %) wide.
const (
	slotWidth   = 10 * time.Second
	windowSlots = 30
	subBits     = 3
	subBins     = 1 << subBits
	maxExponent = 40 // 2^40 µs is about 12 days: anything longer lands in the last bin
	numBins     = (maxExponent + 1) * subBins
)

// LatencyWindow records request latencies over a sliding window without a
// lock: a request costs two atomic adds and, once per slot and second, a
// compare-and-swap. Readers (the sampler's API probe) sum the slots.
type LatencyWindow struct {
	slots [windowSlots]atomic.Pointer[latencySlot]
	now   func() time.Time
}

type latencySlot struct {
	epoch    int64 // slot number since the Unix epoch (unix time / slotWidth)
	requests atomic.Uint64
	errors   atomic.Uint64
	bins     [numBins]atomic.Uint64
}

// NewLatencyWindow returns an empty 5-minute window.
func NewLatencyWindow() *LatencyWindow {
	return &LatencyWindow{now: time.Now}
}

// Observe records one request that took d and was answered with status.
func (w *LatencyWindow) Observe(d time.Duration, status int) {
	w.observeAt(w.now(), d, status)
}

func (w *LatencyWindow) observeAt(now time.Time, d time.Duration, status int) {
	epoch := now.UnixNano() / int64(slotWidth)
	ptr := &w.slots[epoch%windowSlots]
	s := ptr.Load()
	for s == nil || s.epoch != epoch {
		if s != nil && s.epoch > epoch {
			return // a clock step backwards: drop rather than corrupt a newer slot
		}
		// The slot holds an older period: replace it with a fresh one. A
		// loser of the race takes the winner's slot.
		fresh := &latencySlot{epoch: epoch}
		if ptr.CompareAndSwap(s, fresh) {
			s = fresh
			break
		}
		s = ptr.Load()
	}
	s.requests.Add(1)
	if status >= 500 {
		s.errors.Add(1)
	}
	s.bins[binOf(d)].Add(1)
}

// binOf maps a duration to its histogram bin: the power of two of its
// microseconds and the next subBits bits below the leading one.
func binOf(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 0))
	if us < subBins {
		return int(us) // exact below 8 µs
	}
	exp := bits.Len64(us) - 1 // position of the leading one, >= subBits
	if exp > maxExponent {
		return numBins - 1
	}
	sub := int(us>>(exp-subBits)) & (subBins - 1)
	return (exp-subBits+1)*subBins + sub
}

// binBounds returns the microseconds a bin covers, [lo, hi).
func binBounds(b int) (lo, hi float64) {
	if b < subBins {
		return float64(b), float64(b + 1)
	}
	exp := b/subBins + subBits - 1
	sub := b % subBins
	width := float64(uint64(1) << (exp - subBits))
	lo = float64(uint64(1)<<exp) + float64(sub)*width
	return lo, lo + width
}

// LatencySummary is what the window holds now.
type LatencySummary struct {
	Requests uint64
	Errors   uint64
	// P50, P95 and P99 are zero when Requests is zero.
	P50, P95, P99 time.Duration
}

// Summary adds up the slots of the last five minutes.
func (w *LatencyWindow) Summary() LatencySummary {
	return w.summaryAt(w.now())
}

func (w *LatencyWindow) summaryAt(now time.Time) LatencySummary {
	current := now.UnixNano() / int64(slotWidth)
	var sum LatencySummary
	var bins [numBins]uint64
	for i := range w.slots {
		s := w.slots[i].Load()
		if s == nil || s.epoch <= current-windowSlots || s.epoch > current {
			continue
		}
		sum.Requests += s.requests.Load()
		sum.Errors += s.errors.Load()
		for b := range bins {
			bins[b] += s.bins[b].Load()
		}
	}
	var total uint64
	for _, n := range bins {
		total += n
	}
	if total == 0 {
		return sum
	}
	sum.P50 = quantile(&bins, total, 0.50)
	sum.P95 = quantile(&bins, total, 0.95)
	sum.P99 = quantile(&bins, total, 0.99)
	return sum
}

// quantile finds the bin holding the q-th request (nearest rank) and
// interpolates linearly inside it.
func quantile(bins *[numBins]uint64, total uint64, q float64) time.Duration {
	rank := uint64(q*float64(total) + 0.999999)
	rank = min(max(rank, 1), total)
	var seen uint64
	for b, n := range bins {
		if n == 0 {
			continue
		}
		if seen+n >= rank {
			lo, hi := binBounds(b)
			frac := (float64(rank-seen) - 0.5) / float64(n)
			us := lo + frac*(hi-lo)
			return time.Duration(us * float64(time.Microsecond))
		}
		seen += n
	}
	return 0
}

// APIProbe reports a LatencyWindow as the snapshot's "api" group.
type APIProbe struct {
	window *LatencyWindow
}

// NewAPIProbe returns the probe of the "api" group over w.
func NewAPIProbe(w *LatencyWindow) *APIProbe { return &APIProbe{window: w} }

// Name returns "api".
func (p *APIProbe) Name() string { return "api" }

// Read returns the api group from the window; it does no I/O.
func (p *APIProbe) Read(_ context.Context) Result {
	sum := p.window.Summary()
	window := (windowSlots * slotWidth).Seconds()
	a := API{Status: StatusOK, WindowSeconds: &window, Requests: &sum.Requests}
	if sum.Requests > 0 {
		errPct := 100 * float64(sum.Errors) / float64(sum.Requests)
		p50, p95, p99 := ms(sum.P50), ms(sum.P95), ms(sum.P99)
		a.ErrorPercent, a.P50MS, a.P95MS, a.P99MS = &errPct, &p50, &p95, &p99
	}
	return a
}
