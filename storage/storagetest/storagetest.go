// Package storagetest is the conformance suite every storage.Store must pass.
// Each backend's tests call Run with a function that opens a fresh, empty
// store; the suite then checks the behaviour callers rely on (ordering,
// filters, details round trip, retention under concurrency, atomic batches,
// settings, migrations) the same way for both.
//
// Helpers that open a real store for tests in other packages live beside the
// backends, in storage/sqlite/sqlitetest and storage/postgres/postgrestest;
// they cannot live here, since the backends' own tests import this package.
package storagetest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

// Opener returns a fresh, empty, migrated store whose retention keeps keep
// events, and arranges for it to be closed when t ends.
type Opener func(t *testing.T, keep int) storage.Store

// Run runs the conformance suite, each case a subtest on its own store.
func Run(t *testing.T, open Opener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Ping", testPing},
		{"InsertThenListNewestFirst", testInsertThenList},
		{"OccurredAt", testOccurredAt},
		{"TypeFilter", testTypeFilter},
		{"MarksOnly", testMarksOnly},
		{"Limit", testLimit},
		{"CursorPagination", testCursor},
		{"DetailsRoundTrip", testDetailsRoundTrip},
		{"NullEmail", testNullEmail},
		{"InvalidDetailsRejected", testInvalidDetails},
		{"RetentionBoundary", testRetentionBoundary},
		{"RetentionSmallKeep", testRetentionSmallKeep},
		{"RetentionBatchLargerThanThreshold", testRetentionBigBatch},
		{"ConcurrentInserts", testConcurrentInserts},
		{"ConcurrentInsertsCrossingThreshold", testConcurrentRetention},
		{"BatchAllOrNothing", testBatchAtomic},
		{"ConcurrentBadBatchesFailAlone", testConcurrentBadBatches},
		{"Settings", testSettings},
		{"SettingsConcurrent", testSettingsConcurrent},
		{"MigrationsUpDownUp", testMigrations},
		{"IdempotencyKey", testIdempotencyKey},
		{"IdempotencyKeyConcurrent", testIdempotencyConcurrent},
		{"IdempotencyKeyAfterPrune", testIdempotencyAfterPrune},
		{"IdempotencyKeyExpiry", testIdempotencyKeyExpiry},
		{"IdempotencyKeyBadBatch", testIdempotencyBadBatch},
		{"DeleteEventsByEmail", testDeleteByEmail},
		{"ListFilters", testListFilters},
		{"Tokens", testTokens},
		{"Source", testSource},
		{"VitalsOwnBudget", testVitalsBudget},
		{"SourcesConcurrent", testSourcesConcurrent},
		{"HistoryChunks", testHistoryChunks},
		{"LeaseAndRollup", testLeaseAndRollup},
		{"Instances", testInstances},
		{"Notifications", testNotifications},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// ctxFor bounds every case, so that a hung store fails the test instead of
// stalling the whole run.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func ptr(s string) *string { return &s }

// ev makes a valid event; i tells events apart.
func ev(typ string, i int) storage.NewEvent {
	return storage.NewEvent{Type: typ, Message: fmt.Sprintf("event %d", i)}
}

func insert(t *testing.T, ctx context.Context, s storage.Store, events ...storage.NewEvent) []storage.Event {
	t.Helper()
	got, err := s.InsertEvents(ctx, events)
	if err != nil {
		t.Fatalf("InsertEvents(%d events): %v", len(events), err)
	}
	if len(got) != len(events) {
		t.Fatalf("InsertEvents returned %d events, want %d", len(got), len(events))
	}
	return got
}

// insertN inserts n events in batches of batch and returns them in order.
func insertN(t *testing.T, ctx context.Context, s storage.Store, n, batch int) []storage.Event {
	t.Helper()
	var out []storage.Event
	for done := 0; done < n; {
		k := min(batch, n-done)
		evs := make([]storage.NewEvent, k)
		for i := range evs {
			evs[i] = ev("bulk", done+i)
		}
		out = append(out, insert(t, ctx, s, evs...)...)
		done += k
	}
	return out
}

// all lists every stored event, newest first.
func all(t *testing.T, ctx context.Context, s storage.Store) []storage.Event {
	t.Helper()
	got, err := s.ListEvents(ctx, storage.EventFilter{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	return got
}

// newer orders events newest first: created_at desc, id desc.
func newer(a, b storage.Event) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

func ids(evs []storage.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// checkNewestFirst fails unless evs are strictly in newest-first order.
func checkNewestFirst(t *testing.T, evs []storage.Event) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if newer(evs[i-1], evs[i]) >= 0 {
			t.Fatalf("events %d (id %d, %s) and %d (id %d, %s) are not newest first",
				i-1, evs[i-1].ID, evs[i-1].CreatedAt.Format(time.RFC3339Nano),
				i, evs[i].ID, evs[i].CreatedAt.Format(time.RFC3339Nano))
		}
	}
}

// sameEvent compares two events, details semantically (PostgreSQL's jsonb
// normalises whitespace and key order).
func sameEvent(t *testing.T, got, want storage.Event) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.Message != want.Message {
		t.Errorf("event = {id %d, %q, %q}, want {id %d, %q, %q}", got.ID, got.Type, got.Message, want.ID, want.Type, want.Message)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("event %d created_at = %s, want %s", want.ID, got.CreatedAt.Format(time.RFC3339Nano), want.CreatedAt.Format(time.RFC3339Nano))
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("event %d created_at location = %v, want UTC", want.ID, got.CreatedAt.Location())
	}
	if (got.UserEmail == nil) != (want.UserEmail == nil) || (got.UserEmail != nil && *got.UserEmail != *want.UserEmail) {
		t.Errorf("event %d user_email = %v, want %v", want.ID, deref(got.UserEmail), deref(want.UserEmail))
	}
	if !sameJSON(got.Details, want.Details) {
		t.Errorf("event %d details = %s, want %s", want.ID, got.Details, want.Details)
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

// sameJSON compares JSON values semantically; nil equals only nil. Numbers
// are compared as written (UseNumber), so the cases avoid exponents, which
// jsonb rewrites.
func sameJSON(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	va, errA := decodeJSON(a)
	vb, errB := decodeJSON(b)
	return errA == nil && errB == nil && reflect.DeepEqual(va, vb)
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func testPing(t *testing.T, open Opener) {
	s := open(t, storage.DefaultEventsKeep)
	if err := s.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if b := s.Backend(); b != "sqlite" && b != "postgres" {
		t.Errorf("Backend() = %q, want sqlite or postgres", b)
	}
}

func testInsertThenList(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	if got := all(t, ctx, s); len(got) != 0 {
		t.Fatalf("a fresh store lists %d events", len(got))
	}

	var want []storage.Event
	start := time.Now().Add(-time.Second)
	for i := range 3 {
		got := insert(t, ctx, s, storage.NewEvent{Type: "user_registered", Message: fmt.Sprintf("single %d", i), UserEmail: ptr("a@example.com")})
		want = append(want, got...)
	}
	batch := insert(t, ctx, s, ev("track_added", 1), ev("track_added", 2), ev("stream_started", 3))
	want = append(want, batch...)

	// Insert's answer: ids strictly rising in input order, one created_at
	// for the batch, times in UTC and plausible.
	for i, e := range want {
		if e.ID <= 0 {
			t.Fatalf("event %d has id %d", i, e.ID)
		}
		if i > 0 && e.ID <= want[i-1].ID {
			t.Fatalf("ids not rising in input order: %v", ids(want))
		}
		if e.CreatedAt.Location() != time.UTC {
			t.Errorf("event %d created_at location %v, want UTC", e.ID, e.CreatedAt.Location())
		}
		if e.CreatedAt.Before(start) || e.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d created_at %s is not about now", e.ID, e.CreatedAt)
		}
	}
	for _, e := range batch[1:] {
		if !e.CreatedAt.Equal(batch[0].CreatedAt) {
			t.Errorf("batch created_at differ: %s vs %s", e.CreatedAt, batch[0].CreatedAt)
		}
	}
	if batch[0].Message != "event 1" || batch[2].Type != "stream_started" {
		t.Errorf("batch not returned in input order: %+v", batch)
	}

	got := all(t, ctx, s)
	if len(got) != len(want) {
		t.Fatalf("listed %d events, want %d", len(got), len(want))
	}
	checkNewestFirst(t, got)
	slices.SortFunc(want, newer)
	for i := range want {
		sameEvent(t, got[i], want[i])
	}
	// Within the batch (one timestamp) the id decides: the last input is
	// the newest.
	if got[0].ID != batch[2].ID {
		t.Errorf("newest event is %d, want the batch's last, %d", got[0].ID, batch[2].ID)
	}
}

// An event's OccurredAt, when set, is its created_at (at the backend's
// precision, at least milliseconds), in a batch beside events without one,
// which keep the commit's time; the list orders them by that time.
func testOccurredAt(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	start := time.Now().Add(-time.Second)
	// Nanoseconds that neither backend keeps, and not in UTC.
	yesterday := time.Now().Add(-26 * time.Hour).Truncate(time.Second).Add(123456789).In(time.FixedZone("MSK", 3*3600))
	hourAgo := time.Now().Add(-time.Hour)
	a, b, c := ev("user_registered", 1), ev("stream_started", 2), ev("track_added", 3)
	a.OccurredAt, c.OccurredAt = &yesterday, &hourAgo
	got := insert(t, ctx, s, a, b, c)

	within := func(got, want time.Time) bool {
		return !got.After(want) && want.Sub(got) < time.Millisecond
	}
	if !within(got[0].CreatedAt, yesterday) || !within(got[2].CreatedAt, hourAgo) {
		t.Errorf("created_at = %s, %s; want %s, %s to the millisecond", got[0].CreatedAt, got[2].CreatedAt, yesterday, hourAgo)
	}
	if got[1].CreatedAt.Before(start) || got[1].CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("event without occurred_at: created_at %s is not about now", got[1].CreatedAt)
	}
	for _, e := range got {
		if e.CreatedAt.Location() != time.UTC {
			t.Errorf("event %d created_at location %v, want UTC", e.ID, e.CreatedAt.Location())
		}
	}
	listed := all(t, ctx, s)
	if len(listed) != 3 {
		t.Fatalf("listed %d events, want 3", len(listed))
	}
	for i, want := range []storage.Event{got[1], got[2], got[0]} {
		sameEvent(t, listed[i], want)
	}
}

// MarksOnly lists the same events in the same order with their id, type,
// source and time, and nothing of their content; with a search it is
// ignored, since the search matches the content.
func testMarksOnly(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	insert(t, ctx, s, ev("a", 1), ev("b", 2), ev("a", 3))
	full, err := s.ListEvents(ctx, storage.EventFilter{Types: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	marks, err := s.ListEvents(ctx, storage.EventFilter{Types: []string{"a", "b"}, MarksOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(marks) != len(full) || len(full) != 3 {
		t.Fatalf("%d marks, %d events, want 3 each", len(marks), len(full))
	}
	for i, m := range marks {
		e := full[i]
		if m.ID != e.ID || m.Type != e.Type || m.Source != e.Source || !m.CreatedAt.Equal(e.CreatedAt) {
			t.Errorf("mark %d = %+v, event %+v", i, m, e)
		}
		if m.Message != "" || m.UserEmail != nil || m.Details != nil {
			t.Errorf("mark %d carries content: %+v", i, m)
		}
		if e.Message == "" {
			t.Errorf("event %d has no message: %+v", i, e)
		}
	}
	searched, err := s.ListEvents(ctx, storage.EventFilter{Search: full[0].Message, MarksOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(searched) == 0 || searched[0].Message != full[0].Message {
		t.Errorf("a search with MarksOnly = %+v, want the matching events with their content", searched)
	}
}

func testTypeFilter(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	insert(t, ctx, s, ev("a", 1), ev("b", 2), ev("c", 3), ev("a", 4), ev("b", 5), ev("a", 6))

	for _, tc := range []struct {
		types []string
		want  int
	}{
		{nil, 6},
		{[]string{"a"}, 3},
		{[]string{"a", "c"}, 4},
		{[]string{"c", "b", "a"}, 6},
		{[]string{"nope"}, 0},
		{[]string{"a'); DROP TABLE activity_events; --"}, 0},
	} {
		got, err := s.ListEvents(ctx, storage.EventFilter{Types: tc.types})
		if err != nil {
			t.Fatalf("ListEvents(%q): %v", tc.types, err)
		}
		if len(got) != tc.want {
			t.Errorf("ListEvents(%q) = %d events, want %d", tc.types, len(got), tc.want)
		}
		checkNewestFirst(t, got)
		for _, e := range got {
			if len(tc.types) > 0 && !slices.Contains(tc.types, e.Type) {
				t.Errorf("ListEvents(%q) returned type %q", tc.types, e.Type)
			}
		}
	}
	// The filter combines with the limit: the newest of the type.
	got, err := s.ListEvents(ctx, storage.EventFilter{Types: []string{"a"}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Message != "event 6" || got[1].Message != "event 4" {
		t.Errorf("newest two of type a = %+v", got)
	}
}

func testLimit(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	inserted := insertN(t, ctx, s, 10, 4)
	for _, limit := range []int{1, 3, 10, 50} {
		got, err := s.ListEvents(ctx, storage.EventFilter{Limit: limit})
		if err != nil {
			t.Fatalf("ListEvents(limit %d): %v", limit, err)
		}
		want := min(limit, 10)
		if len(got) != want {
			t.Fatalf("ListEvents(limit %d) = %d events, want %d", limit, len(got), want)
		}
		for i, e := range got {
			if e.ID != inserted[len(inserted)-1-i].ID {
				t.Errorf("limit %d: event %d is id %d, want %d", limit, i, e.ID, inserted[len(inserted)-1-i].ID)
			}
		}
	}
}

func testCursor(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	// Batches share a created_at, so pages must break ties by id.
	insertN(t, ctx, s, 11, 4)
	insert(t, ctx, s, ev("other", 99))
	want := all(t, ctx, s)

	var got []storage.Event
	f := storage.EventFilter{Limit: 3}
	for range 10 {
		page, err := s.ListEvents(ctx, f)
		if err != nil {
			t.Fatalf("ListEvents(%+v): %v", f, err)
		}
		got = append(got, page...)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.Before = &storage.EventCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("paged ids %v, want %v", ids(got), ids(want))
	}

	// The cursor combines with the type filter.
	f = storage.EventFilter{Types: []string{"bulk"}, Before: &storage.EventCursor{CreatedAt: want[0].CreatedAt, ID: want[0].ID}}
	page, err := s.ListEvents(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 11 {
		t.Errorf("bulk events before the newest = %d, want 11", len(page))
	}
}

func testDetailsRoundTrip(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	cases := []struct {
		name    string
		details json.RawMessage
		want    json.RawMessage
	}{
		{"nil", nil, nil},
		{"json null", json.RawMessage(`null`), nil},
		{"empty object", json.RawMessage(`{}`), json.RawMessage(`{}`)},
		{"flat", json.RawMessage(`{"stream_id": 42, "title": "Morning show", "live": true, "bitrate": 128.5}`), nil},
		{"nested", json.RawMessage(`{"user": {"id": 7, "roles": ["admin", "dj"], "profile": {"city": "Москва", "tz": null}}, "tags": [[1, 2], {"k": "v"}, []]}`), nil},
		{"cyrillic", json.RawMessage(`{"name": "Иван Петров", "трек": "Песня о тревожной молодости"}`), nil},
		{"emoji", json.RawMessage(`{"mood": "🎧🔥", "flag": "🇷🇺", "family": "👨‍👩‍👧‍👦"}`), nil},
		{"escapes", json.RawMessage(`{"quote": "say \"hi\"", "backslash": "C:\\music\\", "newline": "a\nb", "tab": "\t", "unicode escape": "\u00e9\u2603", "html": "<script>alert('x')</script>"}`), nil},
		{"whitespace and key order", json.RawMessage("{\n  \"b\" : 1,\n  \"a\" : [ 1 , 2 ]\n}"), nil},
		{"big numbers", json.RawMessage(`{"big": 9007199254740993, "neg": -12, "dec": 0.125}`), nil},
	}
	evs := make([]storage.NewEvent, len(cases))
	for i, c := range cases {
		evs[i] = storage.NewEvent{Type: "details", Message: c.name + " — сообщение 🎵", Details: c.details}
	}
	// Once as a batch and once one by one: both paths must round-trip.
	stored := insert(t, ctx, s, evs...)
	for _, e := range evs {
		stored = append(stored, insert(t, ctx, s, e)...)
	}
	listed := all(t, ctx, s)
	byID := make(map[int64]storage.Event, len(listed))
	for _, e := range listed {
		byID[e.ID] = e
	}
	for i, st := range stored {
		c := cases[i%len(cases)]
		want := c.want
		if want == nil && c.details != nil && !storage.IsNullDetails(c.details) {
			want = c.details
		}
		if !sameJSON(st.Details, want) {
			t.Errorf("%s: InsertEvents details = %s, want %s", c.name, st.Details, want)
		}
		got, ok := byID[st.ID]
		if !ok {
			t.Fatalf("%s: event %d not listed", c.name, st.ID)
		}
		if want == nil && got.Details != nil {
			t.Errorf("%s: listed details = %q, want nil", c.name, got.Details)
		}
		if !sameJSON(got.Details, want) {
			t.Errorf("%s: listed details = %s, want %s", c.name, got.Details, want)
		}
		if got.Message != evs[i%len(cases)].Message {
			t.Errorf("%s: message = %q, want %q", c.name, got.Message, evs[i%len(cases)].Message)
		}
		if got.Details != nil && !json.Valid(got.Details) {
			t.Errorf("%s: listed details are not valid JSON: %q", c.name, got.Details)
		}
	}
}

func testNullEmail(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	stored := insert(t, ctx, s,
		storage.NewEvent{Type: "stream_started", Message: "no user"},
		storage.NewEvent{Type: "user_registered", Message: "user", UserEmail: ptr("ivan.petrov@пример.рф")},
		storage.NewEvent{Type: "user_registered", Message: "empty email", UserEmail: ptr("")},
	)
	if stored[0].UserEmail != nil {
		t.Errorf("InsertEvents user_email = %q, want nil", *stored[0].UserEmail)
	}
	got := all(t, ctx, s)
	slices.Reverse(got)
	for i := range stored {
		sameEvent(t, got[i], stored[i])
	}
}

func testInvalidDetails(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	for _, d := range []string{`{"a": `, `{'a': 1}`, `not json`} {
		if _, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "x", Message: "m", Details: json.RawMessage(d)}}); err == nil {
			t.Errorf("InsertEvents accepted details %q", d)
		}
	}
	if got := all(t, ctx, s); len(got) != 0 {
		t.Errorf("%d events stored after rejected inserts", len(got))
	}
}

func testRetentionBoundary(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	keep := storage.DefaultEventsKeep
	threshold := storage.PruneThreshold(keep)
	s := open(t, keep)

	inserted := insertN(t, ctx, s, threshold, 100)
	if got := all(t, ctx, s); len(got) != threshold {
		t.Fatalf("after %d inserts %d events are stored, want all %d", threshold, len(got), threshold)
	}
	inserted = append(inserted, insert(t, ctx, s, ev("last", threshold))...)
	got := all(t, ctx, s)
	if len(got) != keep {
		t.Fatalf("after insert %d, %d events are stored, want %d", threshold+1, len(got), keep)
	}
	checkNewestFirst(t, got)
	wantIDs := ids(inserted[len(inserted)-keep:])
	slices.Reverse(wantIDs)
	if !slices.Equal(ids(got), wantIDs) {
		t.Fatalf("survivors are not the newest %d by id: got %d..%d, want %d..%d",
			keep, got[len(got)-1].ID, got[0].ID, wantIDs[len(wantIDs)-1], wantIDs[0])
	}
	// The hysteresis: the next insert does not prune again.
	insert(t, ctx, s, ev("after", 0))
	if got := all(t, ctx, s); len(got) != keep+1 {
		t.Fatalf("after one more insert %d events are stored, want %d", len(got), keep+1)
	}
}

// model is the retention rule applied to a count, for checking a store step
// by step.
func model(n, added, keep int) int {
	n += added
	if storage.ShouldPrune(int64(n), keep) {
		return keep
	}
	return n
}

func testRetentionSmallKeep(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const keep = 10
	s := open(t, keep)
	var inserted []storage.Event
	n := 0
	for i := range 40 {
		inserted = append(inserted, insert(t, ctx, s, ev("small", i))...)
		n = model(n, 1, keep)
		got := all(t, ctx, s)
		if len(got) != n {
			t.Fatalf("after insert %d: %d events stored, want %d", i+1, len(got), n)
		}
		wantIDs := ids(inserted[len(inserted)-n:])
		slices.Reverse(wantIDs)
		if !slices.Equal(ids(got), wantIDs) {
			t.Fatalf("after insert %d: stored %v, want the newest %v", i+1, ids(got), wantIDs)
		}
	}
	// Batches: one that stays under the threshold, one that crosses it.
	for _, size := range []int{1, 3, 7} {
		inserted = append(inserted, insertN(t, ctx, s, size, size)...)
		n = model(n, size, keep)
		if got := all(t, ctx, s); len(got) != n {
			t.Fatalf("after a batch of %d: %d events stored, want %d", size, len(got), n)
		}
	}
}

func testRetentionBigBatch(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const keep = 10
	s := open(t, keep)
	insertN(t, ctx, s, 5, 5)
	batch := insertN(t, ctx, s, 25, 25)
	got := all(t, ctx, s)
	wantIDs := ids(batch[len(batch)-keep:])
	slices.Reverse(wantIDs)
	if !slices.Equal(ids(got), wantIDs) {
		t.Fatalf("after a batch of 25 with keep %d: stored %v, want %v", keep, ids(got), wantIDs)
	}
}

// concurrently runs fn(worker) on workers goroutines and collects what each
// returns.
func concurrently(t *testing.T, workers int, fn func(worker int) ([]storage.Event, error)) []storage.Event {
	t.Helper()
	var (
		mu   sync.Mutex
		out  []storage.Event
		errs []error
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			evs, err := fn(w)
			mu.Lock()
			defer mu.Unlock()
			out = append(out, evs...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

func testConcurrentInserts(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const workers, each = 16, 100
	s := open(t, 1_000_000)
	inserted := concurrently(t, workers, func(w int) ([]storage.Event, error) {
		var out []storage.Event
		for i := range each {
			got, err := s.InsertEvents(ctx, []storage.NewEvent{ev(fmt.Sprintf("w%d", w), i)})
			if err != nil {
				return out, fmt.Errorf("worker %d insert %d: %w", w, i, err)
			}
			out = append(out, got...)
		}
		return out, nil
	})
	seen := make(map[int64]bool, len(inserted))
	for _, e := range inserted {
		if seen[e.ID] {
			t.Fatalf("id %d returned twice", e.ID)
		}
		seen[e.ID] = true
	}
	got := all(t, ctx, s)
	if len(got) != workers*each {
		t.Fatalf("%d events stored, want %d", len(got), workers*each)
	}
	checkNewestFirst(t, got)
	for _, e := range got {
		if !seen[e.ID] {
			t.Fatalf("stored event %d was never returned by InsertEvents", e.ID)
		}
	}
}

func testConcurrentRetention(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const keep, workers, each = 10, 16, 25
	threshold := storage.PruneThreshold(keep)
	s := open(t, keep)
	inserted := concurrently(t, workers, func(w int) ([]storage.Event, error) {
		var out []storage.Event
		for i := range each {
			// Mostly single events, now and then a small batch.
			evs := []storage.NewEvent{ev(fmt.Sprintf("w%d", w), i)}
			if i%5 == 4 {
				evs = append(evs, ev(fmt.Sprintf("w%d", w), 1000+i), ev(fmt.Sprintf("w%d", w), 2000+i))
			}
			got, err := s.InsertEvents(ctx, evs)
			if err != nil {
				return out, fmt.Errorf("worker %d insert %d: %w", w, i, err)
			}
			out = append(out, got...)
		}
		return out, nil
	})
	got := all(t, ctx, s)
	if len(got) < keep || len(got) > threshold {
		t.Fatalf("%d events stored after concurrent inserts, want %d..%d", len(got), keep, threshold)
	}
	// Nothing among the newest keep of everything inserted was deleted.
	slices.SortFunc(inserted, newer)
	stored := make(map[int64]bool, len(got))
	for _, e := range got {
		stored[e.ID] = true
	}
	for _, e := range inserted[:keep] {
		if !stored[e.ID] {
			t.Fatalf("event %d, among the newest %d, was deleted; stored %v", e.ID, keep, ids(got))
		}
	}
	// The counter is still exact: sequential inserts follow the model
	// from the count actually stored.
	n := len(got)
	for i := range 2 * threshold {
		insert(t, ctx, s, ev("after", i))
		n = model(n, 1, keep)
		if got := all(t, ctx, s); len(got) != n {
			t.Fatalf("sequential insert %d after the concurrent ones: %d stored, want %d", i+1, len(got), n)
		}
	}
}

func testBatchAtomic(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const keep = 10
	s := open(t, keep)
	insert(t, ctx, s, ev("ok", 1), ev("ok", 2))

	bad := []storage.NewEvent{ev("ok", 3), {Type: strings.Repeat("x", 51), Message: "type too long"}, ev("ok", 4)}
	if _, err := s.InsertEvents(ctx, bad); err == nil {
		t.Fatal("InsertEvents accepted a 51-character type")
	}
	longEmail := strings.Repeat("a", 250) + "@b.com"
	bad = []storage.NewEvent{ev("ok", 5), {Type: "ok", Message: "email too long", UserEmail: &longEmail}}
	if _, err := s.InsertEvents(ctx, bad); err == nil {
		t.Fatal("InsertEvents accepted a 256-character email")
	}
	// A 50-character type and a Cyrillic one of 50 characters (100 bytes)
	// both fit: the limit counts characters, as varchar(50) does.
	insert(t, ctx, s, storage.NewEvent{Type: strings.Repeat("x", 50), Message: "max"})
	insert(t, ctx, s, storage.NewEvent{Type: strings.Repeat("ж", 50), Message: "max cyrillic"})

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.InsertEvents(cancelled, []storage.NewEvent{ev("ok", 6), ev("ok", 7)}); err == nil {
		t.Fatal("InsertEvents succeeded with a cancelled context")
	}

	got := all(t, ctx, s)
	if len(got) != 4 {
		t.Fatalf("%d events stored, want the 4 good ones: %+v", len(got), got)
	}
	// Failed batches did not move the retention counter: the prune comes
	// exactly when the model says.
	n := len(got)
	for i := range 15 {
		insert(t, ctx, s, ev("ok", 100+i))
		n = model(n, 1, keep)
		if got := all(t, ctx, s); len(got) != n {
			t.Fatalf("after failed batches, insert %d: %d stored, want %d", i+1, len(got), n)
		}
	}
}

// testConcurrentBadBatches: stores may commit concurrent calls together; a
// call with a rejected event must fail alone, all of it, and every other
// call must be stored whole.
func testConcurrentBadBatches(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const workers, each = 16, 20
	s := open(t, 1_000_000)
	var (
		mu     sync.Mutex
		failed = map[string]bool{}
	)
	inserted := concurrently(t, workers, func(w int) ([]storage.Event, error) {
		var out []storage.Event
		for i := range each {
			tag := fmt.Sprintf("w%d-%d", w, i)
			evs := []storage.NewEvent{
				{Type: "good", Message: tag + "/a"},
				{Type: "good", Message: tag + "/b"},
			}
			bad := (w+i)%3 == 0
			if bad {
				evs = append(evs, storage.NewEvent{Type: strings.Repeat("x", 51), Message: tag + "/bad"})
			}
			got, err := s.InsertEvents(ctx, evs)
			switch {
			case bad && err == nil:
				return out, fmt.Errorf("call %s with a 51-character type succeeded", tag)
			case bad:
				mu.Lock()
				failed[tag] = true
				mu.Unlock()
			case err != nil:
				return out, fmt.Errorf("good call %s failed: %w", tag, err)
			default:
				out = append(out, got...)
			}
		}
		return out, nil
	})
	got := all(t, ctx, s)
	if len(got) != len(inserted) {
		t.Fatalf("%d events stored, want the %d of the good calls", len(got), len(inserted))
	}
	for _, e := range got {
		tag, _, _ := strings.Cut(e.Message, "/")
		if failed[tag] {
			t.Fatalf("event %q of a failed call was stored", e.Message)
		}
	}
}

func testSettings(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	if _, err := s.Setting(ctx, "session_key"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Setting(missing) error = %v, want ErrNotFound", err)
	}
	v, err := s.SetSettingIfAbsent(ctx, "session_key", "first")
	if err != nil || v != "first" {
		t.Fatalf("SetSettingIfAbsent(first) = %q, %v; want first", v, err)
	}
	v, err = s.SetSettingIfAbsent(ctx, "session_key", "second")
	if err != nil || v != "first" {
		t.Fatalf("SetSettingIfAbsent(second) = %q, %v; want the first value kept", v, err)
	}
	v, err = s.Setting(ctx, "session_key")
	if err != nil || v != "first" {
		t.Fatalf("Setting = %q, %v; want first", v, err)
	}
	// Values are opaque text: unicode, quotes, long.
	odd := "пароль 🔑 'quoted' \"double\" " + strings.Repeat("z", 5000)
	if v, err := s.SetSettingIfAbsent(ctx, "odd", odd); err != nil || v != odd {
		t.Fatalf("SetSettingIfAbsent(odd) = %.20q, %v", v, err)
	}
	// SetSetting replaces an existing value and creates a missing one.
	if err := s.SetSetting(ctx, "session_key", "replaced"); err != nil {
		t.Fatalf("SetSetting(existing): %v", err)
	}
	if v, err := s.Setting(ctx, "session_key"); err != nil || v != "replaced" {
		t.Fatalf("Setting after SetSetting = %q, %v; want replaced", v, err)
	}
	if v, err := s.SetSettingIfAbsent(ctx, "session_key", "third"); err != nil || v != "replaced" {
		t.Fatalf("SetSettingIfAbsent after SetSetting = %q, %v; want replaced", v, err)
	}
	if err := s.SetSetting(ctx, "new_key", odd); err != nil {
		t.Fatalf("SetSetting(missing): %v", err)
	}
	if v, err := s.Setting(ctx, "new_key"); err != nil || v != odd {
		t.Fatalf("Setting(new_key) = %.20q, %v", v, err)
	}
}

func testSettingsConcurrent(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	const workers = 16
	var (
		mu   sync.Mutex
		vals = map[string]int{}
		errs []error
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			v, err := s.SetSettingIfAbsent(ctx, "admin_hash", fmt.Sprintf("hash-%d", w))
			mu.Lock()
			defer mu.Unlock()
			vals[v]++
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if len(vals) != 1 {
		t.Fatalf("concurrent SetSettingIfAbsent returned different values: %v", vals)
	}
}

func testMigrations(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, 10)
	m, ok := s.(storage.Migrator)
	if !ok {
		t.Skipf("%T does not implement storage.Migrator", s)
	}
	insert(t, ctx, s, ev("before", 1))
	if _, err := s.SetSettingIfAbsent(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	checkStatus := func(wantApplied int) {
		t.Helper()
		st, err := m.MigrationStatus(ctx)
		if err != nil {
			t.Fatalf("MigrationStatus: %v", err)
		}
		if len(st) < 2 {
			t.Fatalf("MigrationStatus lists %d migrations, want at least 2", len(st))
		}
		for i, ms := range st {
			if ms.Version != int64(i+1) || ms.Name == "" {
				t.Errorf("migration %d = %+v", i, ms)
			}
			if want := i < wantApplied; ms.Applied != want {
				t.Errorf("migration %d (%s) applied = %v, want %v", ms.Version, ms.Name, ms.Applied, want)
			}
			if ms.Applied && ms.AppliedAt.IsZero() {
				t.Errorf("migration %d applied at zero time", ms.Version)
			}
		}
	}
	st, err := m.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	latest := len(st)
	checkStatus(latest)

	// Down to version 2 drops the event source (5), the tokens and the
	// idempotency keys (3 and 4), nothing older.
	if err := m.MigrateDownTo(ctx, 2); err != nil {
		t.Fatalf("MigrateDownTo(2): %v", err)
	}
	checkStatus(2)
	if _, err := s.Tokens(ctx); err == nil {
		t.Error("Tokens works with api_tokens dropped")
	}
	if v, err := s.Setting(ctx, "k"); err != nil || v != "v" {
		t.Errorf("Setting after down to 2 = %q, %v; want v", v, err)
	}

	// One step down drops the settings table only.
	if err := m.MigrateDown(ctx); err != nil {
		t.Fatalf("MigrateDown: %v", err)
	}
	checkStatus(1)
	if _, err := s.Setting(ctx, "k"); err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Setting after dropping settings = %v, want a missing-table error", err)
	}
	// The events survived: the data path needs every migration (the
	// source column of 5), so they are read after going up again, and the
	// schema is taken back down to where the case stands.
	if err := m.MigrateUp(ctx); err != nil {
		t.Fatalf("MigrateUp from 1: %v", err)
	}
	if got := all(t, ctx, s); len(got) != 1 || got[0].Source != storage.SourceApp {
		t.Errorf("events after one step down and up again = %+v, want the one app event", got)
	}
	if err := m.MigrateDownTo(ctx, 1); err != nil {
		t.Fatalf("MigrateDownTo(1): %v", err)
	}
	checkStatus(1)

	// All the way down: every table gone.
	if err := m.MigrateDownTo(ctx, 0); err != nil {
		t.Fatalf("MigrateDownTo(0): %v", err)
	}
	checkStatus(0)
	if err := m.MigrateDown(ctx); err != nil {
		t.Errorf("MigrateDown with nothing applied: %v", err)
	}
	if _, err := s.InsertEvents(ctx, []storage.NewEvent{ev("x", 1)}); err == nil {
		t.Error("InsertEvents works with the tables dropped")
	}
	if _, err := s.ListEvents(ctx, storage.EventFilter{}); err == nil {
		t.Error("ListEvents works with the tables dropped")
	}

	// And up again: empty tables, a working data path, retention included.
	if err := m.MigrateUp(ctx); err != nil {
		t.Fatalf("MigrateUp: %v", err)
	}
	checkStatus(latest)
	if err := m.MigrateUp(ctx); err != nil {
		t.Errorf("MigrateUp with nothing pending: %v", err)
	}
	if got := all(t, ctx, s); len(got) != 0 {
		t.Fatalf("%d events after down and up, want 0", len(got))
	}
	if _, err := s.Setting(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Setting after down and up = %v, want ErrNotFound", err)
	}
	n := 0
	for i := range 15 {
		insert(t, ctx, s, ev("after", i))
		n = model(n, 1, 10)
	}
	if got := all(t, ctx, s); len(got) != n {
		t.Errorf("after down, up and 15 inserts: %d stored, want %d", len(got), n)
	}
	if v, err := s.SetSettingIfAbsent(ctx, "k", "v2"); err != nil || v != "v2" {
		t.Errorf("SetSettingIfAbsent after down and up = %q, %v", v, err)
	}
}
