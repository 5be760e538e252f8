package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

// Setting returns the value stored under key, or storage.ErrNotFound.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.reader.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: setting %q: %w", key, storage.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: setting %q: %w", key, err)
	}
	return v, nil
}

// SetSettingIfAbsent stores value under key unless the key exists and returns
// the value now stored.
func (s *Store) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	_, err := s.writer.ExecContext(ctx, `
		INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO NOTHING`,
		key, value, time.Now().UTC().Format(timeLayout))
	if err != nil {
		return "", fmt.Errorf("sqlite: set setting %q: %w", key, err)
	}
	// Read back on the writer: it is the one connection certain to see its
	// own commit, and this runs a handful of times per start-up.
	var v string
	if err := s.writer.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite: set setting %q: read back: %w", key, err)
	}
	return v, nil
}

// SetSetting stores value under key, replacing any value there.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.writer.ExecContext(ctx, `
		INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (key) DO UPDATE SET value = ?2, updated_at = ?3`,
		key, value, time.Now().UTC().Format(timeLayout))
	if err := s.observe(err); err != nil {
		return fmt.Errorf("sqlite: set setting %q: %w", key, err)
	}
	return nil
}
