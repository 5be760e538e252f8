package sqlite

import (
	"context"
	"fmt"

	"github.com/vitalsdev/vitals/storage"
)

const notificationColumns = "id, key, channel, payload, created_ms, next_ms, attempts, state, last_status, last_error, finished_ms"

// EnqueueNotifications adds the notifications whose key is new, in one
// transaction.
func (s *Store) EnqueueNotifications(ctx context.Context, ns []storage.Notification) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: enqueue notifications: %w", s.observe(err))
	}
	defer func() { _ = tx.Rollback() }()
	for _, n := range ns {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO notifications (key, channel, payload, created_ms, next_ms, state, attempts, last_status, last_error, finished_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO NOTHING`, n.Key, n.Channel, n.Payload, n.CreatedMS, n.NextMS, storage.EnqueuedState(n), n.Attempts, n.LastStatus, n.LastError, n.FinishedMS); err != nil {
			return fmt.Errorf("sqlite: enqueue notifications: %w", s.observe(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: enqueue notifications: %w", s.observe(err))
	}
	return nil
}

// ClaimNotifications holds up to limit due notifications; the one writer
// connection makes the select and the update one step.
func (s *Store) ClaimNotifications(ctx context.Context, nowMS, holdMS int64, limit int) ([]storage.Notification, error) {
	rows, err := s.writer.QueryContext(ctx, `
		UPDATE notifications SET claimed_ms = ?2
		WHERE id IN (SELECT id FROM notifications
			WHERE state = 'pending' AND next_ms <= ?1 AND claimed_ms <= ?1
			ORDER BY next_ms, id LIMIT ?3)
		RETURNING `+notificationColumns, nowMS, nowMS+holdMS, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim notifications: %w", s.observe(err))
	}
	return scanNotifications(rows)
}

// FinishAttempt records one attempt.
func (s *Store) FinishAttempt(ctx context.Context, n storage.Notification) error {
	_, err := s.writer.ExecContext(ctx, `
		UPDATE notifications SET state = ?, attempts = ?, next_ms = ?, last_status = ?, last_error = ?, finished_ms = ?, claimed_ms = 0
		WHERE id = ?`, n.State, n.Attempts, n.NextMS, n.LastStatus, n.LastError, n.FinishedMS, n.ID)
	if err := s.observe(err); err != nil {
		return fmt.Errorf("sqlite: finish notification: %w", err)
	}
	return nil
}

// ListNotifications returns the newest first.
func (s *Store) ListNotifications(ctx context.Context, limit int) ([]storage.Notification, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT "+notificationColumns+" FROM notifications ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list notifications: %w", err)
	}
	return scanNotifications(rows)
}

// PruneNotifications bounds the delivery log.
func (s *Store) PruneNotifications(ctx context.Context, beforeMS int64, keep int) error {
	_, err := s.writer.ExecContext(ctx, `
		DELETE FROM notifications WHERE state <> 'pending' AND (finished_ms < ?1 OR id NOT IN (
			SELECT id FROM notifications WHERE state <> 'pending' ORDER BY id DESC LIMIT ?2))`, beforeMS, keep)
	if err := s.observe(err); err != nil {
		return fmt.Errorf("sqlite: prune notifications: %w", err)
	}
	return nil
}

type rowsScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

func scanNotifications(rows rowsScanner) ([]storage.Notification, error) {
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
