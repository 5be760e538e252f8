package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vitalsdev/vitals/storage"
)

const upsertChunkSQL = `
	INSERT INTO history_chunks (instance, tier, series, start_ms, end_ms, points, data)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (tier, instance, series, start_ms) DO UPDATE SET
		end_ms = EXCLUDED.end_ms, points = EXCLUDED.points, data = EXCLUDED.data`

// PutHistoryChunks stores chunks in one transaction, sent as one batch.
func (s *Store) PutHistoryChunks(ctx context.Context, chunks []storage.HistoryChunk) error {
	if !s.ready.Load() {
		return s.notReady("put history")
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return putChunks(ctx, tx, chunks) })
	if err := s.observe(err); err != nil {
		return s.opErr("put history", err)
	}
	return nil
}

func putChunks(ctx context.Context, tx pgx.Tx, chunks []storage.HistoryChunk) error {
	if len(chunks) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, c := range chunks {
		b.Queue(upsertChunkSQL, c.Instance, c.Tier, c.Series, c.StartMS, c.EndMS, c.Points, c.Data)
	}
	return tx.SendBatch(ctx, b).Close()
}

// HistoryChunks returns the chunks q selects.
func (s *Store) HistoryChunks(ctx context.Context, q storage.HistoryQuery) ([]storage.HistoryChunk, error) {
	if !s.ready.Load() {
		return nil, s.notReady("history chunks")
	}
	// One statement whatever is narrowed: an empty instance or a null
	// series list selects everything, so the plan is cached once.
	rows, err := s.pool.Query(ctx, `SELECT instance, tier, series, start_ms, end_ms, points, data FROM history_chunks
		WHERE tier = $1 AND end_ms >= $2 AND start_ms <= $3
		  AND ($4 = '' OR instance = $4)
		  AND ($5::text[] IS NULL OR series = ANY($5))
		ORDER BY instance, series, start_ms`, q.Tier, q.FromMS, q.ToMS, q.Instance, q.Series)
	if err != nil {
		return nil, s.opErr("history chunks", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.HistoryChunk, error) {
		var c storage.HistoryChunk
		err := r.Scan(&c.Instance, &c.Tier, &c.Series, &c.StartMS, &c.EndMS, &c.Points, &c.Data)
		return c, err
	})
	if err != nil {
		return nil, s.opErr("history chunks", err)
	}
	return out, nil
}

// HistoryWatermark returns until when tier has been rolled up.
func (s *Store) HistoryWatermark(ctx context.Context, tier int) (int64, error) {
	if !s.ready.Load() {
		return 0, s.notReady("history watermark")
	}
	var until int64
	err := s.pool.QueryRow(ctx, "SELECT until_ms FROM history_watermarks WHERE tier = $1", tier).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.opErr("history watermark", err)
	}
	return until, nil
}

