// Package logging makes the one logger of `vitals serve` and the batched
// logger of its request log.
package logging

import (
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// New makes the one logger: text on a terminal, JSON otherwise
// (format "auto"), or the format asked for.
func New(format string, w io.Writer) *slog.Logger {
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, HandlerOptions(slog.LevelInfo)))
	}
	return slog.New(slog.NewJSONHandler(w, HandlerOptions(slog.LevelInfo)))
}

// HandlerOptions are every vitals logger's: level, and durations in
// milliseconds (DurationsInMS).
func HandlerOptions(level slog.Leveler) *slog.HandlerOptions {
	return &slog.HandlerOptions{Level: level, ReplaceAttr: DurationsInMS}
}

// DurationsInMS writes a time.Duration attribute as milliseconds under its
// key with _ms added ("retry_every": 2s becomes "retry_every_ms": 2000):
// slog's JSON would write nanoseconds with no unit, which nobody reads
// right at a glance.
func DurationsInMS(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	ms := float64(a.Value.Duration().Microseconds()) / 1000
	return slog.Float64(a.Key+"_ms", ms)
}

// requestLogFlush is how long a request log line may wait in lineBuffer.
const requestLogFlush = 100 * time.Millisecond

// lineBuffer gathers log lines and writes them in batches: one write
// system call per tenth of a second instead of one per request, which
// would otherwise cost the fast routes a good part of their throughput. A
// crash loses at most the last tenth of a second of request lines; Close
// writes what is left.
//
// The flush is a timer armed by the first line after a flush, not a ticker:
// an idle vitals must not wake ten times a second to find nothing to write.
type lineBuffer struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	every  time.Duration
	timer  *time.Timer // armed while buf holds lines
	closed bool
}

// lineBufferMax is the size at which a Write flushes at once.
const lineBufferMax = 64 << 10

func newLineBuffer(w io.Writer, every time.Duration) *lineBuffer {
	return &lineBuffer{w: w, every: every}
}

// Write appends one line (slog writes a whole record per call).
func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		// After Close nothing flushes later: write through.
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	switch {
	case len(b.buf) >= lineBufferMax:
		b.flushLocked()
	case b.timer == nil:
		b.timer = time.AfterFunc(b.every, b.flush)
	}
	return len(p), nil
}

func (b *lineBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *lineBuffer) flushLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.buf) == 0 {
		return
	}
	// A failed write to stderr has nowhere to be reported; the lines
	// are dropped rather than held for ever.
	_, _ = b.w.Write(b.buf)
	b.buf = b.buf[:0]
}

// Close writes what is buffered; later lines are written at once.
func (b *lineBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.closed = true
	return nil
}

// Request is the logger for the one-line-per-request log: the main
// logger's format on the same writer, batched through a lineBuffer unless
// w is a terminal, where a person reads the lines as they come. close
// flushes it.
func Request(format string, w io.Writer) (logger *slog.Logger, close func()) {
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			return New("text", w), func() {}
		}
	}
	buf := newLineBuffer(w, requestLogFlush)
	return New(format, buf), func() { _ = buf.Close() }
}
