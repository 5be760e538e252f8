// Package postgrestest gives tests in any package a real PostgreSQL store in
// a schema of its own, following the project's rule (docs/architecture.md, "Tests"): the
// server comes from VITALS_TEST_DATABASE_URL; unset, the test is skipped with
// a message naming the variable, except under CI=true, where an unset or
// unreachable server fails the test. Every test gets a fresh schema named
// vt_<random hex>, dropped with everything in it when the test ends, so
// packages can run in parallel without sharing a table.
//
// It exists apart from package postgres so that the production binary does
// not link the testing package.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vitalsdev/vitals/storage/postgres"
)

// EnvURL names the environment variable holding the test server's URL.
const EnvURL = "VITALS_TEST_DATABASE_URL"

// cleanupTimeout bounds dropping a test schema at cleanup.
const cleanupTimeout = 30 * time.Second

// inCI reports whether the run is CI's, where PostgreSQL tests must run.
func inCI() bool { return os.Getenv("CI") == "true" }

// URL returns the test server's URL. Unset, it skips the test, or fails it
// under CI=true.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if inCI() {
			tb.Fatalf("%s is not set, and CI=true requires the PostgreSQL tests to run", EnvURL)
		}
		tb.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run them", EnvURL)
	}
	return url
}

// Schema returns the test server's URL and a fresh schema name, and drops
// that schema (CASCADE) when the test ends. Nothing is created: a store
// opened with the name creates the schema itself, as in production. Use it to
// exercise a real start-up path (DATABASE_URL plus VITALS_PG_SCHEMA). It skips
// or fails like URL, also when the server does not answer.
func Schema(tb testing.TB) (url, schema string) {
	tb.Helper()
	url = URL(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if inCI() {
			tb.Fatalf("PostgreSQL at %s is unreachable: %v", EnvURL, err)
		}
		tb.Skipf("PostgreSQL tests skipped: the server at %s is unreachable: %v", EnvURL, err)
	}
	_ = conn.Close(ctx)

	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	schema = "vt_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() { dropSchema(tb, url, schema) })
	return url, schema
}

func dropSchema(tb testing.TB, url, schema string) {
	// The test's context is already cancelled at cleanup time.
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Errorf("postgrestest: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		tb.Errorf("postgrestest: drop schema %s: %v", schema, err)
	}
}

// Open returns a store in a fresh schema, connected and migrated (Ready),
// closed and dropped when the test ends. opts.Schema is ignored: the schema is
// always a fresh one; the rest of opts is passed on.
func Open(tb testing.TB, opts postgres.Options) *postgres.Store {
	tb.Helper()
	url, schema := Schema(tb)
	opts.Schema = schema
	s, err := postgres.Open(tb.Context(), url, opts)
	if err != nil {
		tb.Fatalf("postgrestest: open: %v", err)
	}
	// Registered after Schema's cleanup, so it runs before it: the pool
	// is closed before the schema is dropped.
	tb.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	if err := s.Connect(ctx); err != nil {
		tb.Fatalf("postgrestest: connect: %v", err)
	}
	return s
}