// CommitRollup stores a roll-up and its watermark if holder holds lease.
// The lease row is locked (FOR UPDATE) for the transaction, so a takeover
// waits for this commit and the next holder reads the new watermark.
func (s *Store) CommitRollup(ctx context.Context, lease, holder string, nowMS int64, tier int, untilMS int64, chunks []storage.HistoryChunk) error {
	if !s.ready.Load() {
		return s.notReady("commit roll-up")
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND expires_ms > $3 FOR UPDATE",
			lease, holder, nowMS).Scan(&n); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return storage.ErrLeaseLost
			}
			return err
		}
		if err := putChunks(ctx, tx, chunks); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO history_watermarks (tier, until_ms) VALUES ($1, $2)
			ON CONFLICT (tier) DO UPDATE SET until_ms = EXCLUDED.until_ms`, tier, untilMS)
		return err
	})
	if errors.Is(err, storage.ErrLeaseLost) {
		return fmt.Errorf("postgres: commit roll-up: %w", err)
	}
	if err := s.observe(err); err != nil {
		return s.opErr("commit roll-up", err)
	}
	return nil
}

// PruneHistory deletes the chunks of tier that ended before beforeMS.
func (s *Store) PruneHistory(ctx context.Context, tier int, beforeMS int64) (int64, error) {
	if !s.ready.Load() {
		return 0, s.notReady("prune history")
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM history_chunks WHERE tier = $1 AND end_ms < $2", tier, beforeMS)
	if err := s.observe(err); err != nil {
		return 0, s.opErr("prune history", err)
	}
	return tag.RowsAffected(), nil
}

// HistoryBytes is pg_total_relation_size of the chunks' table: heap, TOAST
// and indexes.
func (s *Store) HistoryBytes(ctx context.Context) (int64, error) {
	if !s.ready.Load() {
		return 0, s.notReady("history bytes")
	}
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT pg_total_relation_size(to_regclass($1))",
		pgx.Identifier{s.schema, "history_chunks"}.Sanitize()).Scan(&n)
	if err != nil {
		return 0, s.opErr("history bytes", err)
	}
	return n, nil
}

// AcquireLease takes or renews lease for holder.
func (s *Store) AcquireLease(ctx context.Context, lease, holder string, nowMS, ttlMS int64) (bool, error) {
	if !s.ready.Load() {
		return false, s.notReady("acquire lease")
	}
	var got string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO leases AS l (name, holder, expires_ms, acquired_ms) VALUES ($1, $2, $3::bigint + $4::bigint, $3)
		ON CONFLICT (name) DO UPDATE SET
			holder = EXCLUDED.holder, expires_ms = EXCLUDED.expires_ms,
			acquired_ms = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_ms ELSE EXCLUDED.acquired_ms END
		WHERE l.holder = EXCLUDED.holder OR l.expires_ms <= $3
		RETURNING holder`, lease, holder, nowMS, ttlMS).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // held by another, not expired
	}
	if err := s.observe(err); err != nil {
		return false, s.opErr(fmt.Sprintf("acquire lease %q", lease), err)
	}
	return got == holder, nil
}

// ReleaseLease gives lease up if holder holds it.
func (s *Store) ReleaseLease(ctx context.Context, lease, holder string) error {
	if !s.ready.Load() {
		return s.notReady("release lease")
	}
	_, err := s.pool.Exec(ctx, "DELETE FROM leases WHERE name = $1 AND holder = $2", lease, holder)
	if err := s.observe(err); err != nil {
		return s.opErr(fmt.Sprintf("release lease %q", lease), err)
	}
	return nil
}

// UpsertInstance registers inst.
func (s *Store) UpsertInstance(ctx context.Context, inst storage.Instance) error {
	if !s.ready.Load() {
		return s.notReady("upsert instance")
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO instances (id, region, version, started_ms, seen_ms, interval_ms, snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, version = EXCLUDED.version,
			started_ms = EXCLUDED.started_ms, seen_ms = EXCLUDED.seen_ms, interval_ms = EXCLUDED.interval_ms,
			snapshot = EXCLUDED.snapshot`,
		inst.ID, inst.Region, inst.Version, inst.StartedMS, inst.SeenMS, storage.InstanceInterval(inst), inst.Snapshot)
	if err := s.observe(err); err != nil {
		return s.opErr("upsert instance", err)
	}
	return nil
}

// Instances lists every registered instance.
func (s *Store) Instances(ctx context.Context) ([]storage.Instance, error) {
	if !s.ready.Load() {
		return nil, s.notReady("instances")
	}
	rows, err := s.pool.Query(ctx, "SELECT id, region, version, started_ms, seen_ms, interval_ms, snapshot FROM instances ORDER BY id")
	if err != nil {
		return nil, s.opErr("instances", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Instance, error) {
		var in storage.Instance
		err := r.Scan(&in.ID, &in.Region, &in.Version, &in.StartedMS, &in.SeenMS, &in.IntervalMS, &in.Snapshot)
		return in, err
	})
	if err != nil {
		return nil, s.opErr("instances", err)
	}
	return out, nil
}

// PruneInstances deletes the instances last seen before beforeMS.
func (s *Store) PruneInstances(ctx context.Context, beforeMS int64) (int64, error) {
	if !s.ready.Load() {
		return 0, s.notReady("prune instances")
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM instances WHERE seen_ms < $1", beforeMS)
	if err := s.observe(err); err != nil {
		return 0, s.opErr("prune instances", err)
	}
	return tag.RowsAffected(), nil
}
