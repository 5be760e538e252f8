package storagetest

import (
	"sync"
	"testing"

	"github.com/vitalsdev/vitals/storage"
)

func testNotifications(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	n := func(key string) storage.Notification {
		return storage.Notification{Key: key, Channel: "webhook-ab12", Payload: `{"rule":"x"}`, CreatedMS: 1000, NextMS: 1000}
	}
	if err := s.EnqueueNotifications(ctx, []storage.Notification{n("a"), n("b")}); err != nil {
		t.Fatal(err)
	}
	// A repeat of a key (a retried transition) changes nothing.
	if err := s.EnqueueNotifications(ctx, []storage.Notification{n("a"), n("c")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListNotifications(ctx, 10); len(got) != 3 {
		t.Fatalf("%d notifications, want 3 (a, b, c)", len(got))
	}
	// Not due yet: nothing to claim.
	if got, err := s.ClaimNotifications(ctx, 999, 30_000, 10); err != nil || len(got) != 0 {
		t.Fatalf("claim before due: %v %v", got, err)
	}
	// Two claimers at once never take one notification twice.
	var mu sync.Mutex
	taken := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := s.ClaimNotifications(ctx, 2000, 30_000, 2)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, x := range got {
				taken[x.Key]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(taken) != 3 || taken["a"] != 1 || taken["b"] != 1 || taken["c"] != 1 {
		t.Fatalf("claimed %v, want each once", taken)
	}
	// Held: not claimed again until the hold ends.
	if got, _ := s.ClaimNotifications(ctx, 3000, 30_000, 10); len(got) != 0 {
		t.Fatalf("claimed while held: %v", got)
	}
	got, _ := s.ClaimNotifications(ctx, 40_000, 30_000, 10)
	if len(got) != 3 {
		t.Fatalf("after the hold: %d claimed", len(got))
	}
	for i, x := range got {
		x.Attempts = 1
		x.LastStatus = 200
		x.State, x.FinishedMS = storage.NotificationDelivered, 40_000+int64(i)
		if i == 2 {
			x.State, x.LastStatus, x.LastError, x.NextMS, x.FinishedMS = storage.NotificationPending, 503, "503 Service Unavailable", 50_000, 0
		}
		if err := s.FinishAttempt(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if again, _ := s.ClaimNotifications(ctx, 49_000, 30_000, 10); len(again) != 0 {
		t.Fatalf("a retry before its time: %v", again)
	}
	if again, _ := s.ClaimNotifications(ctx, 50_000, 30_000, 10); len(again) != 1 || again[0].Attempts != 1 || again[0].LastStatus != 503 {
		t.Fatalf("the retry: %+v", again)
	}
	// Pruning keeps pending ones, and the newest finished within keep.
	if err := s.PruneNotifications(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	list, _ := s.ListNotifications(ctx, 10)
	if len(list) != 2 {
		t.Fatalf("after pruning to 1 finished: %+v", list)
	}
	if err := s.PruneNotifications(ctx, 100_000, 1000); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListNotifications(ctx, 10); len(list) != 1 || list[0].State != storage.NotificationPending {
		t.Fatalf("after pruning by age: %+v", list)
	}
	// The spool's replay enqueues what it delivered (or failed) as
	// finished: on the log, never claimed.
	done := storage.Notification{Key: "spooled", Channel: "webhook-ab12", Payload: "{}", CreatedMS: 200_000, NextMS: 200_000,
		State: storage.NotificationDelivered, Attempts: 3, LastStatus: 204, FinishedMS: 210_000}
	failed := storage.Notification{Key: "spooled-failed", Channel: "webhook-ab12", Payload: "{}", CreatedMS: 200_000, NextMS: 200_000,
		State: storage.NotificationFailed, Attempts: 9, LastStatus: 500, LastError: "the receiver answered 500", FinishedMS: 220_000}
	if err := s.EnqueueNotifications(ctx, []storage.Notification{done, failed}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimNotifications(ctx, 300_000, 30_000, 10); len(got) != 1 || got[0].Key == "spooled" || got[0].Key == "spooled-failed" {
		t.Fatalf("claimed %+v, want only the pending one from before", got)
	}
	byKey := map[string]storage.Notification{}
	list, _ = s.ListNotifications(ctx, 10)
	for _, x := range list {
		byKey[x.Key] = x
	}
	if d := byKey["spooled"]; d.State != storage.NotificationDelivered || d.Attempts != 3 || d.LastStatus != 204 || d.FinishedMS != 210_000 {
		t.Errorf("a delivered one enqueued: %+v", d)
	}
	if f := byKey["spooled-failed"]; f.State != storage.NotificationFailed || f.LastError != "the receiver answered 500" || f.FinishedMS != 220_000 {
		t.Errorf("a failed one enqueued: %+v", f)
	}
}
