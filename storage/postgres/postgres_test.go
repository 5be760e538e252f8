package postgres_test

import (
	"testing"

	"vitals/storage"
	"vitals/storage/postgres"
	"vitals/storage/postgres/postgrestest"
	"vitals/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, keep int) storage.Store {
		return postgrestest.Open(t, postgres.Options{EventsKeep: keep})
	})
}
