package postgres_test

import (
	"testing"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, keep int) storage.Store {
		return postgrestest.Open(t, postgres.Options{EventsKeep: keep})
	})
}

func TestIdempotencyKeysBounded(t *testing.T) {
	storagetest.KeysBound(t, postgrestest.Open(t, postgres.Options{KeysKeep: 5}), 5)
}
