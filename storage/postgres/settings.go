package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vitalsdev/vitals/storage"
)

// Setting returns the value stored under key, or storage.ErrNotFound.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	if !s.ready.Load() {
		return "", s.notReady("setting")
	}
	var v string
	err := s.pool.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: setting %q: %w", key, storage.ErrNotFound)
	}
	if err != nil {
		return "", s.opErr(fmt.Sprintf("setting %q", key), err)
	}
	return v, nil
}

// SetSettingIfAbsent stores value under key unless the key exists and returns
// the value now stored. Two statements, each its own transaction, on
// purpose: when another instance inserts the key concurrently, the INSERT
// waits for it and does nothing, and the SELECT, with a snapshot taken after
// that, sees the winner's value. (In one statement the snapshot would predate
// the winner's commit and see no row.)
func (s *Store) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	if !s.ready.Load() {
		return "", s.notReady("set setting")
	}
	op := fmt.Sprintf("set setting %q", key)
	var v string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO NOTHING
		RETURNING value`, key, value).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", s.opErr(op, err)
	}
	if err := s.pool.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v); err != nil {
		return "", s.opErr(op+": read back", err)
	}
	return v, nil
}

// SetSetting stores value under key, replacing any value there.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	if !s.ready.Load() {
		return s.notReady("set setting")
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, key, value)
	if err := s.observe(err); err != nil {
		return s.opErr(fmt.Sprintf("set setting %q", key), err)
	}
	return nil
}
