package probes

import (
	"math"
	"sync"
	"testing"
	"time"
)

// Every duration falls inside the bounds of its bin, and a bin is at most
// 12.5 % of its lower bound wide.
func TestLatencyBins(t *testing.T) {
	for us := int64(0); us < 1<<22; us = us*9/8 + 1 {
		d := time.Duration(us) * time.Microsecond
		b := binOf(d)
		lo, hi := binBounds(b)
		if float64(us) < lo || float64(us) >= hi {
			t.Fatalf("%d µs in bin %d = [%g, %g)", us, b, lo, hi)
		}
		if lo >= subBins && (hi-lo)/lo > 0.125+1e-9 {
			t.Fatalf("bin %d = [%g, %g) is wider than 12.5 %%", b, lo, hi)
		}
	}
	if b := binOf(-time.Second); b != 0 {
		t.Errorf("negative duration in bin %d", b)
	}
	if b := binOf(100 * time.Hour * 24 * 365); b != numBins-1 {
		t.Errorf("huge duration in bin %d, want the last", b)
	}
}

func TestLatencyQuantiles(t *testing.T) {
	w := NewLatencyWindow()
	now := time.Unix(1_800_000_000, 0)
	// 1000 requests taking 1, 2, ... 1000 ms: p50 is 500 ms, p95 950 ms,
	// p99 990 ms (nearest rank); 10 of them failed with a 5xx, 5 with a 4xx.
	for i := 1; i <= 1000; i++ {
		status := 200
		switch {
		case i%100 == 0:
			status = 503
		case i%200 == 1:
			status = 404
		}
		w.observeAt(now, time.Duration(i)*time.Millisecond, status)
	}
	s := w.summaryAt(now)
	if s.Requests != 1000 || s.Errors != 10 {
		t.Fatalf("requests %d errors %d", s.Requests, s.Errors)
	}
	for _, c := range []struct {
		got  time.Duration
		want float64 // ms
	}{{s.P50, 500}, {s.P95, 950}, {s.P99, 990}} {
		got := float64(c.got) / float64(time.Millisecond)
		if math.Abs(got-c.want)/c.want > 0.125 {
			t.Errorf("quantile %.1f ms, want %.0f ms within 12.5 %%", got, c.want)
		}
	}
}

// Requests older than the window are forgotten; those inside it are kept.
func TestLatencyWindowSlides(t *testing.T) {
	w := NewLatencyWindow()
	t0 := time.Unix(1_800_000_000, 0)
	w.observeAt(t0, time.Millisecond, 200)
	w.observeAt(t0.Add(2*time.Minute), 3*time.Millisecond, 500)
	if s := w.summaryAt(t0.Add(2 * time.Minute)); s.Requests != 2 || s.Errors != 1 {
		t.Fatalf("inside the window: %+v", s)
	}
	if s := w.summaryAt(t0.Add(5*time.Minute + slotWidth)); s.Requests != 1 {
		t.Fatalf("after 5 minutes the first request must be gone: %+v", s)
	}
	if s := w.summaryAt(t0.Add(10 * time.Minute)); s.Requests != 0 || s.P50 != 0 {
		t.Fatalf("after 10 minutes: %+v", s)
	}
	// t0's slot is reused 5 minutes later and starts from zero: the window
	// then holds the 2-minute request and the new one, not t0's.
	w.observeAt(t0.Add(windowSlots*slotWidth), 7*time.Millisecond, 200)
	if s := w.summaryAt(t0.Add(windowSlots * slotWidth)); s.Requests != 2 || s.Errors != 1 {
		t.Fatalf("reused slot: %+v", s)
	}
}

func TestLatencyConcurrent(t *testing.T) {
	w := NewLatencyWindow()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				w.Observe(time.Duration(g*1000+i)*time.Microsecond, 200)
			}
		}()
	}
	wg.Wait()
	// The test may straddle a slot boundary; nothing is lost either way.
	if s := w.Summary(); s.Requests != 40000 {
		t.Fatalf("requests %d, want 40000", s.Requests)
	}
}

func TestAPIProbe(t *testing.T) {
	w := NewLatencyWindow()
	p := NewAPIProbe(w)
	var s Snapshot
	p.Read(t.Context()).Place(&s)
	if s.API.Status != StatusOK || s.API.Requests == nil || *s.API.Requests != 0 || s.API.P50MS != nil || s.API.ErrorPercent != nil {
		t.Fatalf("empty window: %+v", s.API)
	}
	w.Observe(2*time.Millisecond, 200)
	w.Observe(4*time.Millisecond, 500)
	p.Read(t.Context()).Place(&s)
	if *s.API.Requests != 2 || *s.API.ErrorPercent != 50 || s.API.P99MS == nil || *s.API.P99MS < 3.5 || *s.API.P99MS > 4.5 {
		t.Fatalf("two requests: %+v p99 %v", s.API, *s.API.P99MS)
	}
}

// BenchmarkLatencyObserve is the middleware's cost per request, contended
// by every core.
func BenchmarkLatencyObserve(b *testing.B) {
	w := NewLatencyWindow()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := 1500 * time.Microsecond
		for pb.Next() {
			w.Observe(d, 200)
		}
	})
}

func BenchmarkLatencySummary(b *testing.B) {
	w := NewLatencyWindow()
	for i := range 100000 {
		w.Observe(time.Duration(i)*time.Microsecond, 200)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.Summary()
	}
}
