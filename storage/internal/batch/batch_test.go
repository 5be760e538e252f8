package batch

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/internal/group"
)

func ptr(s string) *string { return &s }

func TestRepeatsAndFinish(t *testing.T) {
	a := &group.Call{Events: []storage.NewEvent{
		{Type: "t", Message: "a0", IdempotencyKey: "k1"},
		{Type: "t", Message: "a1"},
	}}
	b := &group.Call{Events: []storage.NewEvent{
		{Type: "t", Message: "b0", IdempotencyKey: "k1", UserEmail: ptr("x@example.com")},
		{Type: "t", Message: "b1", IdempotencyKey: "k2"},
		{Type: "t", Message: "b2", IdempotencyKey: "k2"},
	}}
	bt := New([]*group.Call{a, b})
	if len(bt.Events) != 5 {
		t.Fatalf("%d events, want 5", len(bt.Events))
	}
	if !slices.Equal(bt.Keys(), []string{"k1", "k2"}) {
		t.Fatalf("Keys = %v", bt.Keys())
	}
	var repeats []int
	for i := range bt.Events {
		if bt.Repeats(i) {
			repeats = append(repeats, i)
		}
	}
	if !slices.Equal(repeats, []int{2, 4}) {
		t.Fatalf("repeats = %v, want [2 4]", repeats)
	}
	now := time.Now().UTC()
	out := make([]storage.Event, 5)
	for _, i := range []int{0, 1, 3} {
		out[i] = Fresh(bt.Events[i], int64(10+i), now)
	}
	out[0].UserEmail = ptr("first@example.com")
	bt.Finish(out)
	if len(a.Out) != 2 || len(b.Out) != 3 {
		t.Fatalf("calls got %d and %d answers", len(a.Out), len(b.Out))
	}
	if got := b.Out[0]; got.ID != 10 || !got.Duplicate || got.Message != "a0" || *got.UserEmail != "first@example.com" {
		t.Errorf("repeat of k1 = %+v", got)
	}
	if b.Out[0].UserEmail == out[0].UserEmail {
		t.Error("repeat shares its email pointer with the first answer")
	}
	if got := b.Out[2]; got.ID != 13 || !got.Duplicate || got.Message != "b1" {
		t.Errorf("repeat of k2 = %+v", got)
	}
	if a.Out[0].Duplicate || a.Out[1].Duplicate || b.Out[1].Duplicate {
		t.Error("a first answer is marked Duplicate")
	}
	if cap(a.Out) != 2 {
		t.Errorf("a's answers have capacity %d: an append would write into b's", cap(a.Out))
	}
}

func TestDuplicateOfPrunedAndStored(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sent := storage.NewEvent{Type: "t", Message: "as sent", Details: json.RawMessage(`{"a":1}`), Source: storage.SourceVitals}
	// Pruned: only id and created_at are known.
	got := DuplicateOf(storage.Event{ID: 7, CreatedAt: at}, sent)
	if !got.Duplicate || got.ID != 7 || !got.CreatedAt.Equal(at) || got.Message != "as sent" || got.Source != storage.SourceVitals || string(got.Details) != `{"a":1}` {
		t.Errorf("pruned duplicate = %+v", got)
	}
	sent.Details[2] = 'b'
	if string(got.Details) != `{"a":1}` {
		t.Error("details alias the caller's buffer")
	}
	// Stored: the stored event wins.
	got = DuplicateOf(storage.Event{ID: 8, Type: "t", Message: "stored", Source: storage.SourceApp, CreatedAt: at}, sent)
	if !got.Duplicate || got.Message != "stored" || got.Source != storage.SourceApp {
		t.Errorf("stored duplicate = %+v", got)
	}
}

func TestSourceAndCloneDetails(t *testing.T) {
	if Source(storage.NewEvent{}) != storage.SourceApp || Source(storage.NewEvent{Source: storage.SourceVitals}) != storage.SourceVitals {
		t.Error("Source does not default to app")
	}
	for _, d := range []string{"", " ", "null", " null "} {
		if CloneDetails(json.RawMessage(d)) != nil {
			t.Errorf("CloneDetails(%q) is not nil", d)
		}
	}
}
