// Package storage defines what vitals keeps: activity events, API tokens and
// settings (the admin password hash, the session key). Two
// implementations live in subpackages: storage/sqlite for development and
// tests, storage/postgres for production. storage/storagetest holds the
// conformance suite both must pass.
package storage

import (
	"context"
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
	// ErrOutcomeUnknown means a write failed in a way that does not tell
	// whether it was committed: the connection broke, or its caller gave
	// up, after the commit may have been sent. A retry under the same
	// idempotency keys stores what was not stored, and nothing twice.
	ErrOutcomeUnknown = errors.New("storage: outcome unknown")
)

// Store is what vitals needs from a database: the slices below, which
// consumers take one by one. Every method takes a context and honours its
// deadline. Implementations are safe for concurrent use.
type Store interface {
	// Backend names the implementation: "sqlite" or "postgres".
	Backend() string
	// Ping checks that the store answers a trivial query.
	Ping(ctx context.Context) error
	Events
	TokenStore
	SettingStore
	HistoryStore
	InstanceStore
	NotificationStore
	// Close releases the store's connections.
	Close() error
}

// EventWriter stores events.
type EventWriter interface {
	// InsertEvents stores events in one transaction (all or none) and
	// returns them as stored, with id and created_at, in input order. It
	// applies retention, for each source apart, in the same transaction.
	// An event whose IdempotencyKey is already stored is not stored
	// again: it comes back as the stored event with Duplicate set,
	// however many callers send the key at once, on however many
	// instances.
	InsertEvents(ctx context.Context, events []NewEvent) ([]Event, error)
}

// EventReader lists events.
type EventReader interface {
	// ListEvents returns events newest first (created_at desc, id desc).
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
}

// EventEraser erases one person's events.
type EventEraser interface {
	// DeleteEventsByEmail deletes every event whose user_email is email,
	// ignoring case, for erasure requests, and returns how many went. The
	// retention counts stay exact. Idempotency keys stay, so that a
	// client's retry cannot bring an erased event back.
	DeleteEventsByEmail(ctx context.Context, email string) (int64, error)
}

// Events is everything a store does with activity events.
type Events interface {
	EventWriter
	EventReader
	EventEraser
	// PruneIdempotencyKeys deletes the idempotency keys stored before
	// before and returns how many went. InsertEvents calls it by itself
	// with IdempotencyKeyTTL; it is exported for tests and tools.
	PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)
}

// TokenStore keeps the stored API tokens.
type TokenStore interface {
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
}

// SettingStore keeps the few values every instance must agree on.
type SettingStore interface {
	// Setting returns a stored setting, or ErrNotFound.
	Setting(ctx context.Context, key string) (string, error)
	// SetSettingIfAbsent stores value under key unless the key exists, and
	// returns the value now stored (the existing one if there was one), so
	// that several instances starting at once agree on one value.
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)
	// SetSetting stores value under key, replacing any value there (for
	// `vitals admin set-password`).
	SetSetting(ctx context.Context, key, value string) error
}

// Token kinds: what a stored API token may do.
const (
	// TokenRead may read the JSON API and /metrics.
	TokenRead = "read"
	// TokenIngest may post events.
	TokenIngest = "ingest"
	// TokenAdmin may erase one person's events (DELETE /api/v1/events),
	// so that a script can answer an erasure request; it reads nothing.
	TokenAdmin = "admin"
)

// Token is a stored API token. Only the SHA-256 of the token is kept: the
// token itself is shown once, when it is made.
type Token struct {
	ID   int64
	Name string
	// Kind is TokenRead, TokenIngest or TokenAdmin.
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
