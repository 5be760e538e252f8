package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
)

// proxy is a TCP proxy the test owns, to take "the database" away and give it
// back without touching the machine's PostgreSQL. Modes: forward to the
// target, refuse (accept and close at once), or hang (accept and never
// answer, the case a closed port does not cover).
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  string
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target, mode string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, mode: mode, conns: map[net.Conn]bool{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// set switches the mode for new connections; cut drops the current ones.
func (p *proxy) set(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *proxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[c] = true

}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		switch mode {
		case "refuse":
			_ = c.Close()
		case "hang":
			p.track(c) // held open, never read, until cut
		default:
			p.track(c)
			p.wg.Go(func() { p.forward(c) })
		}
	}
}

func (p *proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.track(up)
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
	wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
	wg.Wait()
}

// viaProxy rewrites a URL's host:port to addr.
func viaProxy(t *testing.T, raw, addr string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

func target(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || strings.HasPrefix(host, "/") {
		t.Skipf("%s does not name a TCP host", postgrestest.EnvURL)
	}
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(host, port)
}

// checkUnavailable asserts every data method fails with ErrUnavailable.
func checkUnavailable(t *testing.T, s *postgres.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "m"}})
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("InsertEvents error = %v, want ErrUnavailable", err)
	}
	if _, err := s.ListEvents(ctx, storage.EventFilter{}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("ListEvents error = %v, want ErrUnavailable", err)
	}
	if _, err := s.Setting(ctx, "k"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Setting error = %v, want ErrUnavailable", err)
	}
	if _, err := s.SetSettingIfAbsent(ctx, "k", "v"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("SetSettingIfAbsent error = %v, want ErrUnavailable", err)
	}
}

func TestOpenMalformedURL(t *testing.T) {
	for _, u := range []string{
		"postgres://user:s3cret@host:notaport/db",
		"postgres://user:s3cret@host/db?sslmode=bogus",
	} {
		s, err := postgres.Open(t.Context(), u, postgres.Options{})
		if err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error leaks the password: %v", err)
		}
	}
}

// TestOpenUnreachable: nothing listens. Open must still return a store at
// once, which reports itself unavailable.
func TestOpenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	start := time.Now()
	s, err := postgres.Open(t.Context(), "postgres://vitals@"+addr+"/vitals?sslmode=disable", postgres.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Open took %v", d)
	}
	if s.Ready() {
		t.Error("Ready() before connecting")
	}
	if err := s.Ping(t.Context()); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping error = %v, want ErrUnavailable", err)
	}
	if err := s.Connect(t.Context()); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Connect error = %v, want ErrUnavailable", err)
	}
	checkUnavailable(t, s)
}

// TestOpenHanging: the server accepts and never answers. Nothing may block
// past its deadline.
func TestOpenHanging(t *testing.T) {
	p := newProxy(t, "", "hang")
	start := time.Now()
	s, err := postgres.Open(t.Context(), "postgres://vitals@"+p.addr()+"/vitals?sslmode=disable",
		postgres.Options{ConnectTimeout: 500 * time.Millisecond, AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Open took %v", d)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	start = time.Now()
	err = s.Ping(ctx)
	cancel()
	if err == nil {
		t.Fatal("Ping succeeded against a server that never answers")
	}
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping error = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Ping took %v against a 300ms deadline", d)
	}

	// Without a caller deadline, ConnectTimeout still bounds a connect.
	start = time.Now()
	if err := s.Ping(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping without deadline error = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Ping without deadline took %v, ConnectTimeout is 500ms", d)
	}
	checkUnavailable(t, s)

	// ConnectLoop keeps trying, each attempt bounded, until its context
	// ends.
	ctx, cancel = context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	start = time.Now()
	err = s.ConnectLoop(ctx, slog.New(slog.DiscardHandler))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ConnectLoop error = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("ConnectLoop ran %v past a 1.5s context", d)
	}
	if s.Ready() {
		t.Error("Ready() after failed ConnectLoop")
	}
}

