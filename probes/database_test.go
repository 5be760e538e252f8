package probes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// needEnv returns the variable's value; unset, the test skips naming it,
// or fails when CI=true, where every backend must be tested.
func needEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set (CI=true: this test must run)", name)
		}
		t.Skipf("%s is not set", name)
	}
	return v
}

// unreachable skips, or fails under CI=true, when a configured server
// cannot be reached.
func unreachable(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s unreachable (CI=true): %v", what, err)
	}
	t.Skipf("%s unreachable: %v", what, err)
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// privateDatabase creates a database of the test's own on the server of
// VITALS_TEST_DATABASE_URL, since other packages' tests run at the same
// time on the shared one and would change its connection count. It
// returns the URL of the new database and an admin connection to the
// server; both go at cleanup.
func privateDatabase(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	base := needEnv(t, "VITALS_TEST_DATABASE_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		unreachable(t, "VITALS_TEST_DATABASE_URL", err)
	}
	name := "vt_" + randomHex(t)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		// DROP DATABASE waits for a checkpoint, which took over 10 s on a
		// loaded machine: a cleanup may take its time.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String(), admin
}

func newPool(t *testing.T, dsn string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func collectDB(t *testing.T, p *DatabaseProbe, timeout time.Duration) Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var s Snapshot
	p.Read(ctx).Place(&s)
	return s.Database
}

func TestPostgresFigures(t *testing.T) {
	dsn, admin := privateDatabase(t)
	pool := newPool(t, dsn, 1) // one connection: the probe's own is counted once
	p := NewDatabaseProbe("postgres", nil, pool)

	d := collectDB(t, p, 5*time.Second)
	if d.Status != StatusOK {
		t.Fatalf("got %+v", d)
	}
	var show string
	if err := admin.QueryRow(context.Background(), "SHOW max_connections").Scan(&show); err != nil {
		t.Fatal(err)
	}
	want, _ := strconv.ParseInt(show, 10, 64)
	if *d.MaxConnections != want {
		t.Errorf("max_connections %d, SHOW says %d", *d.MaxConnections, want)
	}
	// only the probe's own session is in the private database, and it is
	// running the query: 1 connection, 1 active
	if *d.Connections != 1 || *d.ConnectionsActive != 1 || *d.ConnectionsIdle != 0 || *d.ConnectionsIdleInTransaction != 0 {
		t.Errorf("connections: %d active %d idle %d idle-tx %d", *d.Connections, *d.ConnectionsActive, *d.ConnectionsIdle, *d.ConnectionsIdleInTransaction)
	}
	// 1 of max_connections, rounded as the probe does
	if *d.ConnectionsPercent != round(100/float64(want), 2) {
		t.Errorf("percent %v", *d.ConnectionsPercent)
	}
	// Server-wide: every database's client sessions, at least this one's
	// plus the test's admin connection; the ages are known.
	if d.ServerConnections == nil || *d.ServerConnections < *d.Connections+1 || d.ServerConnectionsPercent == nil ||
		d.OldestXactAgeSeconds == nil || d.OldestIdleInTransactionSeconds == nil {
		t.Errorf("server-wide figures: %+v", d)
	}
	if *d.LatencyMS <= 0 || *d.LatencyMS > 1000 || *d.SizeBytes <= 0 || d.Partial || d.Backend != "postgres" ||
		d.ConnectionsStatus != StatusOK {
		t.Errorf("got %+v", d)
	}

	t.Run("N more connections raise the count by N", func(t *testing.T) {
		const n = 3
		before := collectDB(t, p, 5*time.Second)
		for range n {
			c, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
		}
		// one in a transaction, so "idle in transaction" is seen too
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		tx, err := c.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(context.Background()) }()
		if _, err := tx.Exec(context.Background(), "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		after := collectDB(t, p, 5*time.Second)
		// The session idle in its transaction went idle before the probe's
		// query began, so its age is above 0 (and so is the oldest
		// transaction's).
		if *after.OldestIdleInTransactionSeconds <= 0 || *after.OldestXactAgeSeconds <= 0 || *after.ServerConnections < *after.Connections {
			t.Errorf("idle in transaction %v s, oldest transaction %v s, server %d", *after.OldestIdleInTransactionSeconds, *after.OldestXactAgeSeconds, *after.ServerConnections)
		}
		if *after.Connections != *before.Connections+n+1 || *after.ConnectionsIdle != *before.ConnectionsIdle+n ||
			*after.ConnectionsIdleInTransaction != *before.ConnectionsIdleInTransaction+1 {
			t.Errorf("before %d (idle %d), after %d (idle %d, idle in tx %d); want +%d (+%d idle, +1 idle in tx)",
				*before.Connections, *before.ConnectionsIdle, *after.Connections, *after.ConnectionsIdle,
				*after.ConnectionsIdleInTransaction, n+1, n)
		}
	})
}

