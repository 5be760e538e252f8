package storagetest

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/vitalsdev/vitals/storage"
)

// benchEvent is a typical event: a user, a small details object.
func benchEvent() storage.NewEvent {
	email := "listener@example.com"
	return storage.NewEvent{
		Type:      "track_added",
		Message:   "Track added to the morning playlist",
		UserEmail: &email,
		Details:   json.RawMessage(`{"track_id": 12345, "title": "Утренняя песня", "duration_s": 215}`),
	}
}

// BenchInsert measures InsertEvents with batches of size events, one caller
// at a time, and reports events/s.
func BenchInsert(b *testing.B, s storage.Store, size int) {
	evs := make([]storage.NewEvent, size)
	for i := range evs {
		evs[i] = benchEvent()
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.InsertEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// BenchInsertParallel measures single-event InsertEvents from 16 concurrent
// callers per GOMAXPROCS (like many HTTP clients posting at once) and
// reports events/s.
func BenchInsertParallel(b *testing.B, s storage.Store) {
	evs := []storage.NewEvent{benchEvent()}
	ctx := b.Context()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.InsertEvents(ctx, evs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchList measures ListEvents on a full table (keep events stored).
func BenchList(b *testing.B, s storage.Store, f storage.EventFilter) {
	ctx := b.Context()
	evs := make([]storage.NewEvent, 100)
	for i := range evs {
		evs[i] = benchEvent()
	}
	for range storage.DefaultEventsKeep / len(evs) {
		if _, err := s.InsertEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ListEvents(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchInsertKeyed is BenchInsert with a fresh idempotency key on every
// event, as the Go client sends them: the cost of the key look-up and
// claim beside the insert.
func BenchInsertKeyed(b *testing.B, s storage.Store, size int) {
	evs := make([]storage.NewEvent, size)
	ctx := b.Context()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range evs {
			n++
			evs[i] = benchEvent()
			evs[i].IdempotencyKey = "bench-" + strconv.Itoa(n)
		}
		if _, err := s.InsertEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}
