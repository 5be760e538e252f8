package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/vitalsdev/vitals/storage"
)

const upsertChunkSQL = `
	INSERT INTO history_chunks (instance, tier, series, start_ms, end_ms, points, data)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (tier, instance, series, start_ms) DO UPDATE SET
		end_ms = excluded.end_ms, points = excluded.points, data = excluded.data`

// PutHistoryChunks stores chunks in one transaction.
func (s *Store) PutHistoryChunks(ctx context.Context, chunks []storage.HistoryChunk) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error { return putChunks(ctx, tx, chunks) })
	if err := s.observe(err); err != nil {
		return fmt.Errorf("sqlite: put history: %w", err)
	}
	return nil
}

func putChunks(ctx context.Context, tx *sql.Tx, chunks []storage.HistoryChunk) error {
	if len(chunks) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, upsertChunkSQL)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, c := range chunks {
		if _, err := st.ExecContext(ctx, c.Instance, c.Tier, c.Series, c.StartMS, c.EndMS, c.Points, c.Data); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs f in one write transaction on the writer.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// HistoryChunks returns the chunks q selects.
func (s *Store) HistoryChunks(ctx context.Context, q storage.HistoryQuery) ([]storage.HistoryChunk, error) {
	var b strings.Builder
	b.WriteString(`SELECT instance, tier, series, start_ms, end_ms, points, data FROM history_chunks
		WHERE tier = ? AND end_ms >= ? AND start_ms <= ?`)
	args := []any{q.Tier, q.FromMS, q.ToMS}
	if q.Instance != "" {
		b.WriteString(" AND instance = ?")
		args = append(args, q.Instance)
	}
	if q.Series != nil {
		b.WriteString(" AND series IN (")
		for i, name := range q.Series {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			args = append(args, name)
		}
		b.WriteString(")")
	}
	b.WriteString(" ORDER BY instance, series, start_ms")
	rows, err := s.reader.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: history chunks: %w", err)
	}
	defer rows.Close()
	var out []storage.HistoryChunk
	for rows.Next() {
		var c storage.HistoryChunk
		if err := rows.Scan(&c.Instance, &c.Tier, &c.Series, &c.StartMS, &c.EndMS, &c.Points, &c.Data); err != nil {
			return nil, fmt.Errorf("sqlite: history chunks: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: history chunks: %w", err)
	}
	return out, nil
}

// HistoryWatermark returns until when tier has been rolled up.
func (s *Store) HistoryWatermark(ctx context.Context, tier int) (int64, error) {
	var until int64
	err := s.reader.QueryRowContext(ctx, "SELECT until_ms FROM history_watermarks WHERE tier = ?", tier).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: history watermark: %w", err)
	}
	return until, nil
}

// CommitRollup stores a roll-up and its watermark if holder holds lease.
func (s *Store) CommitRollup(ctx context.Context, lease, holder string, nowMS int64, tier int, untilMS int64, chunks []storage.HistoryChunk) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		// Under BEGIN IMMEDIATE no other writer runs between this check
		// and the commit.
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM leases WHERE name = ? AND holder = ? AND expires_ms > ?",
			lease, holder, nowMS).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrLeaseLost
		}
		if err := putChunks(ctx, tx, chunks); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO history_watermarks (tier, until_ms) VALUES (?, ?)
			ON CONFLICT (tier) DO UPDATE SET until_ms = excluded.until_ms`, tier, untilMS)
		return err
	})
	if errors.Is(err, storage.ErrLeaseLost) {
		return fmt.Errorf("sqlite: commit roll-up: %w", err)
	}
	if err := s.observe(err); err != nil {
		return fmt.Errorf("sqlite: commit roll-up: %w", err)
	}
	return nil
}

// PruneHistory deletes the chunks of tier that ended before beforeMS.
func (s *Store) PruneHistory(ctx context.Context, tier int, beforeMS int64) (int64, error) {
	res, err := s.writer.ExecContext(ctx, "DELETE FROM history_chunks WHERE tier = ? AND end_ms < ?", tier, beforeMS)
	if err := s.observe(err); err != nil {
		return 0, fmt.Errorf("sqlite: prune history: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// HistoryBytes sums the pages of the history table and of every index on
// it, its primary key's included (dbstat).
func (s *Store) HistoryBytes(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	err := s.reader.QueryRowContext(ctx, `SELECT sum(pgsize) FROM dbstat
		WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name = 'history_chunks')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: history bytes: %w", err)
	}
	return n.Int64, nil
}

// AcquireLease takes or renews lease for holder.
func (s *Store) AcquireLease(ctx context.Context, lease, holder string, nowMS, ttlMS int64) (bool, error) {
	var got string
	err := s.writer.QueryRowContext(ctx, `
		INSERT INTO leases (name, holder, expires_ms, acquired_ms) VALUES (?1, ?2, ?3 + ?4, ?3)
		ON CONFLICT (name) DO UPDATE SET
			holder = excluded.holder, expires_ms = excluded.expires_ms,
			acquired_ms = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_ms ELSE excluded.acquired_ms END
		WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?3
		RETURNING holder`, lease, holder, nowMS, ttlMS).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // held by another, not expired
	}
	if err := s.observe(err); err != nil {
		return false, fmt.Errorf("sqlite: acquire lease %q: %w", lease, err)
	}
	return got == holder, nil
}

// ReleaseLease gives lease up if holder holds it.
func (s *Store) ReleaseLease(ctx context.Context, lease, holder string) error {
	_, err := s.writer.ExecContext(ctx, "DELETE FROM leases WHERE name = ? AND holder = ?", lease, holder)
	if err := s.observe(err); err != nil {
		return fmt.Errorf("sqlite: release lease %q: %w", lease, err)
	}
	return nil
}

// UpsertInstance registers inst.
func (s *Store) UpsertInstance(ctx context.Context, inst storage.Instance) error {
	_, err := s.writer.ExecContext(ctx, `
		INSERT INTO instances (id, region, version, started_ms, seen_ms, interval_ms, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET region = excluded.region, version = excluded.version,
			started_ms = excluded.started_ms, seen_ms = excluded.seen_ms, interval_ms = excluded.interval_ms,
			snapshot = excluded.snapshot`,
		inst.ID, inst.Region, inst.Version, inst.StartedMS, inst.SeenMS, storage.InstanceInterval(inst), inst.Snapshot)
	if err := s.observe(err); err != nil {
		return fmt.Errorf("sqlite: upsert instance: %w", err)
	}
	return nil
}

// Instances lists every registered instance.
func (s *Store) Instances(ctx context.Context) ([]storage.Instance, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT id, region, version, started_ms, seen_ms, interval_ms, snapshot FROM instances ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: instances: %w", err)
	}
	defer rows.Close()
	var out []storage.Instance
	for rows.Next() {
		var in storage.Instance
		if err := rows.Scan(&in.ID, &in.Region, &in.Version, &in.StartedMS, &in.SeenMS, &in.IntervalMS, &in.Snapshot); err != nil {
			return nil, fmt.Errorf("sqlite: instances: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: instances: %w", err)
	}
	return out, nil
}

// PruneInstances deletes the instances last seen before beforeMS.
func (s *Store) PruneInstances(ctx context.Context, beforeMS int64) (int64, error) {
	res, err := s.writer.ExecContext(ctx, "DELETE FROM instances WHERE seen_ms < ?", beforeMS)
	if err := s.observe(err); err != nil {
		return 0, fmt.Errorf("sqlite: prune instances: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
