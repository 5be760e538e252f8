package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// ErrNoSpace means the store refuses writes for want of room: the volume
// is full, a quota is reached, or the database is read-only. Nothing was
// written; writes resume by themselves once there is room again.
var ErrNoSpace = errors.New("storage: writes failing")

// WriteHealth is a store's last write outcome, for /health: writes that
// fail for room are "failing" until one succeeds again. It is safe for
// concurrent use; a store makes one and reports every write to it.
type WriteHealth struct {
	failing  atomic.Pointer[string]
	failures atomic.Uint64
	changes  atomic.Uint64
	mu       sync.Mutex // one state change at a time, each logged once
	log      *slog.Logger
}

// NewWriteHealth makes a WriteHealth that logs each change of state to
// log (nil: not logged).
func NewWriteHealth(log *slog.Logger) *WriteHealth {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &WriteHealth{log: log}
}

// Failed records a write refused for want of room, reason saying why in a
// few words ("disk full", "read-only"), and returns err marked ErrNoSpace.
// It reports whether writes were working until now.
func (w *WriteHealth) Failed(reason string, err error) (error, bool) {
	w.failures.Add(1)
	changed := false
	if cur := w.failing.Load(); cur == nil || *cur != reason {
		w.mu.Lock()
		if cur := w.failing.Load(); cur == nil || *cur != reason {
			w.failing.Store(&reason)
			w.changes.Add(1)
			changed = cur == nil
			w.log.Error("store: writes failing; nothing is stored until there is room again", "reason", reason)
		}
		w.mu.Unlock()
	}
	return fmt.Errorf("%w: %s: %w", ErrNoSpace, reason, err), changed
}

// Succeeded records a write that worked, and reports whether writes had
// been failing until now.
func (w *WriteHealth) Succeeded() bool {
	if w.failing.Load() == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing.Load() == nil {
		return false
	}
	w.failing.Store(nil)
	w.changes.Add(1)
	w.log.Info("store: writes work again")
	return true
}

// Failing returns "writes failing: <reason>" while the last write was
// refused for room, else "".
func (w *WriteHealth) Failing() string {
	if r := w.failing.Load(); r != nil {
		return "writes failing: " + *r
	}
	return ""
}

// Changes counts the changes of state since start, for caches of it.
func (w *WriteHealth) Changes() uint64 { return w.changes.Load() }

// Failures is how many writes were refused for room since start.
func (w *WriteHealth) Failures() uint64 { return w.failures.Load() }
