package handlers

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

// hangingTokens is a token store that fails at once, then (once hang is
// set) hangs until the caller's context ends, noting that it did.
type hangingTokens struct {
	hang    atomic.Bool
	expired atomic.Bool
	calls   atomic.Int32
}

func (h *hangingTokens) TokensVersion(ctx context.Context) (string, error) {
	h.calls.Add(1)
	if !h.hang.Load() {
		return "", errors.New("connection refused")
	}
	<-ctx.Done()
	h.expired.Store(true)
	return "", ctx.Err()
}

func (h *hangingTokens) Tokens(context.Context) ([]storage.Token, error) { return nil, nil }

func (h *hangingTokens) TouchTokens(context.Context, map[int64]time.Time) error { return nil }

// While the store is failing, a request presenting a bearer token must not
// wait for a reload: it is judged by the last set, and the reload runs in
// the background. Shown by order, not by time: the request returns while
// the store still hangs (before the reload's budget ran out).
func TestStoredTokensDoNotWaitForAFailingStore(t *testing.T) {
	src := &hangingTokens{}
	st := NewStoredTokens(src, nil)
	st.Poll = time.Nanosecond
	sum := sha256.Sum256([]byte("some token"))
	if r := st.role(sum); r != RoleNone {
		t.Fatalf("role %v from an empty set", r)
	}
	if !st.storeFailing.Load() {
		t.Fatal("a failed reload did not mark the store failing")
	}
	src.hang.Store(true)
	calls := src.calls.Load()
	if r := st.role(sum); r != RoleNone {
		t.Fatalf("role %v from an empty set", r)
	}
	if src.expired.Load() {
		t.Fatal("the request waited for the hanging store until the reload budget ran out")
	}
	// The background reload did start, and Run-style shutdown awaits it.
	deadline := time.Now().Add(5 * time.Second)
	for src.calls.Load() == calls && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if src.calls.Load() == calls {
		t.Fatal("no reload was started in the background")
	}
	st.bg.Wait()
	if !src.expired.Load() {
		t.Fatal("the background reload returned before its budget ended")
	}
}
