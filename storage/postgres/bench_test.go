package postgres_test

import (
	"testing"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/storagetest"
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

func BenchmarkInsertBatch100Keyed(b *testing.B) {
	storagetest.BenchInsertKeyed(b, postgrestest.Open(b, postgres.Options{}), 100)
}

func BenchmarkInsertSingleKeyed(b *testing.B) {
	storagetest.BenchInsertKeyed(b, postgrestest.Open(b, postgres.Options{}), 1)
}

func BenchmarkInsertSingleParallel(b *testing.B) {
	s := postgrestest.Open(b, postgres.Options{MaxConns: 16})
	storagetest.BenchInsertParallel(b, s)
}

func BenchmarkListEvents50(b *testing.B) {
	storagetest.BenchList(b, postgrestest.Open(b, postgres.Options{}), storage.EventFilter{Limit: 50})
}

// BenchmarkBaselineRawInsert is the server's own commit limit on this
// machine, for reading the store's figures: one autocommit single-row INSERT
// into a bare table on one connection, no retention.
func BenchmarkBaselineRawInsert(b *testing.B) {
	s := postgrestest.Open(b, postgres.Options{})
	ctx := b.Context()
	if _, err := s.Pool().Exec(ctx, "CREATE TABLE raw (id bigserial PRIMARY KEY, a text, b text)"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Pool().Exec(ctx, "INSERT INTO raw (a, b) VALUES ($1, $2)", "x", "y"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkBaselineRawInsertParallel is the same from 16 connections, each
// commit on its own (no grouping).
func BenchmarkBaselineRawInsertParallel(b *testing.B) {
	s := postgrestest.Open(b, postgres.Options{MaxConns: 16})
	ctx := b.Context()
	if _, err := s.Pool().Exec(ctx, "CREATE TABLE raw (id bigserial PRIMARY KEY, a text, b text)"); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Pool().Exec(ctx, "INSERT INTO raw (a, b) VALUES ($1, $2)", "x", "y"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
