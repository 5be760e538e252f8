package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vitalsdev/vitals/storage"
)

const tokenColumns = "id, name, kind, hash, created_at, revoked_at, last_used_at"

// CreateToken stores a token's hash under its name; storage.ErrConflict when
// a live token has the name.
func (s *Store) CreateToken(ctx context.Context, t storage.NewToken) (storage.Token, error) {
	if !s.ready.Load() {
		return storage.Token{}, s.notReady("create token")
	}
	op := fmt.Sprintf("create token %q", t.Name)
	out, err := scanToken(s.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (name, kind, hash) VALUES ($1, $2, $3)
		RETURNING `+tokenColumns, t.Name, t.Kind, t.Hash))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return storage.Token{}, fmt.Errorf("postgres: %s: %w", op, storage.ErrConflict)
	}
	if err != nil {
		return storage.Token{}, s.opErr(op, err)
	}
	return out, nil
}

// Tokens lists every token, oldest first.
func (s *Store) Tokens(ctx context.Context) ([]storage.Token, error) {
	if !s.ready.Load() {
		return nil, s.notReady("tokens")
	}
	rows, err := s.pool.Query(ctx, "SELECT "+tokenColumns+" FROM api_tokens ORDER BY id")
	if err != nil {
		return nil, s.opErr("tokens", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, s.opErr("tokens", err)
	}
	if out == nil {
		out = []storage.Token{}
	}
	return out, nil
}

// RevokeToken sets revoked_at on the token, unless it is already revoked,
// and returns it.
func (s *Store) RevokeToken(ctx context.Context, id int64) (storage.Token, error) {
	if !s.ready.Load() {
		return storage.Token{}, s.notReady("revoke token")
	}
	op := fmt.Sprintf("revoke token %d", id)
	// One statement: the UPDATE (when it changes the row) and the SELECT
	// see the same snapshot, so the row comes from whichever matched.
	t, err := scanToken(s.pool.QueryRow(ctx, `
		WITH upd AS (
			UPDATE api_tokens SET revoked_at = now()
			WHERE id = $1 AND revoked_at IS NULL
			RETURNING `+tokenColumns+`
		)
		SELECT `+tokenColumns+` FROM upd
		UNION ALL
		SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Token{}, fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Token{}, s.opErr(op, err)
	}
	return t, nil
}

// TouchTokens records last-used times, never moving one backwards, in one
// statement.
func (s *Store) TouchTokens(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	if !s.ready.Load() {
		return s.notReady("touch tokens")
	}
	ids := make([]int64, 0, len(used))
	ats := make([]time.Time, 0, len(used))
	for id, at := range used {
		ids = append(ids, id)
		ats = append(ats, at)
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE api_tokens t SET last_used_at = u.at
		FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, at)
		WHERE t.id = u.id AND (t.last_used_at IS NULL OR t.last_used_at < u.at)`, ids, ats)
	if err != nil {
		return s.opErr("touch tokens", err)
	}
	return nil
}

// TokensVersion is the highest token id and the number of revoked tokens:
// tokens are never deleted, so any create or revoke changes one of them.
func (s *Store) TokensVersion(ctx context.Context) (string, error) {
	if !s.ready.Load() {
		return "", s.notReady("tokens version")
	}
	var maxID, revoked int64
	if err := s.pool.QueryRow(ctx,
		"SELECT coalesce(max(id), 0), count(revoked_at) FROM api_tokens").Scan(&maxID, &revoked); err != nil {
		return "", s.opErr("tokens version", err)
	}
	return fmt.Sprintf("%d.%d", maxID, revoked), nil
}

func scanToken(r pgx.Row) (storage.Token, error) {
	var t storage.Token
	if err := r.Scan(&t.ID, &t.Name, &t.Kind, &t.Hash, &t.CreatedAt, &t.RevokedAt, &t.LastUsedAt); err != nil {
		return storage.Token{}, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	if t.RevokedAt != nil {
		v := t.RevokedAt.UTC()
		t.RevokedAt = &v
	}
	if t.LastUsedAt != nil {
		v := t.LastUsedAt.UTC()
		t.LastUsedAt = &v
	}
	return t, nil
}
