package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

// The cases of issue 4's integration surface: idempotency keys, erasure by
// email, the list's time and text filters, stored API tokens.

func keyed(typ string, i int, key string) storage.NewEvent {
	e := ev(typ, i)
	e.IdempotencyKey = key
	return e
}

// count is how many events the store holds.
func count(t *testing.T, ctx context.Context, s storage.Store) int {
	t.Helper()
	return len(all(t, ctx, s))
}

func testIdempotencyKey(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)

	first := insert(t, ctx, s, storage.NewEvent{Type: "user_registered", Message: "first", UserEmail: ptr("a@example.com"), IdempotencyKey: "k-1"})[0]
	if first.Duplicate {
		t.Fatal("the first insert of a key is marked Duplicate")
	}
	// The same key again, with other content: nothing stored, the stored
	// event returned.
	again := insert(t, ctx, s, storage.NewEvent{Type: "other_type", Message: "second", IdempotencyKey: "k-1"})[0]
	if !again.Duplicate {
		t.Fatal("a repeated key is not marked Duplicate")
	}
	again.Duplicate = false
	sameEvent(t, again, first)
	if n := count(t, ctx, s); n != 1 {
		t.Fatalf("%d events stored after a repeated key, want 1", n)
	}

	// A batch: a new key twice, the stored key, no key, another new key.
	batch := insert(t, ctx, s,
		keyed("b", 1, "k-2"),
		keyed("b", 2, "k-2"),
		keyed("b", 3, "k-1"),
		ev("b", 4),
		keyed("b", 5, "k-3"),
	)
	wantDup := []bool{false, true, true, false, false}
	for i, e := range batch {
		if e.Duplicate != wantDup[i] {
			t.Errorf("batch event %d Duplicate = %v, want %v", i, e.Duplicate, wantDup[i])
		}
	}
	if batch[1].ID != batch[0].ID || batch[1].Message != "event 1" {
		t.Errorf("the batch's repeat of k-2 = {id %d, %q}, want the first's {id %d, event 1}", batch[1].ID, batch[1].Message, batch[0].ID)
	}
	if batch[2].ID != first.ID || batch[2].Message != "first" {
		t.Errorf("the batch's k-1 = {id %d, %q}, want the stored {id %d, first}", batch[2].ID, batch[2].Message, first.ID)
	}
	// New events get rising ids in input order, as without keys.
	if !(batch[0].ID < batch[3].ID && batch[3].ID < batch[4].ID) {
		t.Errorf("new events' ids %d, %d, %d do not rise in input order", batch[0].ID, batch[3].ID, batch[4].ID)
	}
	listed := all(t, ctx, s)
	if len(listed) != 4 {
		t.Fatalf("%d events stored, want 4", len(listed))
	}
	for _, e := range listed {
		if e.Message == "event 2" || e.Message == "event 3" || e.Message == "second" {
			t.Errorf("a repeat was stored: %+v", e)
		}
	}

	// Repeats within one call whose key is also sent by a later call.
	got := insert(t, ctx, s, keyed("c", 1, "k-3"), keyed("c", 2, "k-4"))
	if !got[0].Duplicate || got[0].ID != batch[4].ID || got[1].Duplicate {
		t.Errorf("k-3 again and new k-4 = %+v", got)
	}
	// A long key of 64 characters, multi-byte.
	long := strings.Repeat("ключ", 16)
	a := insert(t, ctx, s, keyed("d", 1, long))[0]
	b := insert(t, ctx, s, keyed("d", 2, long))[0]
	if a.Duplicate || !b.Duplicate || a.ID != b.ID {
		t.Errorf("64-character key: %+v then %+v", a, b)
	}
}

