package handlers_test

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// forEachBackend runs fn against a fresh harness on every store backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, h *harness)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newSQLiteHarness(t)) })
	// postgrestest skips without VITALS_TEST_DATABASE_URL, and fails in CI.
	t.Run("postgres", func(t *testing.T) { fn(t, newHarness(t, postgrestest.Open(t, postgres.Options{}))) })
}

// poolOf is the PostgreSQL pool behind a store, nil for SQLite.
func poolOf(s any) *pgxpool.Pool {
	if p, ok := s.(interface{ Pool() *pgxpool.Pool }); ok {
		return p.Pool()
	}
	return nil
}

type backend struct {
	name string
	open func(testing.TB) storage.Store
}

// benchBackends lists the backends a benchmark runs on: SQLite always,
// PostgreSQL when VITALS_TEST_DATABASE_URL is set.
func benchBackends(tb testing.TB) []backend {
	list := []backend{{"sqlite", func(tb testing.TB) storage.Store { return sqlitetest.Open(tb, sqlite.Options{}) }}}
	if os.Getenv("VITALS_TEST_DATABASE_URL") != "" || os.Getenv("CI") == "true" {
		list = append(list, backend{"postgres", func(tb testing.TB) storage.Store { return postgrestest.Open(tb, postgres.Options{}) }})
	}
	return list
}
