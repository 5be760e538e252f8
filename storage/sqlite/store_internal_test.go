package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/vitalsdev/vitals/storage"
)

func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestPragmas checks every connection of both pools, not just the first, has
// the DSN's settings.
func TestPragmas(t *testing.T) {
	for _, tc := range []struct {
		syncFull bool
		wantSync string
	}{{false, "1"}, {true, "2"}} {
		t.Run(fmt.Sprintf("SyncFull=%v", tc.syncFull), func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "p.db"), Options{SyncFull: tc.syncFull, ReadConns: 3})
			check := func(name string, db *sql.DB, readOnly bool) {
				// Hold several connections at once so that the pool
				// has to open more than one.
				ctx := t.Context()
				var conns []*sql.Conn
				for range 3 {
					c, err := db.Conn(ctx)
					if err != nil {
						t.Fatal(err)
					}
					conns = append(conns, c)
					if db == s.writer {
						break // one connection only
					}
				}
				for i, c := range conns {
					for p, want := range map[string]string{
						"journal_mode": "wal",
						"synchronous":  tc.wantSync,
						"busy_timeout": "5000",
						"foreign_keys": "1",
						"query_only":   map[bool]string{true: "1", false: "0"}[readOnly],
					} {
						var got string
						if err := c.QueryRowContext(ctx, "PRAGMA "+p).Scan(&got); err != nil {
							t.Fatal(err)
						}
						if got != want {
							t.Errorf("%s conn %d: PRAGMA %s = %s, want %s", name, i, p, got, want)
						}
					}
				}
				for _, c := range conns {
					_ = c.Close()
				}
			}
			check("writer", s.writer, false)
			check("reader", s.reader, true)
			if _, err := s.reader.ExecContext(t.Context(), "DELETE FROM activity_events"); err == nil {
				t.Error("the read pool can write")
			}
		})
	}
}

func tables(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.writer.QueryContext(t.Context(),
		"SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestMigrationsTables(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "m.db"), Options{})
	want := []string{"activity_events", "activity_events_count", "api_tokens", "goose_db_version", "history_chunks", "history_watermarks", "idempotency_keys", "instances", "leases", "notifications", "settings"}
	if got := tables(t, s); !slices.Equal(got, want) {
		t.Fatalf("tables after Open = %v, want %v", got, want)
	}
	if err := s.MigrateDownTo(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, s); !slices.Equal(got, []string{"goose_db_version"}) {
		t.Fatalf("tables after down = %v, want only goose's", got)
	}
	if err := s.MigrateUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, s); !slices.Equal(got, want) {
		t.Fatalf("tables after up = %v, want %v", got, want)
	}
}

// TestCreatedAtFormat checks the stored text, which ordering relies on.
func TestCreatedAtFormat(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	ctx := t.Context()
	got, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	// A row inserted by hand takes the column default: same format.
	if _, err := s.writer.ExecContext(ctx, "INSERT INTO activity_events (type, message) VALUES ('t', 'by hand')"); err != nil {
		t.Fatal(err)
	}
	rows, err := s.writer.QueryContext(ctx, "SELECT created_at FROM activity_events")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(raw) {
			t.Errorf("created_at stored as %q", raw)
		}
	}
	if ns := got[0].CreatedAt.Nanosecond(); ns%1e6 != 0 {
		t.Errorf("returned created_at has sub-millisecond part %d ns", ns)
	}
}

// TestOpenCreatesDirectoryAndReopens covers the first run (no ./data) and a
// restart (data kept, migrations not rerun), on a path that needs escaping in
// a URI.
func TestOpenCreatesDirectoryAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new dir", "odd?name#50%.db")
	ctx := t.Context()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "kept"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetSettingIfAbsent(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not at %s: %v", path, err)
	}
	s = open(t, path, Options{})
	evs, err := s.ListEvents(ctx, storage.EventFilter{})
	if err != nil || len(evs) != 1 || evs[0].Message != "kept" {
		t.Fatalf("after reopen: %+v, %v", evs, err)
	}
	if v, err := s.Setting(ctx, "k"); err != nil || v != "v" {
		t.Fatalf("setting after reopen: %q, %v", v, err)
	}
}

func TestOpenFailsOnUnusablePath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, bytes.Repeat([]byte("not a database "), 500), 0o600); err != nil {
		t.Fatal(err)
	}
	// The parent "directory" is a regular file.
	if _, err := Open(t.Context(), filepath.Join(file, "vitals.db"), Options{}); err == nil {
		t.Fatal("Open succeeded under a regular file")
	}
	// Not a database.
	if _, err := Open(t.Context(), file, Options{}); err == nil {
		t.Fatal("Open succeeded on a file that is not a database")
	}
}

// TestTwoStoresOneFile is two vitals processes sharing a file: their writers
// contend for SQLite's lock (BEGIN IMMEDIATE plus busy_timeout, never a
// failed lock upgrade), and the shared counter keeps retention exact.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	const keep = 20
	a := open(t, path, Options{EventsKeep: keep})
	b := open(t, path, Options{EventsKeep: keep})
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range 40 {
				if _, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: fmt.Sprintf("%d/%d", w, i)}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs, err := a.ListEvents(ctx, storage.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := a.writer.QueryRowContext(ctx, "SELECT n FROM activity_events_count").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != int64(len(evs)) || len(evs) < keep || len(evs) > storage.PruneThreshold(keep) {
		t.Fatalf("stored %d events, counter %d; want equal and within %d..%d", len(evs), n, keep, storage.PruneThreshold(keep))
	}
}

// TestCounterRepairs shows the recount at prune time heals a counter that
// drifted because something other than vitals changed the table.
func TestCounterRepairs(t *testing.T) {
	const keep = 10
	s := open(t, filepath.Join(t.TempDir(), "r.db"), Options{EventsKeep: keep})
	ctx := context.Background()
	for range 5 {
		if _, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "m"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Drift: the counter claims far more rows than exist.
	if _, err := s.writer.ExecContext(ctx, "UPDATE activity_events_count SET n = 500"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "m"}}); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.writer.QueryRowContext(ctx, "SELECT n FROM activity_events_count").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("counter after the repairing prune = %d, want 6 (the rows that exist)", n)
	}
}