// testIdempotencyConcurrent is the rule clients rely on to retry freely:
// the same key sent at once from many callers is stored once, and every
// caller gets that one id. Batches of the same keys in different orders
// must not deadlock (PostgreSQL) nor store twice.
func testIdempotencyConcurrent(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, 1_000_000)
	const workers = 10

	for round := range 5 {
		key := fmt.Sprintf("same-%d", round)
		got := concurrently(t, workers, func(w int) ([]storage.Event, error) {
			return s.InsertEvents(ctx, []storage.NewEvent{keyed("same", w, key)})
		})
		fresh := 0
		for _, e := range got {
			if e.ID != got[0].ID {
				t.Fatalf("key %s: ids %d and %d returned", key, got[0].ID, e.ID)
			}
			if !e.Duplicate {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("key %s: %d callers were told the event is new, want 1", key, fresh)
		}
	}
	if n := count(t, ctx, s); n != 5 {
		t.Fatalf("%d events stored for 5 keys sent 10 times each, want 5", n)
	}

	const keys = 20
	got := concurrently(t, 8, func(w int) ([]storage.Event, error) {
		order := rand.Perm(keys)
		evs := make([]storage.NewEvent, 0, keys+1)
		for _, k := range order {
			evs = append(evs, keyed("perm", w, fmt.Sprintf("perm-%d", k)))
		}
		evs = append(evs, ev("nokey", w)) // always new
		out, err := s.InsertEvents(ctx, evs)
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", w, err)
		}
		for i, k := range order {
			out[i].Message = fmt.Sprintf("perm-%d", k) // the key, for the check below
		}
		return out, nil
	})
	byKey := map[string]int64{}
	fresh := map[string]int{}
	for _, e := range got {
		if e.Type == "nokey" {
			continue
		}
		if id, ok := byKey[e.Message]; ok && id != e.ID {
			t.Fatalf("key %s answered with ids %d and %d", e.Message, id, e.ID)
		}
		byKey[e.Message] = e.ID
		if !e.Duplicate {
			fresh[e.Message]++
		}
	}
	for k, n := range fresh {
		if n != 1 {
			t.Errorf("key %s stored %d times", k, n)
		}
	}
	if n := count(t, ctx, s); n != 5+keys+8 {
		t.Fatalf("%d events stored, want %d", n, 5+keys+8)
	}
}

// testIdempotencyAfterPrune: retention deletes events by count, but their
// keys stay, so a late retry still stores nothing.
func testIdempotencyAfterPrune(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const keep = 10
	s := open(t, keep)
	occurred := time.Now().Add(-time.Hour)
	orig := storage.NewEvent{Type: "kept_key", Message: "original", UserEmail: ptr("u@example.com"), IdempotencyKey: "late-retry", OccurredAt: &occurred}
	first := insert(t, ctx, s, orig)[0]
	insertN(t, ctx, s, 2*keep, 1)
	for _, e := range all(t, ctx, s) {
		if e.ID == first.ID {
			t.Fatal("retention kept the keyed event; the case needs it pruned")
		}
	}
	n := count(t, ctx, s)

	retry := insert(t, ctx, s, orig)[0]
	if !retry.Duplicate || retry.ID != first.ID || !retry.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("retry after prune = {id %d, %s, dup %v}, want {id %d, %s, dup true}",
			retry.ID, retry.CreatedAt, retry.Duplicate, first.ID, first.CreatedAt)
	}
	if retry.Message != "original" || retry.Type != "kept_key" {
		t.Errorf("retry after prune answered %q/%q, want the event as sent", retry.Type, retry.Message)
	}
	if got := count(t, ctx, s); got != n {
		t.Fatalf("%d events after the retry, want %d: it was stored again", got, n)
	}
	// The count is still exact: the model holds from here.
	for i := range 15 {
		insert(t, ctx, s, ev("after", i))
		n = model(n, 1, keep)
		if got := count(t, ctx, s); got != n {
			t.Fatalf("insert %d after the retry: %d stored, want %d", i+1, got, n)
		}
	}
}

