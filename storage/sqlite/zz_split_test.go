package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"vitals/storage"
)

func benchListWhileWriting(b *testing.B, shared bool) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "x.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if shared {
		s.reader = s.writer
	}
	evs := make([]storage.NewEvent, 100)
	for i := range evs {
		evs[i] = storage.NewEvent{Type: "t", Message: "m"}
	}
	for range 10 {
		s.InsertEvents(b.Context(), evs)
	}
	ctx, cancel := context.WithCancel(b.Context())
	var wg sync.WaitGroup
	var writes int
	wg.Go(func() {
		for ctx.Err() == nil {
			if _, err := s.InsertEvents(ctx, evs[:1]); err == nil {
				writes++
			}
		}
	})
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.ListEvents(ctx, storage.EventFilter{Limit: 50}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	cancel()
	wg.Wait()
	b.ReportMetric(float64(writes)/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lists/s")
	if shared {
		s.reader = nil
	}
}

func BenchmarkListWhileWritingSplit(b *testing.B)  { benchListWhileWriting(b, false) }
func BenchmarkListWhileWritingShared(b *testing.B) { benchListWhileWriting(b, true) }
