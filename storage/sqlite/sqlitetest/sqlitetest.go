// Package sqlitetest opens real SQLite stores for tests in any package: a
// fresh file in the test's temporary directory, migrated, closed at cleanup.
// It exists apart from package sqlite so that the production binary does not
// link the testing package.
package sqlitetest

import (
	"path/filepath"
	"testing"

	"github.com/vitalsdev/vitals/storage/sqlite"
)

// Open returns a fresh, migrated SQLite store in tb.TempDir(), closed when
// the test ends. The zero Options give production settings (keep 1000,
// synchronous=NORMAL).
func Open(tb testing.TB, opts sqlite.Options) *sqlite.Store {
	tb.Helper()
	return OpenPath(tb, filepath.Join(tb.TempDir(), "vitals.db"), opts)
}

// OpenPath is Open on a given file, for tests that reopen a store or share
// the file between two stores (two vitals processes on one file).
func OpenPath(tb testing.TB, path string, opts sqlite.Options) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), path, opts)
	if err != nil {
		tb.Fatalf("sqlitetest: open %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("sqlitetest: close %s: %v", path, err)
		}
	})
	return s
}