// TestPostgresPartialWithoutPgMonitor connects as a role without
// pg_monitor while another role has a session: the count must say it is
// partial and name the grant, until the grant is made.
func TestPostgresPartialWithoutPgMonitor(t *testing.T) {
	dsn, admin := privateDatabase(t)
	ctx := context.Background()
	role := "vt_role_" + randomHex(t)
	const password = "vt-pw-0d9c"
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	// registered after the database's cleanup, so it runs before it:
	// close the role's sessions, then drop it
	var pools []*pgxpool.Pool
	t.Cleanup(func() {
		for _, p := range pools {
			p.Close()
		}
		if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+role); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	u, _ := url.Parse(dsn)
	u.User = url.UserPassword(role, password)
	limitedPool := newPool(t, u.String(), 1)
	pools = append(pools, limitedPool)

	// another role's session in the same database
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)

	p := NewDatabaseProbe("postgres", nil, limitedPool)
	d := collectDB(t, p, 5*time.Second)
	if d.Status != StatusOK {
		t.Fatalf("got %+v", d)
	}
	// the other role's session has no visible state: only ours counts
	if !d.Partial || !strings.Contains(d.PartialReason, "GRANT pg_monitor TO "+role) || *d.Connections != 1 {
		t.Errorf("without pg_monitor: partial=%v %q connections=%d", d.Partial, d.PartialReason, *d.Connections)
	}
	if !strings.Contains(d.PartialReason, "(1 now)") {
		t.Errorf("hidden sessions not counted: %q", d.PartialReason)
	}

	if _, err := admin.Exec(ctx, "GRANT pg_monitor TO "+role); err != nil {
		t.Fatal(err)
	}
	d = collectDB(t, p, 5*time.Second)
	if d.Partial || d.PartialReason != "" || *d.Connections != 2 {
		t.Errorf("with pg_monitor: partial=%v %q connections=%d", d.Partial, d.PartialReason, *d.Connections)
	}
}

// TestPostgresDown needs no server: a lazy pool to a closed port and to a
// listener that never answers.
func TestPostgresDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	t.Run("refused", func(t *testing.T) {
		pool := newPool(t, "postgres://vitals:s3cret-pw@"+closedAddr+"/nope?sslmode=disable", 2)
		d := collectDB(t, NewDatabaseProbe("postgres", nil, pool), 2*time.Second)
		if d.Status != StatusUnavailable || d.Reason != "connection refused" || d.Connections != nil || d.LatencyMS != nil {
			t.Fatalf("got %+v", d)
		}
	})
	t.Run("hangs", func(t *testing.T) {
		pool := newPool(t, "postgres://vitals:s3cret-pw@"+hangingListener(t)+"/nope?sslmode=disable", 2)
		start := time.Now()
		d := collectDB(t, NewDatabaseProbe("postgres", nil, pool), 300*time.Millisecond)
		if took := time.Since(start); took > time.Second {
			t.Errorf("took %v with a 300ms deadline", took)
		}
		if d.Status != StatusUnavailable || d.Reason != "timeout after 300ms" {
			t.Fatalf("got %+v", d)
		}
	})
	t.Run("no secret in any reason", func(t *testing.T) {
		for _, err := range []error{
			errors.New("failed to connect to `user=vitals database=nope`: 10.0.0.1:5432 (db.internal): server error: FATAL: password authentication failed for user \"vitals\" (postgres://vitals:s3cret-pw@db.internal/nope)"),
		} {
			r := pgReason(err, time.Second)
			for _, leak := range []string{"s3cret-pw", "postgres://", "user=vitals"} {
				if strings.Contains(r, leak) {
					t.Errorf("reason %q leaks %q", r, leak)
				}
			}
		}
	})
}

func TestSQLiteDatabase(t *testing.T) {
	calls := 0
	p := NewDatabaseProbe("sqlite", func(context.Context) error { calls++; return nil }, nil)
	d := collectDB(t, p, time.Second)
	if d.Status != StatusOK || d.Backend != "sqlite" || d.LatencyMS == nil || *d.LatencyMS < 0 ||
		d.ConnectionsStatus != StatusNotApplicable || d.ConnectionsReason == "" || d.Connections != nil || d.MaxConnections != nil {
		t.Fatalf("got %+v", d)
	}
	if calls != 3 {
		t.Errorf("pinged %d times, want 3 (median)", calls)
	}
	d = collectDB(t, NewDatabaseProbe("sqlite", func(context.Context) error { return errors.New("database is locked") }, nil), time.Second)
	if d.Status != StatusUnavailable || d.Reason != "ping: database is locked" || d.LatencyMS != nil ||
		d.ConnectionsStatus != StatusNotApplicable {
		t.Fatalf("failing ping: %+v", d)
	}
	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	d = collectDB(t, NewDatabaseProbe("sqlite", slow, nil), 200*time.Millisecond)
	if d.Status != StatusUnavailable || d.Reason != "ping: timeout after 200ms" {
		t.Fatalf("slow ping: %+v", d)
	}
	d = collectDB(t, NewDatabaseProbe("", nil, nil), time.Second)
	if d.Status != StatusNotConfigured {
		t.Fatalf("nothing: %+v", d)
	}
}
