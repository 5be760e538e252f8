package sqlite_test

import (
	"testing"

	"vitals/storage"
	"vitals/storage/sqlite"
	"vitals/storage/sqlite/sqlitetest"
	"vitals/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, keep int) storage.Store {
		return sqlitetest.Open(t, sqlite.Options{EventsKeep: keep})
	})
}
