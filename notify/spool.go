package notify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

// SpoolFile is the spool's name in the data directory.
const SpoolFile = "alerts-spool.jsonl"

// Spool is the alerts' local spool: when the store cannot take a
// transition (its database is the one that is down), the transition's
// feed event and its notifications are appended here, one JSON line per
// record, each line fsync'd before Add returns. The worker delivers the
// spooled notifications without the store, under the keys the outbox would
// have used, and once the store answers again Replay writes the events and
// the notifications (delivered ones as delivered) into it, under the same
// idempotency keys, and empties the file. A replay cut short by a crash is
// simply done again: the keys make the second one store nothing new.
type Spool struct {
	path string

	mu   sync.Mutex
	f    *os.File
	recs []spoolRecord // the transitions, in the order spooled
	// done is the delivery of each notification delivered from the spool.
	done map[string]spoolRecord
	// inflight are the notifications a worker is sending now; replayed
	// ones have been handed to the store's outbox, which delivers them.
	inflight map[string]bool
	replayed map[string]bool
	// next is when a failed spooled notification is tried again, and
	// tries how often it was (neither kept: a restart tries at once).
	next   map[string]time.Time
	tries  map[string]int
	failed map[string]storage.Notification
}

// spoolRecord is one line: a transition (Event and Notes) or the delivery
// of one of its notifications (Key, Status, AtMS, Attempts).
type spoolRecord struct {
	Kind     string            `json:"kind"` // "transition" or "delivered"
	Event    *storage.NewEvent `json:"event,omitempty"`
	Notes    []spoolNote       `json:"notifications,omitempty"`
	Key      string            `json:"key,omitempty"`
	Status   int               `json:"status,omitempty"`
	AtMS     int64             `json:"at_ms,omitempty"`
	Attempts int               `json:"attempts,omitempty"`
}

// spoolNote is a notification as the spool keeps it (storage.Notification
// does not marshal its payload).
type spoolNote struct {
	Key       string `json:"key"`
	Channel   string `json:"channel"`
	Payload   string `json:"payload"`
	CreatedMS int64  `json:"created_ms"`
}

// OpenSpool opens (or creates) the spool at path and reads what an earlier
// process left in it. A last line cut short by a crash (no newline, or not
// JSON) was never acknowledged: it is dropped and cut off the file, so
// that the next record starts on a line of its own.
func OpenSpool(path string) (*Spool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("alerts spool: %w", err)
	}
	s := &Spool{path: path, f: f, done: map[string]spoolRecord{}, inflight: map[string]bool{},
		replayed: map[string]bool{}, next: map[string]time.Time{}, tries: map[string]int{}, failed: map[string]storage.Notification{}}
	good, err := s.read()
	if err == nil {
		err = f.Truncate(good)
	}
	if err == nil {
		_, err = f.Seek(good, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("alerts spool: %w", err)
	}
	return s, nil
}

// read loads the records and returns the length of the whole lines that
// parse; reading stops at the first that does not.
func (s *Spool) read() (int64, error) {
	r := bufio.NewReader(s.f)
	var good int64
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return good, nil // a line without its newline is a torn one
		}
		if err != nil {
			return 0, err
		}
		var rec spoolRecord
		if json.Unmarshal(bytes.TrimSpace(line), &rec) != nil {
			return good, nil
		}
		good += int64(len(line))
		s.apply(rec)
	}
}

func (s *Spool) apply(rec spoolRecord) {
	switch rec.Kind {
	case "transition":
		if rec.Event != nil {
			s.recs = append(s.recs, rec)
		}
	case "delivered":
		s.done[rec.Key] = rec
	}
}

func (s *Spool) append(rec spoolRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return s.f.Sync()
}

// Add spools a transition's event and its notifications; once it returns
// nil they survive a crash.
func (s *Spool) Add(ev storage.NewEvent, ns []storage.Notification) error {
	rec := spoolRecord{Kind: "transition", Event: &ev}
	for _, n := range ns {
		rec.Notes = append(rec.Notes, spoolNote{Key: n.Key, Channel: n.Channel, Payload: n.Payload, CreatedMS: n.CreatedMS})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.append(rec); err != nil {
		return fmt.Errorf("alerts spool: %w", err)
	}
	s.recs = append(s.recs, rec)
	return nil
}

// Empty tells whether nothing waits in the spool.
func (s *Spool) Empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs) == 0
}

