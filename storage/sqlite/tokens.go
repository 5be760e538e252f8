package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vitalsdev/vitals/storage"
)

// CreateToken stores a token's hash under its name; storage.ErrConflict when
// a live token has the name.
func (s *Store) CreateToken(ctx context.Context, t storage.NewToken) (storage.Token, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	var id int64
	err := s.writer.QueryRowContext(ctx, `
		INSERT INTO api_tokens (name, kind, hash, created_at) VALUES (?, ?, ?, ?)
		RETURNING id`, t.Name, t.Kind, t.Hash, now.Format(timeLayout)).Scan(&id)
	if err != nil {
		var se *msqlite.Error
		if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
			return storage.Token{}, fmt.Errorf("sqlite: create token %q: %w", t.Name, storage.ErrConflict)
		}
		return storage.Token{}, fmt.Errorf("sqlite: create token %q: %w", t.Name, err)
	}
	return storage.Token{ID: id, Name: t.Name, Kind: t.Kind, Hash: t.Hash, CreatedAt: now}, nil
}

const tokenColumns = "id, name, kind, hash, created_at, revoked_at, last_used_at"

// Tokens lists every token, oldest first.
func (s *Store) Tokens(ctx context.Context) ([]storage.Token, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	defer rows.Close()
	out := []storage.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	return out, nil
}

// RevokeToken sets revoked_at on the token, unless it is already revoked,
// and returns it.
func (s *Store) RevokeToken(ctx context.Context, id int64) (storage.Token, error) {
	now := time.Now().UTC().Truncate(time.Millisecond).Format(timeLayout)
	if _, err := s.writer.ExecContext(ctx,
		"UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", now, id); err != nil {
		return storage.Token{}, fmt.Errorf("sqlite: revoke token %d: %w", id, err)
	}
	// Read back on the writer, certain to see its own commit.
	t, err := scanToken(s.writer.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Token{}, fmt.Errorf("sqlite: revoke token %d: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Token{}, fmt.Errorf("sqlite: revoke token %d: %w", id, err)
	}
	return t, nil
}

// TouchTokens records last-used times, never moving one backwards.
func (s *Store) TouchTokens(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: touch tokens: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for id, at := range used {
		ts := at.UTC().Truncate(time.Millisecond).Format(timeLayout)
		if _, err := tx.ExecContext(ctx, `
			UPDATE api_tokens SET last_used_at = ?1
			WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`, ts, id); err != nil {
			return fmt.Errorf("sqlite: touch tokens: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: touch tokens: commit: %w", err)
	}
	return nil
}

// TokensVersion is the highest token id and the number of revoked tokens:
// tokens are never deleted, so any create or revoke changes one of them.
//
// Instances poll it several times a second. A query costs about a
// millisecond of CPU here, which alone was several times an idle vitals'
// budget, so the answer is reused while neither the database file nor its
// WAL has changed size or modification time: no process (vitals or
// `vitals token`) can have committed anything in between.
func (s *Store) TokensVersion(ctx context.Context) (string, error) {
	stamp, stampOK := s.fileStamp()
	if stampOK {
		s.tokensMu.Lock()
		if s.tokensStamp == stamp && s.tokensVersion != "" {
			v := s.tokensVersion
			s.tokensMu.Unlock()
			return v, nil
		}
		s.tokensMu.Unlock()
	}
	v, err := s.queryTokensVersion(ctx)
	if err != nil {
		return "", err
	}
	if stampOK {
		s.tokensMu.Lock()
		s.tokensStamp, s.tokensVersion = stamp, v
		s.tokensMu.Unlock()
	}
	return v, nil
}

// fileStamp describes the database file and its WAL by size and
// modification time; ok is false when either cannot be read, and then the
// caller queries.
func (s *Store) fileStamp() (stamp string, ok bool) {
	db, err := os.Stat(s.path)
	if err != nil {
		return "", false
	}
	wal, err := os.Stat(s.path + "-wal")
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("%d.%d.%d.%d", db.Size(), db.ModTime().UnixNano(), wal.Size(), wal.ModTime().UnixNano()), true
}

func (s *Store) queryTokensVersion(ctx context.Context) (string, error) {
	var maxID, revoked int64
	if err := s.reader.QueryRowContext(ctx,
		"SELECT coalesce(max(id), 0), count(revoked_at) FROM api_tokens").Scan(&maxID, &revoked); err != nil {
		return "", fmt.Errorf("sqlite: tokens version: %w", err)
	}
	return fmt.Sprintf("%d.%d", maxID, revoked), nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanToken(r rowScanner) (storage.Token, error) {
	var (
		t                 storage.Token
		created           string
		revoked, lastUsed sql.NullString
	)
	if err := r.Scan(&t.ID, &t.Name, &t.Kind, &t.Hash, &created, &revoked, &lastUsed); err != nil {
		return storage.Token{}, err
	}
	var err error
	if t.CreatedAt, err = time.Parse(timeLayout, created); err != nil {
		return storage.Token{}, fmt.Errorf("token %d: created_at: %w", t.ID, err)
	}
	if t.RevokedAt, err = parseNullTime(revoked); err != nil {
		return storage.Token{}, fmt.Errorf("token %d: revoked_at: %w", t.ID, err)
	}
	if t.LastUsedAt, err = parseNullTime(lastUsed); err != nil {
		return storage.Token{}, fmt.Errorf("token %d: last_used_at: %w", t.ID, err)
	}
	return t, nil
}

func parseNullTime(v sql.NullString) (*time.Time, error) {
	if !v.Valid {
		return nil, nil
	}
	t, err := time.Parse(timeLayout, v.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
