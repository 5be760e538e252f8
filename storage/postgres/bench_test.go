package postgres_test

import (
	"testing"

	"vitals/storage"
	"vitals/storage/postgres"
	"vitals/storage/postgres/postgrestest"
	"vitals/storage/storagetest"
)

// The benchmarks run with the default retention (keep 1000), so pruning is
// part of the measured cost, as in production. The parallel one uses a pool
// of 16 connections.

func BenchmarkInsertSingle(b *testing.B) {
	storagetest.BenchInsert(b, postgrestest.Open(b, postgres.Options{}), 1)
}

func BenchmarkInsertBatch100(b *testing.B) {
	storagetest.BenchInsert(b, postgrestest.Open(b, postgres.Options{}), 100)
}

func BenchmarkInsertSingleParallel(b *testing.B) {
	s := postgrestest.Open(b, postgres.Options{MaxConns: 16})
	storagetest.BenchInsertParallel(b, s)
}

func BenchmarkListEvents50(b *testing.B) {
	storagetest.BenchList(b, postgrestest.Open(b, postgres.Options{}), storage.EventFilter{Limit: 50})
}
