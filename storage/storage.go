// Package storage defines what vitals keeps: activity events, settings
// (the admin password hash, the session key) and metric samples. Two
// implementations live in subpackages: storage/sqlite for development and
// tests, storage/postgres for production. storage/storagetest holds the
// conformance suite both must pass.
package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors every implementation returns so that callers can tell cases apart
// without knowing the backend.
var (
	// ErrNotFound means the requested row does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrUnavailable means the store cannot serve right now (PostgreSQL is
	// unreachable, or its migrations have not run yet).
	ErrUnavailable = errors.New("storage: store unavailable")
	// ErrConflict means the change clashes with a row that exists (a token
	// name already in use).
	ErrConflict = errors.New("storage: conflict")
)

// IdempotencyKeyTTL is how long a stored idempotency key is kept at least:
// a retry within it stores nothing new, even after retention pruned the
// event. Stores prune older keys by themselves, at most once a minute.
const IdempotencyKeyTTL = 24 * time.Hour

// MaxIdempotencyKeyLen is the longest idempotency key, in characters.
const MaxIdempotencyKeyLen = 64

// DefaultEventsKeep is how many of the newest events retention keeps unless
// configured otherwise (the seed's 1000).
const DefaultEventsKeep = 1000

// PruneThreshold is the number of stored events above which retention prunes
// back to keep: keep plus 10 % (the seed's 1100 for 1000), hysteresis so that
// a prune does not run on every insert.
func PruneThreshold(keep int) int { return keep + keep/10 }

// ShouldPrune is the retention decision both backends make after adding to
// the stored count: prune back to keep once more than PruneThreshold(keep)
// events are stored.
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
	CreatedAt time.Time       `json:"created_at"`
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
}

// EventCursor is a position in the newest-first order of events. CreatedAt
// must be the value the store returned, at its full precision
// (microseconds on PostgreSQL, milliseconds on SQLite).
type EventCursor struct {
	CreatedAt time.Time
	ID        int64
}

// Store is what vitals needs from a database. Every method takes a context
// and honours its deadline. Implementations are safe for concurrent use.
type Store interface {
	// Backend names the implementation: "sqlite" or "postgres".
	Backend() string
	// Ping checks that the store answers a trivial query.
	Ping(ctx context.Context) error

	// InsertEvents stores events in one transaction (all or none) and
	// returns them as stored, with id and created_at, in input order. It
	// applies retention in the same transaction. An event whose
	// IdempotencyKey is already stored is not stored again: it comes back
	// as the stored event with Duplicate set, however many callers send
	// the key at once, on however many instances.
	InsertEvents(ctx context.Context, events []NewEvent) ([]Event, error)
	// ListEvents returns events newest first (created_at desc, id desc).
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// DeleteEventsByEmail deletes every event whose user_email is email,
	// ignoring case, for erasure requests, and returns how many went. The
	// retention count stays exact. Idempotency keys stay, so that a
	// client's retry cannot bring an erased event back.
	DeleteEventsByEmail(ctx context.Context, email string) (int64, error)
	// PruneIdempotencyKeys deletes the idempotency keys stored before
	// before and returns how many went. InsertEvents calls it by itself
	// with IdempotencyKeyTTL; it is exported for tests and tools.
	PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)

	// CreateToken stores an API token's hash under a name; ErrConflict
	// when a token that is not revoked has the name.
	CreateToken(ctx context.Context, t NewToken) (Token, error)
	// Tokens lists every token, revoked ones too, oldest first.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks a token revoked and returns it; ErrNotFound when
	// there is no token with the id. Revoking a revoked token changes
	// nothing.
	RevokeToken(ctx context.Context, id int64) (Token, error)
	// TouchTokens records when tokens were last used (id to time); a time
	// older than the one stored is ignored.
	TouchTokens(ctx context.Context, used map[int64]time.Time) error
	// TokensVersion changes whenever a token is created or revoked (not
	// when one is used), so that every instance can poll it cheaply and
	// reload its tokens only when it changed.
	TokensVersion(ctx context.Context) (string, error)

	// Setting returns a stored setting, or ErrNotFound.
	Setting(ctx context.Context, key string) (string, error)
	// SetSettingIfAbsent stores value under key unless the key exists, and
	// returns the value now stored (the existing one if there was one), so
	// that several instances starting at once agree on one value.
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)
	// SetSetting stores value under key, replacing any value there (for
	// `vitals admin set-password`).
	SetSetting(ctx context.Context, key, value string) error

	// Close releases the store's connections.
	Close() error
}

// Token kinds: what a stored API token may do.
const (
	// TokenRead may read the JSON API and /metrics.
	TokenRead = "read"
	// TokenIngest may post events.
	TokenIngest = "ingest"
)

// Token is a stored API token. Only the SHA-256 of the token is kept: the
// token itself is shown once, when it is made.
type Token struct {
	ID   int64
	Name string
	// Kind is TokenRead or TokenIngest.
	Kind string
	// Hash is the lower-case hex SHA-256 of the token.
	Hash       string
	CreatedAt  time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// NewToken is a token to store; the caller has checked it.
type NewToken struct {
	Name string
	Kind string
	// Hash is the lower-case hex SHA-256 of the token.
	Hash string
}

// CeilTime rounds t up to a multiple of d (the backend's precision), so that
// a bound between two stored instants compares the same way it would at
// full precision.
func CeilTime(t time.Time, d time.Duration) time.Time {
	r := t.Truncate(d)
	if r.Before(t) {
		r = r.Add(d)
	}
	return r
}

// MigrationStatus is one migration known to a store and whether it has been
// applied, for `vitals migrate status`.
type MigrationStatus struct {
	// Version is the number the migration file starts with.
	Version int64
	// Name is the migration's file name.
	Name string
	// Applied reports whether the migration is applied in the database.
	Applied bool
	// AppliedAt is when it was applied; zero when it is pending.
	AppliedAt time.Time
}

// Migrator is implemented by stores whose schema is managed by migrations
// (both backends), so that `vitals migrate up|down|status` and the tests can
// move the schema without knowing the backend. Opening a store already
// applies every pending migration.
type Migrator interface {
	// MigrateUp applies every pending migration.
	MigrateUp(ctx context.Context) error
	// MigrateDown rolls back the most recently applied migration; it does
	// nothing when none is applied.
	MigrateDown(ctx context.Context) error
	// MigrateDownTo rolls back every applied migration above version;
	// version 0 rolls back all of them.
	MigrateDownTo(ctx context.Context, version int64) error
	// MigrationStatus lists every known migration, oldest first.
	MigrationStatus(ctx context.Context) ([]MigrationStatus, error)
}
