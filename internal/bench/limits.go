package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vitalsdev/vitals/storage/sqlite"
)

// bareMain is the hidden -bare mode: a Fiber app with nothing but two
// handlers answering the bytes vitals answered, the limit of what vitals'
// own handlers (authentication, latency recording, snapshot encoding) can
// reach through the same framework.
func bareMain(addr, jsonFile, promFile string) int {
	js, err := os.ReadFile(jsonFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	prom, err := os.ReadFile(promFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/v1/system/metrics", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(js)
	})
	app.Get("/metrics", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
		return c.Send(prom)
	})
	app.Get("/health", func(c *fiber.Ctx) error { return c.SendString("ok") })
	if err := app.Listen(addr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// rawRate is a raw driver's limit: rows/s and the p99 of one commit.
type rawRate struct {
	RowsPerSec float64
	P99us      float64
}

// rawSQLite measures the driver alone on vitals' writer settings
// (sqlite.WriterDSN): single-row autocommit INSERTs on one connection, as
// vitals' one writer has, and transactions of batch rows.
func rawSQLite(ctx context.Context, dir string, batch int, d time.Duration) (rawRate, error) {
	path := filepath.Join(dir, fmt.Sprintf("raw-%d.db", batch))
	dsn, err := sqlite.WriterDSN(path, false)
	if err != nil {
		return rawRate{}, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return rawRate{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "CREATE TABLE raw (id INTEGER PRIMARY KEY, type TEXT, message TEXT, details TEXT, created_at INTEGER)"); err != nil {
		return rawRate{}, err
	}
	var lat []time.Duration
	rows := 0
	start := time.Now()
	for time.Since(start) < d {
		t0 := time.Now()
		if batch == 1 {
			if _, err := db.ExecContext(ctx, "INSERT INTO raw (type, message, details, created_at) VALUES (?, ?, ?, ?)",
				"bench.event", "A benchmark event", `{"i":1}`, t0.UnixMilli()); err != nil {
				return rawRate{}, err
			}
		} else {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return rawRate{}, err
			}
			for range batch {
				if _, err := tx.ExecContext(ctx, "INSERT INTO raw (type, message, details, created_at) VALUES (?, ?, ?, ?)",
					"bench.event", "A benchmark event", `{"i":1}`, t0.UnixMilli()); err != nil {
					_ = tx.Rollback()
					return rawRate{}, err
				}
			}
			if err := tx.Commit(); err != nil {
				return rawRate{}, err
			}
		}
		lat = append(lat, time.Since(t0))
		rows += batch
	}
	_, p99 := percentiles(lat)
	return rawRate{RowsPerSec: float64(rows) / time.Since(start).Seconds(), P99us: p99}, nil
}

// rawPostgres measures pgx alone on the same URL: conns connections (the
// load's), each committing single-row INSERTs, or batch rows in one
// transaction, into a table of a schema of its own.
func rawPostgres(ctx context.Context, url, schema string, batch, conns int, d time.Duration) (rawRate, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return rawRate{}, err
	}
	cfg.MaxConns = int32(conns)
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return rawRate{}, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return rawRate{}, err
	}
	table := fmt.Sprintf("raw_%d", batch)
	if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (id BIGSERIAL PRIMARY KEY, type TEXT, message TEXT, details JSONB, created_at TIMESTAMPTZ)"); err != nil {
		return rawRate{}, err
	}
	ins := "INSERT INTO " + table + " (type, message, details, created_at) VALUES ($1, $2, $3, $4)"
	var (
		rows  atomic.Int64
		mu    sync.Mutex
		lat   []time.Duration
		wg    sync.WaitGroup
		first error
	)
	start := time.Now()
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			for time.Since(start) < d {
				t0 := time.Now()
				var err error
				if batch == 1 {
					_, err = pool.Exec(ctx, ins, "bench.event", "A benchmark event", `{"i":1}`, t0)
				} else {
					err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						var b pgx.Batch
						for range batch {
							b.Queue(ins, "bench.event", "A benchmark event", `{"i":1}`, t0)
						}
						return tx.SendBatch(ctx, &b).Close()
					})
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
				rows.Add(int64(batch))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if first != nil {
		return rawRate{}, first
	}
	_, p99 := percentiles(lat)
	return rawRate{RowsPerSec: float64(rows.Load()) / time.Since(start).Seconds(), P99us: p99}, nil
}
