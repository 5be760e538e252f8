package postgres_test

import (
	"testing"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/storagetest"
)

// TestShared runs the cross-instance cases on three stores sharing one
// schema, as three vitals instances share a database.
func TestShared(t *testing.T) {
	storagetest.RunShared(t, func(t *testing.T, keep int) []storage.Store {
		rawURL, schema := postgrestest.Schema(t)
		var out []storage.Store
		for range 3 {
			s, err := postgres.Open(t.Context(), rawURL, postgres.Options{Schema: schema, EventsKeep: keep})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if err := s.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	})
}
