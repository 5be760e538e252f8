package sqlite_test

import (
	"testing"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
	"github.com/vitalsdev/vitals/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, keep int) storage.Store {
		return sqlitetest.Open(t, sqlite.Options{EventsKeep: keep})
	})
}

func TestIdempotencyKeysBounded(t *testing.T) {
	storagetest.KeysBound(t, sqlitetest.Open(t, sqlite.Options{KeysKeep: 5}), 5)
}
