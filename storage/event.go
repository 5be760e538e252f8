package storage

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// Sources: who wrote an event.
const (
	// SourceApp is the application vitals watches (ingest, the clients,
	// `vitals event`, `vitals demo`).
	SourceApp = "app"
	// SourceVitals is vitals itself: its sign-in, token and erasure
	// records.
	SourceVitals = "vitals"
)

// Types of the events vitals writes about itself, with SourceVitals. They
// are named here once; the handlers, the commands and the page use these.
const (
	TypeSignedIn     = "admin.signed_in"
	TypeSignInFailed = "admin.sign_in_failed"
	TypeLockedOut    = "admin.locked_out"
	TypeTokenCreated = "token.created"
	TypeTokenRevoked = "token.revoked"
	TypeEventsErased = "events.erased"
)

// ReservedPrefix returns the namespace of vitals' own types that typ is in
// ("admin.", "token.", "events.", "alert.", "vitals.": today's and those to
// come), or "" when typ is free for the application.
func ReservedPrefix(typ string) string {
	for _, p := range [...]string{"admin.", "token.", "events.", "alert.", "vitals."} {
		if strings.HasPrefix(typ, p) {
			return p
		}
	}
	return ""
}

// IdempotencyKeyTTL is how long a stored idempotency key is kept at least:
// a retry within it stores nothing new, even after retention pruned the
// event. Stores prune older keys by themselves, at most once a minute.
const IdempotencyKeyTTL = 24 * time.Hour

// DefaultIdempotencyKeysKeep is how many idempotency keys are kept at most,
// the newest, whatever their age: far above what a client buffers and
// retries, so that the store's size is bounded by its settings and not by
// the ingest rate times IdempotencyKeyTTL. Keys beyond it go in the same
// once-a-minute prune as expired ones.
const DefaultIdempotencyKeysKeep = 100_000

// KeysKeep returns n, or DefaultIdempotencyKeysKeep when n is not positive.
func KeysKeep(n int) int {
	if n <= 0 {
		return DefaultIdempotencyKeysKeep
	}
	return n
}

// MaxIdempotencyKeyLen is the longest idempotency key, in characters.
const MaxIdempotencyKeyLen = 64

// DefaultEventsKeep is how many of the newest events retention keeps unless
// configured otherwise (the seed's 1000).
const DefaultEventsKeep = 1000

// DefaultVitalsEventsKeep is how many of vitals' own events (SourceVitals)
// retention keeps, counted apart from the application's, so that a burst of
// them (sign-ins, token changes) never pushes an application event out.
const DefaultVitalsEventsKeep = 200

// PruneThreshold is the number of stored events above which retention prunes
// back to keep: keep plus 10 % (the seed's 1100 for 1000), hysteresis so that
// a prune does not run on every insert.
func PruneThreshold(keep int) int { return keep + keep/10 }

// ShouldPrune is the retention decision both backends make, for each
// source, after adding to that source's stored count: prune back to keep
// once more than PruneThreshold(keep) events of the source are stored.
func ShouldPrune(stored int64, keep int) bool { return stored > int64(PruneThreshold(keep)) }

// IsNullDetails reports whether details mean "no details": absent, blank or
// JSON null. Stores keep all of these as SQL NULL and return nil for them,
// so that there is one representation.
func IsNullDetails(d json.RawMessage) bool {
	t := bytes.TrimSpace(d)
	return len(t) == 0 || string(t) == "null"
}

// Event is one stored activity event (the seed's activity_events row).
type Event struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Message   string          `json:"message"`
	UserEmail *string         `json:"user_email"`
	Details   json.RawMessage `json:"details"`
	// Source is who wrote the event: SourceApp or SourceVitals.
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	// Duplicate is set by InsertEvents on an event whose idempotency key
	// was already stored: nothing new was stored, and the event is the one
	// stored under the key (its id and created_at; the other fields are
	// the stored ones while retention keeps the event, else as sent). It
	// is not part of the JSON contract.
	Duplicate bool `json:"-"`
}

// NewEvent is an event to insert; it has been validated by the caller.
// Details is nil or a JSON object.
type NewEvent struct {
	Type      string
	Message   string
	UserEmail *string
	Details   json.RawMessage
	// Source is SourceVitals for the events vitals writes about itself
	// (the types below); empty means SourceApp. Each source has its own
	// retention budget.
	Source string
	// OccurredAt, when set, is stored as the event's created_at (at the
	// backend's precision) instead of the commit's time: for events
	// reported after the fact, and for `vitals demo`'s backdated day.
	OccurredAt *time.Time
	// IdempotencyKey, when not empty, makes the insert idempotent: if an
	// event was stored under the key within IdempotencyKeyTTL (by any
	// call, on any instance, or earlier in the same call), nothing is
	// stored and that event is returned with Duplicate set.
	IdempotencyKey string
}

// EventFilter selects events for ListEvents.
type EventFilter struct {
	// Types keeps only events of these types; empty means every type.
	Types []string
	// Limit is the most events returned; the caller bounds it (1..200).
	// Zero or less means no limit (retention bounds the table anyway).
	Limit int
	// Before, when set, keeps only events strictly older than that
	// position in the newest-first order, for cursor pagination: pass the
	// CreatedAt and ID of the last event of the previous page.
	Before *EventCursor
	// Since, when not zero, keeps only events created at or after it.
	Since time.Time
	// Until, when not zero, keeps only events created strictly before it.
	Until time.Time
	// Search, when not empty, keeps only events whose message or user
	// email contains it, ignoring case (Unicode letters too; on
	// PostgreSQL as the database's LC_CTYPE folds them). It is matched as
	// plain text: '%' and '_' are not wildcards.
	Search string
	// UserEmail, when not empty, keeps only that person's events: their
	// user_email equal to it, ignoring case, as erasure compares them.
	UserEmail string
	// MarksOnly, with no Search and no UserEmail, fills only the ID, Type,
	// Source and CreatedAt of each event (the history's markers), so that
	// the rows' messages, addresses and details are neither read nor
	// copied: a history answer carries up to a thousand markers.
	MarksOnly bool
}

// EventCursor is a position in the newest-first order of events. CreatedAt
// must be the value the store returned, at its full precision
// (microseconds on PostgreSQL, milliseconds on SQLite).
type EventCursor struct {
	CreatedAt time.Time
	ID        int64
}
