package storage

import (
	"context"
	"errors"
)

// ErrLeaseLost means a write that only a lease's holder may make was refused
// because the caller no longer holds the lease (it expired and another
// instance took it). Nothing of the write was stored.
var ErrLeaseLost = errors.New("storage: lease lost")

// HistoryChunk is one stored chunk of one series of one instance in one tier
// (docs/architecture.md, "History"). Data is opaque to the store: package
// history encodes it. Times are unix milliseconds.
type HistoryChunk struct {
	Instance string
	Tier     int
	Series   string
	// StartMS is the chunk's key within its series; EndMS the time of its
	// last point, by which it is found for a range and pruned.
	StartMS int64
	EndMS   int64
	// Points is how many points Data holds.
	Points int
	Data   []byte
}

// HistoryQuery selects chunks of one tier whose [StartMS, EndMS] meets
// [FromMS, ToMS]; Instance and Series, when set, narrow it.
type HistoryQuery struct {
	Tier     int
	Instance string
	// Series lists the series wanted; nil means every series.
	Series []string
	FromMS int64
	ToMS   int64
}

// HistoryStore keeps the history's chunks, the roll-ups' watermarks and the
// leases that make the roll-ups happen once across the fleet.
type HistoryStore interface {
	// PutHistoryChunks stores chunks in one transaction, each replacing
	// the chunk of the same tier, instance, series and StartMS.
	PutHistoryChunks(ctx context.Context, chunks []HistoryChunk) error
	// HistoryChunks returns the chunks q selects, ordered by instance,
	// series and StartMS.
	HistoryChunks(ctx context.Context, q HistoryQuery) ([]HistoryChunk, error)
	// HistoryWatermark returns until when tier has been rolled up (unix
	// ms); 0 when it never has.
	HistoryWatermark(ctx context.Context, tier int) (int64, error)
	// CommitRollup stores chunks and moves tier's watermark to untilMS in
	// one transaction, if holder holds lease at nowMS; otherwise it
	// stores nothing and returns ErrLeaseLost.
	CommitRollup(ctx context.Context, lease, holder string, nowMS int64, tier int, untilMS int64, chunks []HistoryChunk) error
	// PruneHistory deletes the chunks of tier whose last point is before
	// beforeMS and returns how many went.
	PruneHistory(ctx context.Context, tier int, beforeMS int64) (int64, error)
	// HistoryBytes reports the bytes the history's table and indexes take
	// (the file's share on SQLite, pg_total_relation_size on PostgreSQL).
	HistoryBytes(ctx context.Context) (int64, error)
	LeaseStore
}

// LeaseStore keeps leases: named rows with a holder and an expiry.
type LeaseStore interface {
	// AcquireLease makes holder the holder of lease until nowMS+ttlMS if
	// the lease is free, expired, or already holder's (a renewal), and
	// reports whether holder holds it now.
	AcquireLease(ctx context.Context, lease, holder string, nowMS, ttlMS int64) (bool, error)
	// ReleaseLease gives the lease up if holder holds it, so that another
	// instance takes over at once rather than after the expiry.
	ReleaseLease(ctx context.Context, lease, holder string) error
}

// Instance is one vitals process of the fleet as it last registered.
type Instance struct {
	ID        string
	Region    string
	Version   string
	StartedMS int64
	SeenMS    int64
	// IntervalMS is how often the instance registers (its history
	// interval); it is stale once silent for 3 of them.
	IntervalMS int64
	// Snapshot is the instance's latest snapshot as JSON.
	Snapshot []byte
}

// InstanceStore keeps the fleet's instances.
type InstanceStore interface {
	// UpsertInstance registers inst, replacing what was stored under its
	// ID.
	UpsertInstance(ctx context.Context, inst Instance) error
	// Instances lists every registered instance, by ID.
	Instances(ctx context.Context) ([]Instance, error)
	// PruneInstances deletes the instances last seen before beforeMS and
	// returns how many went.
	PruneInstances(ctx context.Context, beforeMS int64) (int64, error)
}

// DefaultInstanceInterval is the interval an instance is taken to register
// at when it does not say (VITALS_HISTORY_INTERVAL's default).
const DefaultInstanceInterval = 30_000

// InstanceInterval is inst's IntervalMS, or DefaultInstanceInterval when it
// is not positive, as both backends store it.
func InstanceInterval(inst Instance) int64 {
	if inst.IntervalMS <= 0 {
		return DefaultInstanceInterval
	}
	return inst.IntervalMS
}
