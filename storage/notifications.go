package storage

import (
	"context"
)

// Notification is one alert transition to deliver to one channel: a row
// of the outbox, and once finished an entry of the delivery log.
type Notification struct {
	ID int64 `json:"id"`
	// Key is the per-notification key (a transition and a channel): the
	// outbox holds it once, and receivers may drop repeats by it.
	Key string `json:"key"`
	// Channel names the channel by a digest of its URL, never the URL,
	// which may hold a secret.
	Channel string `json:"channel"`
	// Payload is what the worker sends (the transition, as JSON).
	Payload   string `json:"-"`
	CreatedMS int64  `json:"created_ms"`
	// NextMS is when the next attempt is due.
	NextMS   int64 `json:"next_ms"`
	Attempts int   `json:"attempts"`
	// State is pending, delivered or failed (retries exhausted).
	State string `json:"state"`
	// LastStatus is the receiver's last HTTP status (or SMTP code), 0 when
	// it did not answer.
	LastStatus int    `json:"last_status"`
	LastError  string `json:"last_error"`
	FinishedMS int64  `json:"finished_ms"`
}

// The states of a notification.
const (
	NotificationPending   = "pending"
	NotificationDelivered = "delivered"
	NotificationFailed    = "failed"
)

// NotificationStore is the alerts' outbox.
type NotificationStore interface {
	// EnqueueNotifications adds notifications whose key is not there yet
	// (a repeat of a key is not an error, and changes nothing). State is
	// pending when empty; the spool's replay adds delivered ones with their
	// Attempts, LastStatus and FinishedMS.
	EnqueueNotifications(ctx context.Context, ns []Notification) error
	// ClaimNotifications takes up to limit pending notifications due at
	// nowMS that no one else holds, and holds them until nowMS + holdMS:
	// two instances never deliver one notification at once.
	ClaimNotifications(ctx context.Context, nowMS, holdMS int64, limit int) ([]Notification, error)
	// FinishAttempt records an attempt's outcome: n's State, Attempts,
	// NextMS, LastStatus, LastError and FinishedMS, and lets the claim go.
	FinishAttempt(ctx context.Context, n Notification) error
	// ListNotifications returns the newest notifications first.
	ListNotifications(ctx context.Context, limit int) ([]Notification, error)
	// PruneNotifications deletes finished notifications finished before
	// beforeMS, and the oldest finished beyond keep.
	PruneNotifications(ctx context.Context, beforeMS int64, keep int) error
}

// EnqueuedState is the state a notification is enqueued in: its own, or
// pending.
func EnqueuedState(n Notification) string {
	if n.State == "" {
		return NotificationPending
	}
	return n.State
}

// TransitionStore is what an alert's transition is written to: its feed
// event and its notifications.
type TransitionStore interface {
	InsertEvents(ctx context.Context, events []NewEvent) ([]Event, error)
	EnqueueNotifications(ctx context.Context, ns []Notification) error
}
