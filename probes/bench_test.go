package probes

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkTick measures one sampler tick over the real host probes of
// this machine: reading /proc and the cgroup files, statfs, merging and
// rendering the JSON. At the default 5 s interval, the tick's time over
// 5 s is vitals' idle CPU share (the target is under 0.1 % of a core).
func BenchmarkTick(b *testing.B) {
	s := NewSampler(SamplerConfig{}, HostProbes(HostConfig{DataDir: b.TempDir()})...)
	ctx := context.Background()
	s.Tick(ctx) // baseline for the delta probes
	b.ReportAllocs()
	for b.Loop() {
		s.Tick(ctx)
	}
	// (cpu may read "warming up" here: ticks a millisecond apart fall
	// within one 10 ms /proc/stat clock tick)
	if m := s.Latest().Snapshot.Memory; m.Status != StatusOK && runtime.GOOS == "linux" {
		b.Fatalf("memory %s: %s", m.Status, m.Reason)
	}
}

// BenchmarkLatest is what a request pays for the snapshot: one atomic load.
func BenchmarkLatest(b *testing.B) {
	s := NewSampler(SamplerConfig{}, HostProbes(HostConfig{})...)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if s.Latest() == nil {
				b.Fatal("nil")
			}
		}
	})
}

// TestHostProbesLive runs the real host probes on this machine: on Linux
// every host group must report.
func TestHostProbesLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("host probes read /proc: Linux only")
	}
	s := NewSampler(SamplerConfig{}, HostProbes(HostConfig{DataDir: t.TempDir()})...)
	s.Tick(context.Background())
	time.Sleep(50 * time.Millisecond) // /proc/stat counts 10 ms ticks
	r := s.Tick(context.Background())
	eachGroupState(&r.Snapshot, func(key string, st Status, reason string) {
		switch key {
		case "database", "redis", "api", "app":
			return // no probe here: not_configured
		}
		if st != StatusOK {
			t.Errorf("%s: %s %q", key, st, reason)
		}
	})
	t.Logf("%s", r.JSON)
}
