package postgres

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestRetryDelaySchedule: while the server is away an attempt starts at
// least every RetryInterval, however many have failed, with jitter that
// never reaches zero; the first retries come quickly.
func TestRetryDelaySchedule(t *testing.T) {
	if RetryInterval > 2*time.Second {
		t.Fatalf("RetryInterval = %v, want at most 2s", RetryInterval)
	}
	for attempt := 1; attempt <= 10_000; attempt++ {
		for _, u := range []float64{0, 0.25, 0.5, 0.999999} {
			d := retryDelay(attempt, u)
			if d > RetryInterval {
				t.Fatalf("retryDelay(%d, %v) = %v, more than %v", attempt, u, d, RetryInterval)
			}
			if d < backoffMin/2 {
				t.Fatalf("retryDelay(%d, %v) = %v, less than %v", attempt, u, d, backoffMin/2)
			}
		}
	}
	if d := retryDelay(1, 0.999999); d > backoffMin {
		t.Errorf("first retry after %v, want within %v", d, backoffMin)
	}
	// Jitter spreads a fleet: low and high draws differ once the
	// schedule is at its cap.
	if lo, hi := retryDelay(50, 0), retryDelay(50, 0.999999); lo != RetryInterval/2 || hi <= lo {
		t.Errorf("jitter at the cap spans %v..%v, want %v..%v", lo, hi, RetryInterval/2, RetryInterval)
	}
}

// TestParseErrorReason: the reason names what is wrong with a URL and never
// quotes it, password included, whatever characters the URL holds.
func TestParseErrorReason(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"postgres://u:hunter2@db:99999/app", "invalid port"},
		{"postgres://u:hunter2@db:notaport/app", "invalid port"},
		{"postgres://u:hunter2@db/app?sslmode=bogus", "failed to configure TLS"},
		{"postgres://u:hunter2@db/app?pool_max_conns=x", "cannot parse pool_max_conns"},
		{"postgres://u:hun`: ter2@db:bad/app", ""},
	} {
		_, err := pgxpool.ParseConfig(c.url)
		if err == nil {
			t.Fatalf("ParseConfig(%q) succeeded", c.url)
		}
		got := ParseErrorReason(err)
		if strings.Contains(got, "hunter2") || strings.Contains(got, "ter2") || strings.Contains(got, "@db") {
			t.Errorf("ParseErrorReason(%q) = %q quotes the URL", c.url, got)
		}
		if c.want != "" && !strings.HasPrefix(got, c.want) {
			t.Errorf("ParseErrorReason(%q) = %q, want %q", c.url, got, c.want)
		}
		if got == "" {
			t.Errorf("ParseErrorReason(%q) is empty", c.url)
		}
	}
	if got := ParseErrorReason(errors.New("postgres://u:hunter2@db")); got != "cannot be parsed" {
		t.Errorf("ParseErrorReason(another error) = %q", got)
	}
}
