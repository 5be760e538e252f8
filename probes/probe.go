// Package probes measures the system vitals watches: CPU, memory and disks
// (cgroup-aware, with the host as fall-back), load, network, its own
// process, the database, Redis and configured HTTP targets.
//
// A Sampler runs every Probe concurrently once per interval, each under its
// own timeout, and publishes the result as a pre-rendered Snapshot that
// handlers serve without doing any I/O. A probe returns its group as a
// typed Result, which places itself in the Snapshot; a probe that fails
// returns its group unavailable with a one-line reason; it never fails the
// others, never panics the process and never reports a made-up 0.
//
// Groups lists every group and every figure the probes publish (series
// name, unit, kind, /metrics name): the Sampler, /metrics, the page and
// the history and alerts walk that list rather than naming groups.
package probes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Probe reads one source and returns one group of a Snapshot.
//
// Name is the JSON name of the group the probe owns ("cpu", "memory",
// "disk", "database", "redis", "load", "network", "process", "http",
// "api"); the Result that Read returns must be of that group, and the
// Sampler places nothing else, so probes cannot step on each other.
//
// Read must honour ctx's deadline where it does I/O. It reports failure in
// the result (status and reason), not by panicking; the Sampler recovers a
// panic anyway.
type Probe interface {
	Name() string
	Read(ctx context.Context) Result
}

// Every probe of this package is a Probe.
var (
	_ Probe = (*CPUProbe)(nil)
	_ Probe = (*MemoryProbe)(nil)
	_ Probe = (*DiskProbe)(nil)
	_ Probe = (*LoadProbe)(nil)
	_ Probe = (*NetworkProbe)(nil)
	_ Probe = (*ProcessProbe)(nil)
	_ Probe = (*DatabaseProbe)(nil)
	_ Probe = (*RedisProbe)(nil)
	_ Probe = (*HTTPProbe)(nil)
	_ Probe = (*APIProbe)(nil)

	_ Placeholder = (*DiskProbe)(nil)
	_ Placeholder = (*DatabaseProbe)(nil)
	_ Placeholder = (*RedisProbe)(nil)
	_ Placeholder = (*HTTPProbe)(nil)

	_ Budgeted = (*HTTPProbe)(nil)
)

// Placeholder is implemented by probes whose group carries more than a
// status when there is no reading (the disk paths, the HTTP target names,
// the database backend). The Sampler uses it for "warming up" and for a
// probe that timed out or panicked; Unavailable must do no I/O. Without
// it the group list's Blank stands in.
type Placeholder interface {
	Unavailable(reason string) Result
}

// Helpers shared by the probes.

// reasonWarmingUp is the reason of a figure that needs a second reading.
const reasonWarmingUp = "warming up"

// fptr returns a pointer to v, or nil when v is not a finite number, so
// that a division gone wrong becomes null rather than a JSON encoding error.
func fptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// round rounds v to the given number of decimal places; figures are shown,
// not computed on, and 12.5 reads better than 12.499999999.
func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}

// percent returns part/whole*100 rounded to two places, clamped to 0..100
// because counters read a few microseconds apart can overshoot.
func percent(part, whole float64) float64 {
	if whole <= 0 {
		return math.NaN()
	}
	return round(min(max(part/whole*100, 0), 100), 2)
}

// ms converts a duration to milliseconds rounded to microseconds.
func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

// median returns the median of xs (the mean of the middle two for an even
// count), or -1 for none. Round trips are sampled three times and the
// median kept, so that one scheduling hiccup or a first-use prepare does
// not make the figure.
func median(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return -1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// timeoutReason is the reason given for a probe that ran out of time.
func timeoutReason(d time.Duration) string { return "timeout after " + d.String() }

// deadlineOf returns how long ctx was given, for "timeout after 2s".
func deadlineOf(ctx context.Context, started time.Time) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return dl.Sub(started).Round(100 * time.Millisecond)
	}
	return time.Since(started).Round(100 * time.Millisecond)
}

// shortReason turns a network or driver error into one short line that
// names the failure but carries no connection string, password, URL or
// address (those belong in the operator's configuration, not on a page).
func shortReason(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var timeoutErr interface{ Timeout() bool }
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded), os.IsTimeout(err),
		errors.As(err, &timeoutErr) && timeoutErr.Timeout():
		return timeoutReason(timeout)
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &dnsErr):
		return "host not found"
	case errors.Is(err, net.ErrClosed), errors.Is(err, syscall.EPIPE):
		return "connection closed"
	case errors.As(err, &opErr):
		return "network error: " + opErr.Op
	}
	return redact(err.Error())
}

// redact keeps the first line of msg, drops any token that looks like a
// URL or a key=value credential, and bounds its length.
func redact(msg string) string {
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	words := strings.Fields(msg)
	for i, w := range words {
		lw := strings.ToLower(w)
		if strings.Contains(lw, "://") || strings.Contains(lw, "password") || strings.Contains(lw, "user=") ||
			strings.Contains(lw, "@") {
			words[i] = "[redacted]"
		}
	}
	msg = strings.Join(words, " ")
	const maxLen = 160
	if len(msg) > maxLen {
		msg = msg[:maxLen] + "..."
	}
	return msg
}

// errReason formats a local failure (a file that cannot be read) as
// "what: why" in one line.
func errReason(what string, err error) string {
	return redact(fmt.Sprintf("%s: %v", what, err))
}