// testIdempotencyKeyExpiry: keys older than the cut are pruned, younger
// ones stay; a pruned key stores anew.
func testIdempotencyKeyExpiry(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	first := insert(t, ctx, s, keyed("exp", 1, "expiring"))[0]
	if n, err := s.PruneIdempotencyKeys(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("PruneIdempotencyKeys(an hour ago) = %d, %v; want 0", n, err)
	}
	if again := insert(t, ctx, s, keyed("exp", 2, "expiring"))[0]; !again.Duplicate {
		t.Fatal("a young key was forgotten")
	}
	if n, err := s.PruneIdempotencyKeys(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("PruneIdempotencyKeys(in a minute) = %d, %v; want 1", n, err)
	}
	later := insert(t, ctx, s, keyed("exp", 3, "expiring"))[0]
	if later.Duplicate || later.ID == first.ID {
		t.Fatalf("after its key was pruned the event was not stored anew: %+v", later)
	}
	if n := count(t, ctx, s); n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
}

// testIdempotencyBadBatch: a call with a rejected event stores nothing,
// keys included, while concurrent keyed calls go through.
func testIdempotencyBadBatch(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, 1_000_000)
	bad := []storage.NewEvent{keyed("ok", 1, "bad-1"), {Type: strings.Repeat("x", 51), Message: "too long", IdempotencyKey: "bad-2"}}
	if _, err := s.InsertEvents(ctx, bad); err == nil {
		t.Fatal("InsertEvents accepted a 51-character type")
	}
	got := insert(t, ctx, s, keyed("ok", 2, "bad-1"), keyed("ok", 3, "bad-2"))
	if got[0].Duplicate || got[1].Duplicate {
		t.Fatalf("keys of a failed call were kept: %+v", got)
	}
	var mu sync.Mutex
	failed := 0
	stored := concurrently(t, 12, func(w int) ([]storage.Event, error) {
		evs := []storage.NewEvent{keyed("ok", w, fmt.Sprintf("w%d", w))}
		if w%3 == 0 {
			evs = append(evs, storage.NewEvent{Type: strings.Repeat("y", 51), Message: "bad"})
		}
		out, err := s.InsertEvents(ctx, evs)
		if w%3 == 0 {
			if err == nil {
				return nil, fmt.Errorf("worker %d: a bad call succeeded", w)
			}
			mu.Lock()
			failed++
			mu.Unlock()
			return nil, nil
		}
		return out, err
	})
	if failed != 4 || len(stored) != 8 {
		t.Fatalf("%d calls failed and %d events stored, want 4 and 8", failed, len(stored))
	}
	if n := count(t, ctx, s); n != 2+8 {
		t.Fatalf("%d events stored, want 10", n)
	}
}

func testDeleteByEmail(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	const keep = 10
	s := open(t, keep)
	withEmail := func(i int, email string) storage.NewEvent {
		e := ev("user", i)
		e.UserEmail = ptr(email)
		e.IdempotencyKey = fmt.Sprintf("erase-%d", i)
		return e
	}
	insert(t, ctx, s,
		withEmail(1, "anna@example.com"),
		withEmail(2, "ANNA@Example.COM"),
		withEmail(3, "boris@example.com"),
		withEmail(4, "Иван@пример.рф"),
		ev("user", 5),
		withEmail(6, "anna@example.com.evil"),
		withEmail(7, "a%@example.com"),
	)
	n, err := s.DeleteEventsByEmail(ctx, "Anna@Example.com")
	if err != nil || n != 2 {
		t.Fatalf("DeleteEventsByEmail(anna) = %d, %v; want 2", n, err)
	}
	if n, err := s.DeleteEventsByEmail(ctx, "иван@пример.рф"); err != nil || n != 1 {
		t.Fatalf("DeleteEventsByEmail(иван, other case) = %d, %v; want 1", n, err)
	}
	// Matched as a whole, never as a pattern.
	if n, err := s.DeleteEventsByEmail(ctx, "a%@example.com"); err != nil || n != 1 {
		t.Fatalf("DeleteEventsByEmail(a%%@example.com) = %d, %v; want 1", n, err)
	}
	if n, err := s.DeleteEventsByEmail(ctx, "nobody@example.com"); err != nil || n != 0 {
		t.Fatalf("DeleteEventsByEmail(nobody) = %d, %v; want 0", n, err)
	}
	left := all(t, ctx, s)
	var msgs []string
	for _, e := range left {
		msgs = append(msgs, e.Message)
	}
	slices.Sort(msgs)
	if want := []string{"event 3", "event 5", "event 6"}; !slices.Equal(msgs, want) {
		t.Fatalf("after erasure: %v, want %v", msgs, want)
	}
	// An erased event's key stays: a retry does not bring it back.
	if got := insert(t, ctx, s, withEmail(1, "anna@example.com"))[0]; !got.Duplicate {
		t.Fatal("a retry after erasure stored the event again")
	}
	// The retention count is exact after the erasure.
	cur := len(left)
	for i := range 15 {
		insert(t, ctx, s, ev("after", i))
		cur = model(cur, 1, keep)
		if got := count(t, ctx, s); got != cur {
			t.Fatalf("insert %d after erasure: %d stored, want %d", i+1, got, cur)
		}
	}
}

