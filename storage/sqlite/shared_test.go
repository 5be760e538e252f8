package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
	"github.com/vitalsdev/vitals/storage/storagetest"
)

// TestShared runs the cross-instance cases on two stores sharing one file,
// as two vitals processes on one machine would.
func TestShared(t *testing.T) {
	storagetest.RunShared(t, func(t *testing.T, keep int) []storage.Store {
		path := filepath.Join(t.TempDir(), "shared.db")
		return []storage.Store{
			sqlitetest.OpenPath(t, path, sqlite.Options{EventsKeep: keep}),
			sqlitetest.OpenPath(t, path, sqlite.Options{EventsKeep: keep}),
		}
	})
}