// TestConnectLoopWhenServerComesUp: vitals starts with the database away;
// the background loop connects once it is back, with no restart.
func TestConnectLoopWhenServerComesUp(t *testing.T) {
	rawURL, schema := postgrestest.Schema(t)
	p := newProxy(t, target(t, rawURL), "refuse")
	s, err := postgres.Open(t.Context(), viaProxy(t, rawURL, p.addr()), postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	done := make(chan error, 1)
	go func() { done <- s.ConnectLoop(t.Context(), slog.New(slog.DiscardHandler)) }()
	time.Sleep(600 * time.Millisecond) // a few failed attempts
	if s.Ready() {
		t.Fatal("Ready() while the server is away")
	}
	checkUnavailable(t, s)

	p.set("forward")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ConnectLoop: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ConnectLoop did not connect within 20s of the server coming back")
	}
	if !s.Ready() {
		t.Fatal("not Ready() after ConnectLoop returned")
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := s.InsertEvents(t.Context(), []storage.NewEvent{{Type: "t", Message: "m"}}); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
}

// TestServerGoesAway: after being ready, losing the server shows as failing
// Ping and ErrUnavailable, and the store recovers by itself.
func TestServerGoesAway(t *testing.T) {
	rawURL, schema := postgrestest.Schema(t)
	p := newProxy(t, target(t, rawURL), "forward")
	s, err := postgres.Open(t.Context(), viaProxy(t, rawURL, p.addr()), postgres.Options{Schema: schema, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertEvents(t.Context(), []storage.NewEvent{{Type: "t", Message: "before"}}); err != nil {
		t.Fatal(err)
	}

	for _, mode := range []string{"refuse", "hang"} {
		p.set(mode)
		p.cut()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		if err := s.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s: Ping error = %v, want ErrUnavailable", mode, err)
		}
		_, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "during"}})
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s: InsertEvents error = %v, want ErrUnavailable", mode, err)
		}
		cancel()
	}

	p.set("forward")
	p.cut()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Ping(t.Context())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping still failing 10s after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	evs, err := s.ListEvents(t.Context(), storage.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Message != "before" {
		t.Fatalf("after recovery: %+v (the failed inserts must not be stored)", evs)
	}
}

