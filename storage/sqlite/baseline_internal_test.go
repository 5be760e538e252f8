package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// BenchmarkBaselineRawInsert is the driver's own limit on this machine, for
// reading the store's figures: one autocommit single-row INSERT into a bare
// table, with the store's DSN (WAL, synchronous=NORMAL), no retention, no
// indexes.
func BenchmarkBaselineRawInsert(b *testing.B) {
	db, err := sql.Open("sqlite", dsn(filepath.Join(b.TempDir(), "raw.db"), false, false, 1000))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := b.Context()
	if _, err := db.ExecContext(ctx, "CREATE TABLE raw (id INTEGER PRIMARY KEY, a TEXT, b TEXT)"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.ExecContext(ctx, "INSERT INTO raw (a, b) VALUES (?, ?)", "x", "y"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
