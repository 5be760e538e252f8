package sqlite_test

import (
	"testing"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
	"github.com/vitalsdev/vitals/storage/storagetest"
)

// The benchmarks run with the default retention (keep 1000), so pruning is
// part of the measured cost, as in production.

func BenchmarkInsertSingle(b *testing.B) {
	storagetest.BenchInsert(b, sqlitetest.Open(b, sqlite.Options{}), 1)
}

func BenchmarkInsertBatch100(b *testing.B) {
	storagetest.BenchInsert(b, sqlitetest.Open(b, sqlite.Options{}), 100)
}

func BenchmarkInsertBatch100Keyed(b *testing.B) {
	storagetest.BenchInsertKeyed(b, sqlitetest.Open(b, sqlite.Options{}), 100)
}

func BenchmarkInsertSingleKeyed(b *testing.B) {
	storagetest.BenchInsertKeyed(b, sqlitetest.Open(b, sqlite.Options{}), 1)
}

func BenchmarkInsertSingleParallel(b *testing.B) {
	storagetest.BenchInsertParallel(b, sqlitetest.Open(b, sqlite.Options{}))
}

func BenchmarkInsertSingleSyncFull(b *testing.B) {
	storagetest.BenchInsert(b, sqlitetest.Open(b, sqlite.Options{SyncFull: true}), 1)
}

func BenchmarkListEvents50(b *testing.B) {
	storagetest.BenchList(b, sqlitetest.Open(b, sqlite.Options{}), storage.EventFilter{Limit: 50})
}
