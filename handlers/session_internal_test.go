package handlers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/web"
)

func TestSessionSignature(t *testing.T) {
	s := newSessions(nil, []byte("0123456789abcdef0123456789abcdef"), time.Hour, nil)
	k := s.keys.Load()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	sess, value := s.issue(k, now)
	got, ok := s.verify(k, value, now.Add(59*time.Minute))
	if !ok || got.id != sess.id {
		t.Fatal("a fresh session was refused")
	}
	if _, ok := s.verify(k, value, now.Add(time.Hour)); ok {
		t.Error("an expired session was accepted")
	}
	other := newSessions(nil, []byte("another key 0123456789abcdefghijk"), time.Hour, nil)
	if _, ok := other.verify(other.keys.Load(), value, now); ok {
		t.Error("a session signed with another key was accepted")
	}
	// Any changed character breaks the signature.
	for i := range value {
		b := []byte(value)
		b[i] = 'A' + (b[i]+1)%26
		if b[i] == value[i] {
			continue
		}
		if _, ok := s.verify(k, string(b), now); ok {
			t.Fatalf("a session changed at %d was accepted", i)
		}
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 76), value[:40]} {
		if _, ok := s.verify(k, bad, now); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	// CSRF tokens differ per binding and from the session's MAC.
	if csrfToken(k, "s:a") == csrfToken(k, "s:b") || csrfToken(k, "s:a") == csrfToken(other.keys.Load(), "s:a") {
		t.Error("CSRF tokens do not depend on binding and key")
	}
}

func TestLoginLimiter(t *testing.T) {
	l := newLoginLimiter()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	// attempt is one wrong password: its place in the budget, then the
	// failure; it returns the failures a lock-out reports, -1 if refused.
	attempt := func(addr string, at time.Time) int {
		if l.reserve(addr, at) > 0 {
			return -1
		}
		return l.fail(addr, at)
	}
	const addr = "192.0.2.1"
	for i := 1; i < LoginMaxFailures; i++ {
		if n := attempt(addr, now); n != 0 {
			t.Fatalf("attempt %d: %d", i, n)
		}
	}
	if n := attempt(addr, now); n != LoginMaxFailures {
		t.Fatalf("the last allowed failure reports %d, want a lock-out after %d", n, LoginMaxFailures)
	}
	if left := l.reserve(addr, now.Add(time.Minute)); left != LoginLockout-time.Minute {
		t.Fatalf("lock left %s", left)
	}
	if l.reserve("192.0.2.2", now) != 0 {
		t.Fatal("another address is locked")
	}
	if l.reserve(addr, now.Add(LoginLockout)) != 0 {
		t.Fatal("still locked after the lock-out")
	}
	// Attempts in flight spend the budget before any of them fails: a
	// parallel burst gets no more checks than the budget.
	for i := range LoginMaxFailures {
		if l.reserve("192.0.2.5", now) != 0 {
			t.Fatalf("reservation %d refused", i)
		}
	}
	if l.reserve("192.0.2.5", now) == 0 {
		t.Fatal("a sixth attempt in flight was let through")
	}
	l.release("192.0.2.5")
	if l.reserve("192.0.2.5", now) != 0 {
		t.Fatal("a released attempt still counts")
	}
	locks := 0
	for range LoginMaxFailures {
		if l.fail("192.0.2.5", now) > 0 {
			locks++
		}
	}
	if locks != 1 {
		t.Fatalf("%d lock-outs reported, want 1", locks)
	}
	// Failures spread wider than the window never lock.
	for i := range 3 * LoginMaxFailures {
		if n := attempt("192.0.2.3", now.Add(time.Duration(i)*(LoginWindow/2+time.Second))); n != 0 {
			t.Fatalf("slow failures: %d at %d", n, i)
		}
	}
	// A success forgets the failures.
	for range LoginMaxFailures - 1 {
		attempt("192.0.2.4", now)
	}
	l.succeed("192.0.2.4")
	if n := attempt("192.0.2.4", now); n != 0 {
		t.Fatal("failures before a success counted")
	}
	// One IPv6 client holds a whole /64.
	for i := range LoginMaxFailures {
		attempt(fmt.Sprintf("2001:db8:1:2::%x", i+1), now)
	}
	if l.reserve("2001:db8:1:2:ffff::1", now) == 0 {
		t.Fatal("the /64 is not locked")
	}
	if l.reserve("2001:db8:1:3::1", now) != 0 {
		t.Fatal("another /64 is locked")
	}
}

// Memory stays bounded under a flood from many addresses.
func TestLoginLimiterBounded(t *testing.T) {
	l := newLoginLimiter()
	now := time.Now()
	for i := range loginTracked + 500 {
		l.reserve(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), now)
	}
	if n := len(l.byAddr); n > loginTracked {
		t.Fatalf("%d addresses tracked", n)
	}
}

func TestNegotiateLang(t *testing.T) {
	for header, want := range map[string]web.Lang{
		"":                             web.English,
		"ru":                           web.Russian,
		"ru-RU,ru;q=0.9,en-US;q=0.8":   web.Russian,
		"en-US,en;q=0.9,ru;q=0.8":      web.English,
		"de-DE,de;q=0.9,ru;q=0.5":      web.Russian,
		"fr":                           web.English,
		"en;q=0.2, ru;q=0.7":           web.Russian,
		"ru;q=0, en;q=0.1":             web.English,
		"*":                            web.English,
		"ru;q=bogus,en;q=0.5":          web.English,
		"RU-ru":                        web.Russian,
		"uk-UA, ru;q=0.8, en;q=0.8":    web.Russian,
		"en;q=0.8,ru;q=0.8":            web.English,
		"zh-Hant-TW;q=1, ru-Latn;q=.9": web.Russian,
	} {
		if got := negotiateLang(header); got != want {
			t.Errorf("%q: %s, want %s", header, got, want)
		}
	}
}