// due takes the spooled notifications to send now: not delivered, not
// handed to the store, not being sent, and not waiting for a retry.
func (s *Spool) due(now time.Time) []storage.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Notification
	for _, r := range s.recs {
		for _, n := range r.Notes {
			_, sent := s.done[n.Key]
			if sent || s.inflight[n.Key] || s.replayed[n.Key] || now.Before(s.next[n.Key]) {
				continue
			}
			s.inflight[n.Key] = true
			out = append(out, storage.Notification{Key: n.Key, Channel: n.Channel, Payload: n.Payload,
				CreatedMS: n.CreatedMS, NextMS: now.UnixMilli(), Attempts: s.tries[n.Key], State: storage.NotificationPending})
		}
	}
	return out
}

// finish records a spooled notification's attempt: a delivery is appended
// to the file, a failure waits until n.NextMS.
func (s *Spool) finish(n storage.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, n.Key)
	s.tries[n.Key] = n.Attempts
	switch n.State {
	case storage.NotificationPending:
		s.next[n.Key] = time.UnixMilli(n.NextMS)
		return nil
	case storage.NotificationFailed:
		// Retries exhausted (a day of them): not tried again from here,
		// and recorded as failed in the store's log when replayed.
		s.next[n.Key] = time.Unix(1<<40, 0)
		s.failed[n.Key] = n
		return nil
	}
	rec := spoolRecord{Kind: "delivered", Key: n.Key, Status: n.LastStatus, AtMS: n.FinishedMS, Attempts: n.Attempts}
	s.done[n.Key] = rec
	if err := s.append(rec); err != nil {
		// Kept in memory: this process does not send it again; a crash
		// before the next write would, under the same key.
		return fmt.Errorf("alerts spool: %w", err)
	}
	return nil
}

// ReplayStore is what Replay writes to.
type ReplayStore = storage.TransitionStore

// Replay records the spool in the store: each transition's event, and its
// notifications in the outbox, a delivered one as delivered (with its
// status and attempts) and the rest pending, for the outbox's worker. A
// notification being sent from the spool right now is left for the next
// replay. Once everything is in, the file is emptied.
func (s *Spool) Replay(ctx context.Context, st ReplayStore) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recs) == 0 {
		return nil
	}
	left := false
	for _, r := range s.recs {
		var ns []storage.Notification
		for _, n := range r.Notes {
			if s.inflight[n.Key] {
				left = true
				continue
			}
			out := storage.Notification{Key: n.Key, Channel: n.Channel, Payload: n.Payload, CreatedMS: n.CreatedMS,
				NextMS: n.CreatedMS, State: storage.NotificationPending, Attempts: s.tries[n.Key]}
			if d, ok := s.done[n.Key]; ok {
				out.State, out.LastStatus, out.FinishedMS, out.Attempts = storage.NotificationDelivered, d.Status, d.AtMS, d.Attempts
			} else if f, ok := s.failed[n.Key]; ok {
				out.State, out.LastStatus, out.LastError, out.FinishedMS = storage.NotificationFailed, f.LastStatus, f.LastError, f.FinishedMS
			}
			ns = append(ns, out)
		}
		// The notifications before the event, as the engine writes them:
		// each goes under its own key, so a replay cut short stores
		// neither twice, and a stored event means its outbox rows are in.
		if len(ns) > 0 {
			if err := st.EnqueueNotifications(ctx, ns); err != nil {
				return err
			}
		}
		if _, err := st.InsertEvents(ctx, []storage.NewEvent{*r.Event}); err != nil {
			return err
		}
		for _, n := range ns {
			s.replayed[n.Key] = true
		}
	}
	if left {
		return nil
	}
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("alerts spool: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("alerts spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("alerts spool: %w", err)
	}
	s.recs, s.done, s.replayed = nil, map[string]spoolRecord{}, map[string]bool{}
	s.next, s.tries, s.failed = map[string]time.Time{}, map[string]int{}, map[string]storage.Notification{}
	return nil
}

// Close closes the file.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