// TestSchemaIsolation: every table, goose's too, is in the configured schema,
// whatever characters its name has.
func TestSchemaIsolation(t *testing.T) {
	rawURL, base := postgrestest.Schema(t)
	schema := base + ` Odd-"Name"; DROP`
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, rawURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	s, err := postgres.Open(t.Context(), rawURL, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertEvents(t.Context(), []storage.NewEvent{{Type: "t", Message: "m"}}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Pool().Query(t.Context(),
		"SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", schema)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"activity_events", "activity_events_count", "api_tokens", "goose_db_version", "history_chunks", "history_watermarks", "idempotency_keys", "instances", "leases", "notifications", "settings"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("tables in schema %q = %v, want %v", schema, got, want)
	}
	var current string
	if err := s.Pool().QueryRow(t.Context(), "SELECT current_schema()").Scan(&current); err != nil {
		t.Fatal(err)
	}
	if current != schema {
		t.Errorf("current_schema() = %q, want %q", current, schema)
	}
}

// TestTwoInstances: two stores on one schema start together (schema creation
// and migrations race, serialised by the advisory lock) and then insert
// concurrently; the shared counter keeps retention exact.
func TestTwoInstances(t *testing.T) {
	rawURL, schema := postgrestest.Schema(t)
	const keep = 20
	var stores [2]*postgres.Store
	for i := range stores {
		s, err := postgres.Open(t.Context(), rawURL, postgres.Options{Schema: schema, EventsKeep: keep})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for _, s := range stores {
		wg.Go(func() {
			if err := s.Connect(t.Context()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	for w := range 8 {
		s := stores[w%2]
		wg.Go(func() {
			for i := range 30 {
				if _, err := s.InsertEvents(t.Context(), []storage.NewEvent{{Type: "t", Message: fmt.Sprintf("%d/%d", w, i)}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs, err := stores[0].ListEvents(t.Context(), storage.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := stores[1].Pool().QueryRow(t.Context(), "SELECT n FROM activity_events_count").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != int64(len(evs)) || len(evs) < keep || len(evs) > storage.PruneThreshold(keep) {
		t.Fatalf("stored %d, counter %d; want equal and within %d..%d", len(evs), n, keep, storage.PruneThreshold(keep))
	}
}

// TestCounterRepairs: the recount at prune time heals a counter that drifted
// because something other than vitals changed the table.
func TestCounterRepairs(t *testing.T) {
	s := postgrestest.Open(t, postgres.Options{EventsKeep: 10})
	ctx := t.Context()
	for range 5 {
		if _, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "m"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE activity_events_count SET n = 500"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "m"}}); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.Pool().QueryRow(ctx, "SELECT n FROM activity_events_count").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("counter after the repairing prune = %d, want 6", n)
	}
}

// TestMicrosecondPrecision: created_at keeps PostgreSQL's microseconds, and
// a cursor built from a returned event pages exactly.
func TestMicrosecondPrecision(t *testing.T) {
	s := postgrestest.Open(t, postgres.Options{})
	ctx := t.Context()
	sub := false
	for range 5 {
		evs, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "m"}})
		if err != nil {
			t.Fatal(err)
		}
		if evs[0].CreatedAt.Nanosecond()%int(time.Millisecond) != 0 {
			sub = true
		}
		if evs[0].CreatedAt.Nanosecond()%int(time.Microsecond) != 0 {
			t.Errorf("created_at %v has sub-microsecond digits", evs[0].CreatedAt)
		}
	}
	if !sub {
		t.Error("five created_at values all whole milliseconds: precision lost?")
	}
}

// TestCloseStopsConnectLoop: Close ends a ConnectLoop stuck on a server that
// never answers, without waiting out the attempt's time budget.
func TestCloseStopsConnectLoop(t *testing.T) {
	p := newProxy(t, "", "hang")
	s, err := postgres.Open(t.Context(), "postgres://vitals@"+p.addr()+"/vitals?sslmode=disable",
		postgres.Options{ConnectTimeout: time.Minute, AttemptTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ConnectLoop(t.Context(), nil) }()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("ConnectLoop reported success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ConnectLoop still running 5s after Close")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close and ConnectLoop took %v to stop", d)
	}
}

// TestLeastPrivilegedRole: a role that may not create schemas in the
// database, given a schema an admin made for it, still connects and
// migrates (CREATE SCHEMA IF NOT EXISTS alone would be refused).
func TestLeastPrivilegedRole(t *testing.T) {
	rawURL, schema := postgrestest.Schema(t)
	role := schema + "_role"
	password := schema[3:] // random hex
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD '"+password+"'"); err != nil {
		t.Skipf("cannot create a role on the test server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, rawURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		// Runs after the store closed; the schema (owned by the role)
		// must go before the role can.
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Error(err)
		}
		if _, err := conn.Exec(ctx, "DROP ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Error(err)
		}
	})
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()+" AUTHORIZATION "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}

	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	s, err := postgres.Open(ctx, u.String(), postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Connect(ctx); err != nil {
		t.Fatalf("Connect as a role without CREATE on the database: %v", err)
	}
	if _, err := s.InsertEvents(ctx, []storage.NewEvent{{Type: "t", Message: "m"}}); err != nil {
		t.Fatal(err)
	}
}

// TestConnectLoopAfterBlackhole: started while the server accepts
// connections and never answers, with a connect timeout of a minute, the
// loop still connects within a few seconds of the server answering: the
// hung attempts do not hold it, a new one starts at least every
// RetryInterval.
func TestConnectLoopAfterBlackhole(t *testing.T) {
	rawURL, schema := postgrestest.Schema(t)
	p := newProxy(t, target(t, rawURL), "hang")
	s, err := postgres.Open(t.Context(), viaProxy(t, rawURL, p.addr()),
		postgres.Options{Schema: schema, ConnectTimeout: time.Minute, AttemptTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ready := s.ConnectInBackground(nil)
	time.Sleep(3 * time.Second) // attempts pile up, each hung for a minute
	if s.Ready() {
		t.Fatal("Ready() while the server never answers")
	}
	p.set("forward")
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not connected within 10s of the server answering")
	}
	if _, err := s.InsertEvents(t.Context(), []storage.NewEvent{{Type: "t", Message: "m"}}); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
}

// TestCloseAwaitsConnectInBackground: the store owns the loop it started;
// Close stops it and waits for it, hung attempts included, and no loop
// starts after Close.
func TestCloseAwaitsConnectInBackground(t *testing.T) {
	p := newProxy(t, "", "hang")
	s, err := postgres.Open(t.Context(), "postgres://vitals@"+p.addr()+"/vitals?sslmode=disable",
		postgres.Options{ConnectTimeout: time.Minute, AttemptTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ready := s.ConnectInBackground(slog.New(slog.DiscardHandler))
	time.Sleep(300 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waiting 5s after it was called")
	}
	select {
	case <-ready:
		t.Fatal("ready closed although the store never connected")
	default:
	}
	if err := s.ConnectLoop(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("ConnectLoop after Close = %v, want store closed", err)
	}
}
