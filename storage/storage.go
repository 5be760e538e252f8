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
)

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
}

// NewEvent is an event to insert; it has been validated by the caller.
// Details is nil or a JSON object.
type NewEvent struct {
	Type      string
	Message   string
	UserEmail *string
	Details   json.RawMessage
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
	// applies retention in the same transaction.
	InsertEvents(ctx context.Context, events []NewEvent) ([]Event, error)
	// ListEvents returns events newest first (created_at desc, id desc).
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)

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
