package handlers_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"vitals/storage"
)

// forEachBackend runs fn against a fresh harness on every store backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, h *harness)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newSQLiteHarness(t)) })
}

// poolOf is the PostgreSQL pool behind a store, nil for SQLite.
func poolOf(s storage.Store) *pgxpool.Pool {
	if p, ok := s.(interface{ Pool() *pgxpool.Pool }); ok {
		return p.Pool()
	}
	return nil
}
