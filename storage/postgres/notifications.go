package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/vitalsdev/vitals/storage"
)

const notificationColumns = "id, key, channel, payload, created_ms, next_ms, attempts, state, last_status, last_error, finished_ms"

// EnqueueNotifications adds the notifications whose key is new, in one
// transaction.
func (s *Store) EnqueueNotifications(ctx context.Context, ns []storage.Notification) error {
	if !s.ready.Load() {
		return s.notReady("enqueue notifications")
	}
	b := &pgx.Batch{}
	for _, n := range ns {
		b.Queue(`INSERT INTO notifications (key, channel, payload, created_ms, next_ms, state, attempts, last_status, last_error, finished_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (key) DO NOTHING`, n.Key, n.Channel, n.Payload, n.CreatedMS, n.NextMS, storage.EnqueuedState(n), n.Attempts, n.LastStatus, n.LastError, n.FinishedMS)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err := s.observe(err); err != nil {
		return s.opErr("enqueue notifications", err)
	}
	return nil
}

// ClaimNotifications holds up to limit due notifications; SKIP LOCKED lets
// two instances claim at once without taking the same row.
func (s *Store) ClaimNotifications(ctx context.Context, nowMS, holdMS int64, limit int) ([]storage.Notification, error) {
	if !s.ready.Load() {
		return nil, s.notReady("claim notifications")
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE notifications SET claimed_ms = $2
		WHERE id IN (SELECT id FROM notifications
			WHERE state = 'pending' AND next_ms <= $1 AND claimed_ms <= $1
			ORDER BY next_ms, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+notificationColumns, nowMS, nowMS+holdMS, limit)
	if err != nil {
		return nil, s.opErr("claim notifications", err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, s.opErr("claim notifications", err)
	}
	return out, nil
}

// FinishAttempt records one attempt.
func (s *Store) FinishAttempt(ctx context.Context, n storage.Notification) error {
	if !s.ready.Load() {
		return s.notReady("finish notification")
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE notifications SET state = $1, attempts = $2, next_ms = $3, last_status = $4, last_error = $5, finished_ms = $6, claimed_ms = 0
		WHERE id = $7`, n.State, n.Attempts, n.NextMS, n.LastStatus, n.LastError, n.FinishedMS, n.ID)
	if err := s.observe(err); err != nil {
		return s.opErr("finish notification", err)
	}
	return nil
}

// ListNotifications returns the newest first.
func (s *Store) ListNotifications(ctx context.Context, limit int) ([]storage.Notification, error) {
	if !s.ready.Load() {
		return nil, s.notReady("list notifications")
	}
	rows, err := s.pool.Query(ctx, "SELECT "+notificationColumns+" FROM notifications ORDER BY id DESC LIMIT $1", limit)
	if err != nil {
		return nil, s.opErr("list notifications", err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, s.opErr("list notifications", err)
	}
	return out, nil
}

// PruneNotifications bounds the delivery log.
func (s *Store) PruneNotifications(ctx context.Context, beforeMS int64, keep int) error {
	if !s.ready.Load() {
		return s.notReady("prune notifications")
	}
	_, err := s.pool.Exec(ctx, `
		DELETE FROM notifications WHERE state <> 'pending' AND (finished_ms < $1 OR id NOT IN (
			SELECT id FROM notifications WHERE state <> 'pending' ORDER BY id DESC LIMIT $2))`, beforeMS, keep)
	if err := s.observe(err); err != nil {
		return s.opErr("prune notifications", err)
	}
	return nil
}

func scanNotifications(rows pgx.Rows) ([]storage.Notification, error) {
	defer rows.Close()
	out := []storage.Notification{}
	for rows.Next() {
		var n storage.Notification
		if err := rows.Scan(&n.ID, &n.Key, &n.Channel, &n.Payload, &n.CreatedMS, &n.NextMS, &n.Attempts, &n.State,
			&n.LastStatus, &n.LastError, &n.FinishedMS); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