func testListFilters(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	base := time.Now().Add(-10 * time.Hour).UTC().Truncate(time.Second)
	at := func(h int) *time.Time { v := base.Add(time.Duration(h) * time.Hour); return &v }
	mk := func(h int, msg string, email *string) storage.NewEvent {
		return storage.NewEvent{Type: "f", Message: msg, UserEmail: email, OccurredAt: at(h)}
	}
	insert(t, ctx, s,
		mk(0, "Трек добавлен в плейлист", nil),
		mk(1, "stream STARTED", ptr("dj@example.com")),
		mk(2, "discount 100% off", nil),
		mk(3, "discount 100x off", nil),
		mk(4, "file a_b.mp3", nil),
		mk(5, "file axb.mp3", ptr("Ivan@Example.com")),
		mk(6, `path C:\music`, nil),
	)
	list := func(f storage.EventFilter) []string {
		t.Helper()
		got, err := s.ListEvents(ctx, f)
		if err != nil {
			t.Fatalf("ListEvents(%+v): %v", f, err)
		}
		checkNewestFirst(t, got)
		out := make([]string, len(got))
		for i, e := range got {
			out[i] = e.Message
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    storage.EventFilter
		want []string
	}{
		{"since inclusive", storage.EventFilter{Since: *at(5)}, []string{`path C:\music`, "file axb.mp3"}},
		{"until exclusive", storage.EventFilter{Until: *at(1)}, []string{"Трек добавлен в плейлист"}},
		{"since and until", storage.EventFilter{Since: *at(2), Until: *at(4)}, []string{"discount 100x off", "discount 100% off"}},
		{"bounds between milliseconds", storage.EventFilter{Since: at(2).Add(time.Microsecond), Until: at(4).Add(time.Microsecond)}, []string{"file a_b.mp3", "discount 100x off"}},
		{"ascii case", storage.EventFilter{Search: "started"}, []string{"stream STARTED"}},
		{"cyrillic case", storage.EventFilter{Search: "ТРЕК"}, []string{"Трек добавлен в плейлист"}},
		{"percent is text", storage.EventFilter{Search: "100%"}, []string{"discount 100% off"}},
		{"underscore is text", storage.EventFilter{Search: "a_b"}, []string{"file a_b.mp3"}},
		{"backslash is text", storage.EventFilter{Search: `C:\m`}, []string{`path C:\music`}},
		{"email", storage.EventFilter{Search: "ivan@EXAMPLE"}, []string{"file axb.mp3"}},
		{"email or message", storage.EventFilter{Search: "example.com"}, []string{"file axb.mp3", "stream STARTED"}},
		{"search and limit", storage.EventFilter{Search: "off", Limit: 1}, []string{"discount 100x off"}},
		{"non-ascii search and limit", storage.EventFilter{Search: "плей", Limit: 1}, []string{"Трек добавлен в плейлист"}},
		{"search with time", storage.EventFilter{Search: "file", Until: *at(5)}, []string{"file a_b.mp3"}},
		{"no match", storage.EventFilter{Search: "nothing like it"}, []string{}},
		{"sql in search", storage.EventFilter{Search: "'; DROP TABLE activity_events; --"}, []string{}},
		{"person", storage.EventFilter{UserEmail: "ivan@example.com"}, []string{"file axb.mp3"}},
		{"person, case", storage.EventFilter{UserEmail: "IVAN@EXAMPLE.COM"}, []string{"file axb.mp3"}},
		{"person, not a part", storage.EventFilter{UserEmail: "van@example.com"}, []string{}},
		{"person, wildcard is text", storage.EventFilter{UserEmail: "%@example.com"}, []string{}},
		{"person and search", storage.EventFilter{UserEmail: "dj@example.com", Search: "stream"}, []string{"stream STARTED"}},
		{"person and limit", storage.EventFilter{UserEmail: "dj@example.com", Limit: 1}, []string{"stream STARTED"}},
	} {
		if got := list(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// A person whose address is not ASCII, compared as erasure compares it.
	insert(t, ctx, s,
		storage.NewEvent{Type: "p", Message: "заказ 1", UserEmail: ptr("Пётр@пример.рф")},
		storage.NewEvent{Type: "p", Message: "заказ 2", UserEmail: ptr("пётр@пример.рф")},
		storage.NewEvent{Type: "p", Message: "заказ 3", UserEmail: ptr("anna@пример.рф")},
	)
	if got, want := list(storage.EventFilter{Types: []string{"p"}, UserEmail: "ПЁТР@ПРИМЕР.РФ", Limit: 5}), []string{"заказ 2", "заказ 1"}; !slices.Equal(got, want) {
		t.Errorf("non-ascii person: %q, want %q", got, want)
	}
	if got, want := list(storage.EventFilter{Types: []string{"p"}, UserEmail: "пётр@пример.рф", Limit: 1}), []string{"заказ 2"}; !slices.Equal(got, want) {
		t.Errorf("non-ascii person and limit: %q, want %q", got, want)
	}
	// Pages of a filtered list, with the cursor.
	f := storage.EventFilter{Search: "o", Limit: 2, Types: []string{"f"}}
	var paged []string
	for range 10 {
		got, err := s.ListEvents(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			paged = append(paged, e.Message)
		}
		if len(got) < f.Limit {
			break
		}
		last := got[len(got)-1]
		f.Before = &storage.EventCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if want := list(storage.EventFilter{Search: "o", Types: []string{"f"}}); !slices.Equal(paged, want) {
		t.Errorf("paged search %q, want %q", paged, want)
	}
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func testTokens(t *testing.T, open Opener) {
	ctx := ctxFor(t)
	s := open(t, storage.DefaultEventsKeep)
	v0, err := s.TokensVersion(ctx)
	if err != nil {
		t.Fatalf("TokensVersion: %v", err)
	}
	if got, err := s.Tokens(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Tokens on a fresh store = %v, %v", got, err)
	}
	start := time.Now().Add(-time.Second)
	ci, err := s.CreateToken(ctx, storage.NewToken{Name: "ci", Kind: storage.TokenIngest, Hash: tokenHash("one")})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if ci.ID <= 0 || ci.Name != "ci" || ci.Kind != storage.TokenIngest || ci.Hash != tokenHash("one") ||
		ci.CreatedAt.Before(start) || ci.RevokedAt != nil || ci.LastUsedAt != nil {
		t.Fatalf("created token = %+v", ci)
	}
	v1, _ := s.TokensVersion(ctx)
	if v1 == v0 {
		t.Error("TokensVersion did not change on create")
	}
	if _, err := s.CreateToken(ctx, storage.NewToken{Name: "ci", Kind: storage.TokenRead, Hash: tokenHash("two")}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("CreateToken with a live name: %v, want ErrConflict", err)
	}
	grafana, err := s.CreateToken(ctx, storage.NewToken{Name: "grafana", Kind: storage.TokenRead, Hash: tokenHash("three")})
	if err != nil {
		t.Fatal(err)
	}

	// Last use: recorded, never moved backwards, and no change of version.
	v2, _ := s.TokensVersion(ctx)
	used := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.TouchTokens(ctx, map[int64]time.Time{ci.ID: used}); err != nil {
		t.Fatalf("TouchTokens: %v", err)
	}
	if err := s.TouchTokens(ctx, map[int64]time.Time{ci.ID: used.Add(-time.Hour), 999999: used}); err != nil {
		t.Fatalf("TouchTokens (older, unknown id): %v", err)
	}
	if v, _ := s.TokensVersion(ctx); v != v2 {
		t.Errorf("TokensVersion changed on TouchTokens: %s -> %s", v2, v)
	}

	revoked, err := s.RevokeToken(ctx, ci.ID)
	if err != nil || revoked.RevokedAt == nil || revoked.Name != "ci" {
		t.Fatalf("RevokeToken = %+v, %v", revoked, err)
	}
	v3, _ := s.TokensVersion(ctx)
	if v3 == v2 {
		t.Error("TokensVersion did not change on revoke")
	}
	again, err := s.RevokeToken(ctx, ci.ID)
	if err != nil || again.RevokedAt == nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Fatalf("revoking twice = %+v, %v; want the first revocation kept", again, err)
	}
	if v, _ := s.TokensVersion(ctx); v != v3 {
		t.Error("TokensVersion changed on a second revoke")
	}
	if _, err := s.RevokeToken(ctx, 999999); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("RevokeToken(missing) = %v, want ErrNotFound", err)
	}
	// A revoked token frees its name.
	ci2, err := s.CreateToken(ctx, storage.NewToken{Name: "ci", Kind: storage.TokenIngest, Hash: tokenHash("four")})
	if err != nil {
		t.Fatalf("CreateToken with a revoked token's name: %v", err)
	}

	list, err := s.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != ci.ID || list[1].ID != grafana.ID || list[2].ID != ci2.ID {
		t.Fatalf("Tokens = %+v", list)
	}
	if l := list[0]; l.RevokedAt == nil || l.LastUsedAt == nil || !l.LastUsedAt.Equal(used) || l.Hash != tokenHash("one") {
		t.Errorf("revoked, used token listed as %+v (used %s)", l, used)
	}
	if l := list[1]; l.RevokedAt != nil || l.LastUsedAt != nil || l.Kind != storage.TokenRead {
		t.Errorf("unused read token listed as %+v", l)
	}
	for _, l := range list {
		if l.CreatedAt.Location() != time.UTC {
			t.Errorf("token %d created_at in %v, want UTC", l.ID, l.CreatedAt.Location())
		}
	}
}

// RunShared checks what must hold across instances: stores opened on one
// database (several vitals processes), each given by open with retention
// keep 10, written to at once. Within one store the group commit already
// serialises writes; only here do two transactions race for a key.
func RunShared(t *testing.T, open func(t *testing.T, keep int) []storage.Store) {
	t.Run("IdempotencyKeyAcrossStores", func(t *testing.T) {
		ctx := ctxFor(t)
		stores := open(t, 1_000_000)
		for round := range 5 {
			key := fmt.Sprintf("shared-%d", round)
			got := concurrently(t, 10, func(w int) ([]storage.Event, error) {
				return stores[w%len(stores)].InsertEvents(ctx, []storage.NewEvent{keyed("same", w, key)})
			})
			fresh := 0
			for _, e := range got {
				if e.ID != got[0].ID {
					t.Fatalf("key %s: ids %d and %d returned", key, got[0].ID, e.ID)
				}
				if !e.Duplicate {
					fresh++
				}
			}
			if fresh != 1 {
				t.Fatalf("key %s: %d callers were told the event is new, want 1", key, fresh)
			}
		}
		// Overlapping batches in different orders: no deadlock, each key
		// stored once.
		const keys = 30
		got := concurrently(t, 8, func(w int) ([]storage.Event, error) {
			var evs []storage.NewEvent
			for _, k := range rand.Perm(keys) {
				evs = append(evs, keyed("perm", w, fmt.Sprintf("perm-%d", k)))
			}
			return stores[w%len(stores)].InsertEvents(ctx, evs)
		})
		fresh := 0
		for _, e := range got {
			if !e.Duplicate {
				fresh++
			}
		}
		if fresh != keys {
			t.Errorf("%d events told new for %d keys", fresh, keys)
		}
		if n := count(t, ctx, stores[0]); n != 5+keys {
			t.Fatalf("%d events stored, want %d", n, 5+keys)
		}
	})
	t.Run("EraseWhileInserting", func(t *testing.T) {
		ctx := ctxFor(t)
		const keep = 10
		stores := open(t, keep)
		concurrently(t, 8, func(w int) ([]storage.Event, error) {
			s := stores[w%len(stores)]
			for i := range 30 {
				e := ev("w", i)
				if i%2 == 0 {
					e.UserEmail = ptr(fmt.Sprintf("user%d@example.com", i%4))
				}
				if _, err := s.InsertEvents(ctx, []storage.NewEvent{e}); err != nil {
					return nil, err
				}
				if w%4 == 0 && i%5 == 0 {
					if _, err := s.DeleteEventsByEmail(ctx, fmt.Sprintf("USER%d@example.com", i%4)); err != nil {
						return nil, err
					}
				}
			}
			return nil, nil
		})
		// Whatever happened, the count is exact: sequential inserts follow
		// the model from the number actually stored.
		n := count(t, ctx, stores[0])
		if n > storage.PruneThreshold(keep) {
			t.Fatalf("%d events stored, more than the threshold %d", n, storage.PruneThreshold(keep))
		}
		for i := range 2 * storage.PruneThreshold(keep) {
			insert(t, ctx, stores[i%len(stores)], ev("after", i))
			n = model(n, 1, keep)
			if got := count(t, ctx, stores[0]); got != n {
				t.Fatalf("sequential insert %d: %d stored, want %d", i+1, got, n)
			}
		}
	})
}

// KeysBound checks that a store opened with KeysKeep keysKeep keeps at most
// the newest keysKeep idempotency keys, however young: the older keys are
// pruned (a retry of one stores anew) and the newest still answer as
// duplicates. Each backend's tests call it with a store of their making.
func KeysBound(t *testing.T, s storage.Store, keysKeep int) {
	t.Helper()
	ctx := ctxFor(t)
	total := keysKeep + 7
	for i := range total {
		insert(t, ctx, s, keyed("bound", i, fmt.Sprintf("bound-%03d", i)))
		// Distinct created_at for every key, so that "the newest N" is
		// exact whatever the clock's resolution.
		time.Sleep(2 * time.Millisecond)
	}
	n, err := s.PruneIdempotencyKeys(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != int64(total-keysKeep) {
		t.Fatalf("PruneIdempotencyKeys beyond the newest %d of %d = %d, %v; want %d", keysKeep, total, n, err, total-keysKeep)
	}
	if newest := insert(t, ctx, s, keyed("bound", total, fmt.Sprintf("bound-%03d", total-1)))[0]; !newest.Duplicate {
		t.Fatal("the newest key was pruned")
	}
	if kept := insert(t, ctx, s, keyed("bound", total+1, fmt.Sprintf("bound-%03d", total-keysKeep)))[0]; !kept.Duplicate {
		t.Fatalf("the %dth newest key was pruned", keysKeep)
	}
	if oldest := insert(t, ctx, s, keyed("bound", total+2, "bound-000"))[0]; oldest.Duplicate {
		t.Fatal("the oldest key beyond the bound was kept")
	}
}
