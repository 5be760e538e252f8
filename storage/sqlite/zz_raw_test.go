package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
)

func BenchmarkRawAutocommit(b *testing.B) {
	db, err := sql.Open("sqlite", dsn(filepath.Join(b.TempDir(), "raw.db"), false, false))
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.Exec("INSERT INTO t (a, b) VALUES (?, ?)", "x", "y"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawTx3(b *testing.B) {
	db, err := sql.Open("sqlite", dsn(filepath.Join(b.TempDir(), "raw.db"), false, false))
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT); CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO c VALUES (1, 0)"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		tx, _ := db.Begin()
		if _, err := tx.Exec("INSERT INTO t (a, b) VALUES (?, ?)", "x", "y"); err != nil {
			b.Fatal(err)
		}
		var n int
		if err := tx.QueryRow("UPDATE c SET n = n + 1 WHERE id = 1 RETURNING n").Scan(&n); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
