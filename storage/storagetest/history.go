package storagetest

import (
	"errors"
	"testing"

	"github.com/vitalsdev/vitals/storage"
)

func chunk(inst, series string, tier int, start, end int64) storage.HistoryChunk {
	return storage.HistoryChunk{Instance: inst, Tier: tier, Series: series, StartMS: start, EndMS: end, Points: 1,
		Data: []byte(inst + series)}
}

// testHistoryChunks: chunks replace the one of the same key, are found by
// range, instance and series, and pruned by age within their tier only.
func testHistoryChunks(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, 0)
	if err := s.PutHistoryChunks(ctx, []storage.HistoryChunk{
		chunk("a", "cpu.percent", 0, 0, 100), chunk("a", "memory.percent", 0, 0, 100),
		chunk("b", "cpu.percent", 0, 0, 100), chunk("a", "cpu.percent", 0, 200, 300),
		chunk("a", "cpu.percent", 1, 0, 1000),
	}); err != nil {
		t.Fatal(err)
	}
	repl := chunk("a", "cpu.percent", 0, 200, 350)
	repl.Data, repl.Points = []byte("replaced"), 2
	if err := s.PutHistoryChunks(ctx, []storage.HistoryChunk{repl}); err != nil {
		t.Fatal(err)
	}
	got, err := s.HistoryChunks(ctx, storage.HistoryQuery{Tier: 0, Instance: "a", Series: []string{"cpu.percent"}, FromMS: 150, ToMS: 400})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].Data) != "replaced" || got[0].EndMS != 350 || got[0].Points != 2 {
		t.Fatalf("range query: got %+v, want the replaced chunk alone", got)
	}
	all, err := s.HistoryChunks(ctx, storage.HistoryQuery{Tier: 0, FromMS: 0, ToMS: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 || all[0].Instance != "a" || all[3].Instance != "b" {
		t.Fatalf("every chunk of tier 0: got %d (%+v), want 4 ordered by instance", len(all), all)
	}
	n, err := s.PruneHistory(ctx, 0, 150)
	if err != nil || n != 3 {
		t.Fatalf("prune: %d, %v; want 3", n, err)
	}
	left, _ := s.HistoryChunks(ctx, storage.HistoryQuery{Tier: 1, FromMS: 0, ToMS: 1000})
	if len(left) != 1 {
		t.Fatalf("pruning tier 0 touched tier 1: %d chunks left", len(left))
	}
	if b, err := s.HistoryBytes(ctx); err != nil || b <= 0 {
		t.Fatalf("history bytes: %d, %v", b, err)
	}
}

// testLeaseAndRollup: one holder at a time, renewal, takeover only after
// expiry, and a roll-up commit refused (storing nothing) once the lease is
// lost.
func testLeaseAndRollup(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, 0)
	must := func(ok bool, err error, want bool, what string) {
		t.Helper()
		if err != nil || ok != want {
			t.Fatalf("%s: %v, %v; want %v", what, ok, err, want)
		}
	}
	ok, err := s.AcquireLease(ctx, "rollup", "a", 1000, 100)
	must(ok, err, true, "a takes the free lease")
	ok, err = s.AcquireLease(ctx, "rollup", "b", 1050, 100)
	must(ok, err, false, "b while a holds it")
	ok, err = s.AcquireLease(ctx, "rollup", "a", 1090, 100)
	must(ok, err, true, "a renews")
	ok, err = s.AcquireLease(ctx, "rollup", "b", 1150, 100)
	must(ok, err, false, "b before the renewed expiry")
	if err := s.CommitRollup(ctx, "rollup", "a", 1150, 1, 600, []storage.HistoryChunk{chunk("a", "x", 1, 0, 300)}); err != nil {
		t.Fatal(err)
	}
	if wm, err := s.HistoryWatermark(ctx, 1); err != nil || wm != 600 {
		t.Fatalf("watermark %d, %v; want 600", wm, err)
	}
	ok, err = s.AcquireLease(ctx, "rollup", "b", 1190, 100)
	must(ok, err, true, "b after the expiry")
	err = s.CommitRollup(ctx, "rollup", "a", 1200, 1, 900, []storage.HistoryChunk{chunk("a", "y", 1, 600, 900)})
	if !errors.Is(err, storage.ErrLeaseLost) {
		t.Fatalf("a's commit after the takeover: %v, want ErrLeaseLost", err)
	}
	if wm, _ := s.HistoryWatermark(ctx, 1); wm != 600 {
		t.Fatalf("refused commit moved the watermark to %d", wm)
	}
	if got, _ := s.HistoryChunks(ctx, storage.HistoryQuery{Tier: 1, Series: []string{"y"}, FromMS: 0, ToMS: 1000}); len(got) != 0 {
		t.Fatalf("refused commit stored %d chunks", len(got))
	}
	if err := s.ReleaseLease(ctx, "rollup", "b"); err != nil {
		t.Fatal(err)
	}
	ok, err = s.AcquireLease(ctx, "rollup", "a", 1201, 100)
	must(ok, err, true, "a after b released")
}

// testInstances: upsert replaces, list by id, an unset interval stored as
// the default, prune by last seen.
func testInstances(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, 0)
	for _, in := range []storage.Instance{
		{ID: "b", Region: "ams", Version: "1", StartedMS: 1, SeenMS: 10, Snapshot: []byte(`{}`)},
		{ID: "a", Region: "fra", Version: "1", StartedMS: 1, SeenMS: 10, Snapshot: []byte(`{}`)},
		{ID: "a", Region: "fra", Version: "2", StartedMS: 5, SeenMS: 50, IntervalMS: 5000, Snapshot: []byte(`{"x":1}`)},
	} {
		if err := s.UpsertInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Instances(ctx)
	if err != nil || len(got) != 2 || got[0].ID != "a" || got[0].Version != "2" || string(got[0].Snapshot) != `{"x":1}` ||
		got[0].IntervalMS != 5000 || got[1].IntervalMS != storage.DefaultInstanceInterval {
		t.Fatalf("instances: %+v, %v", got, err)
	}
	if n, err := s.PruneInstances(ctx, 20); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v; want 1", n, err)
	}
	if got, _ := s.Instances(ctx); len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("after prune: %+v", got)
	}
}
