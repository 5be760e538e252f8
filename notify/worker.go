package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

// Delivery bounds.
const (
	// RetryFor is how long a notification is retried before it is failed.
	RetryFor = 24 * time.Hour
	// LogKeep and LogMax bound the delivery log.
	LogKeep = 7 * 24 * time.Hour
	LogMax  = 1000
	maxWait = 10 * time.Minute
	hold    = 2 * time.Minute // a claim outlives one attempt's timeout
	attempt = 20 * time.Second
)

// Worker delivers the outbox's due notifications.
type Worker struct {
	Store    storage.NotificationStore
	Channels []Channel
	HTTP     *http.Client
	Log      *slog.Logger
	Now      func() time.Time
	// Every is how often the outbox is looked at (1 s when zero).
	Every time.Duration
	// Spool, when set, holds the transitions the store could not take:
	// each pass first tries to record them in the store (ReplayTo), and
	// while that fails delivers their notifications itself.
	Spool    *Spool
	ReplayTo ReplayStore
	// Ready tells whether the store has been reached and migrated; until
	// it is, only the spool is looked at. Nil means ready.
	Ready func() bool

	// unread is set while the outbox cannot be read: logged once, not
	// every pass of an outage.
	unread bool
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	every := w.Every
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	pruned := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.Once(ctx)
		if now := w.now(); now.Sub(pruned) > time.Hour && (w.Ready == nil || w.Ready()) {
			pruned = now
			if err := w.Store.PruneNotifications(ctx, now.Add(-LogKeep).UnixMilli(), LogMax); err != nil && ctx.Err() == nil {
				w.log().Warn("notifications: prune the delivery log", "err", err)
			}
		}
	}
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Once delivers what is due now, and returns how many were attempted.
func (w *Worker) Once(ctx context.Context) int {
	now := w.now()
	hc := w.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: attempt}
	}
	ready := w.Ready == nil || w.Ready()
	sent := 0
	if w.Spool != nil && !w.Spool.Empty() {
		// The store first: once it holds the spool, its outbox delivers
		// what is left, and nothing is sent twice from two places.
		var err error
		if ready {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = w.Spool.Replay(rctx, w.ReplayTo)
			cancel()
			if err == nil && w.Spool.Empty() {
				w.log().Info("alerts spool: the transitions kept while the store was away are recorded in it")
			}
		}
		if !ready || err != nil {
			for _, n := range w.Spool.due(now) {
				n = w.attempt(ctx, hc, n)
				if err := w.Spool.finish(n); err != nil {
					w.log().Warn("notifications: record a spooled delivery", "key", n.Key, "err", err)
				}
				sent++
			}
		}
	}
	if !ready {
		return sent
	}
	due, err := w.Store.ClaimNotifications(ctx, now.UnixMilli(), hold.Milliseconds(), 20)
	if err != nil {
		if ctx.Err() == nil && !w.unread {
			w.unread = true
			w.log().Warn("notifications: cannot read the outbox; tried every pass, logged again once it can be read", "err", err)
		}
		return sent
	}
	if w.unread {
		w.unread = false
		w.log().Info("notifications: the outbox can be read again")
	}
	for _, n := range due {
		n = w.attempt(ctx, hc, n)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := w.Store.FinishAttempt(fctx, n); err != nil {
			// The claim ends by itself; the notification is sent again then,
			// under the same key.
			w.log().Warn("notifications: record an attempt", "key", n.Key, "err", err)
		}
		cancel()
	}
	return sent + len(due)
}

// attempt sends n once and returns it with the outcome: delivered, failed
// (retries exhausted, or its channel gone), or pending with its next try.
func (w *Worker) attempt(ctx context.Context, hc *http.Client, n storage.Notification) storage.Notification {
	var ch *Channel
	for i := range w.Channels {
		if w.Channels[i].ID == n.Channel {
			ch = &w.Channels[i]
		}
	}
	n.Attempts++
	now := w.now()
	var status int
	var err error
	if ch == nil {
		err = errNoChannel
	} else {
		var m Message
		if err = json.Unmarshal([]byte(n.Payload), &m); err == nil {
			actx, cancel := context.WithTimeout(ctx, attempt)
			status, err = ch.Send(actx, hc, m)
			cancel()
		}
	}
	n.LastStatus = status
	n.LastError = ""
	switch {
	case err == nil:
		n.State, n.FinishedMS = storage.NotificationDelivered, now.UnixMilli()
		w.log().Info("notification delivered", "channel", n.Channel, "key", n.Key, "status", status, "attempts", n.Attempts)
	case ch == nil || now.Sub(time.UnixMilli(n.CreatedMS)) >= RetryFor:
		n.LastError = err.Error()
		n.State, n.FinishedMS = storage.NotificationFailed, now.UnixMilli()
		w.log().Error("notification not delivered; no more attempts", "channel", n.Channel, "key", n.Key, "status", status, "err", err)
	default:
		n.LastError = err.Error()
		n.NextMS = now.Add(backoff(n.Attempts)).UnixMilli()
		w.log().Warn("notification not delivered; will retry", "channel", n.Channel, "key", n.Key, "status", status, "err", err,
			"retry_in_ms", time.UnixMilli(n.NextMS).Sub(now).Milliseconds())
	}
	return n
}

type channelError string

func (e channelError) Error() string { return string(e) }

const errNoChannel = channelError("the channel is no longer in VITALS_NOTIFY")

// backoff doubles from 2 s to 10 min, with jitter.
func backoff(attempts int) time.Duration {
	d := 2 * time.Second << min(attempts-1, 16)
	d = min(d, maxWait)
	return d/2 + rand.N(d/2+1)
}
