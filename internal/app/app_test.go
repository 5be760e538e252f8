package app

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/internal/config"

	"github.com/vitalsdev/vitals/internal/syncbuf"
)

// testConfig is the configuration env gives, on a free port.
func testConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	env["PORT"] = "0"
	env["VITALS_ADMIN_PASSWORD"] = "admin-password-for-tests"
	env["VITALS_LOG_FORMAT"] = "json"
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// freePort is a port nothing listens on (at the time of the call).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// The close list is the order of building, released last first: the HTTP
// server before the request log and the background goroutines, those
// before Redis and the store, the listener last. An App that is never run
// is released by Close all the same.
func TestCloseReleasesInReverseOrderOfBuilding(t *testing.T) {
	cfg := testConfig(t, map[string]string{
		"VITALS_DATA_DIR": t.TempDir(),
		// Redis is connected lazily: an unreachable one is still built.
		"REDIS_URL": "redis://127.0.0.1:" + freePort(t) + "/0",
	})
	var logs syncbuf.Buffer
	a, err := New(t.Context(), cfg, Options{Stdout: io.Discard, Stderr: &logs})
	if err != nil {
		t.Fatal(err)
	}
	var built []string
	for _, c := range a.closers {
		built = append(built, c.name)
	}
	want := []string{"listener", "store", "alerts spool", "redis", "health checks", "background work", "request log", "http server"}
	if !slices.Equal(built, want) {
		t.Fatalf("built %v, want %v", built, want)
	}

	addr := a.ln.Addr().String()
	a.Close()
	a.Close() // twice is fine
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Error("the listener still accepts after Close")
	}
	if err := a.store.store.Ping(t.Context()); err == nil {
		t.Error("the store still answers after Close")
	}
	if strings.Count(logs.String(), `"msg":"store closed"`) != 1 {
		t.Errorf("the store was not closed exactly once:\n%s", logs.String())
	}
}

// A failure halfway through New releases what was built before it: a
// store that cannot be opened leaves the port free again.
func TestNewReleasesWhatItBuiltOnFailure(t *testing.T) {
	// A data directory under a regular file cannot be made.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := testConfig(t, map[string]string{"VITALS_DATA_DIR": filepath.Join(file, "data")})
	cfg.Port, _ = strconv.Atoi(port)
	var logs syncbuf.Buffer
	if _, err := New(t.Context(), cfg, Options{Stdout: io.Discard, Stderr: &logs}); err == nil {
		t.Fatal("New succeeded with a data directory that cannot be made")
	}
	if !strings.Contains(logs.String(), "cannot open the store") {
		t.Errorf("the failure is not logged:\n%s", logs.String())
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		t.Fatalf("the port is still taken after New failed: %v", err)
	}
	ln.Close()
}

// Run owns every goroutine it starts. With PostgreSQL unreachable, the
// connect loop is retrying when the stop comes and the admin's loader is
// waiting for the store; once Run has returned none of them is left, nor
// the stored tokens' loop or the sampler's runner.
func TestRunAwaitsEveryGoroutineItStarts(t *testing.T) {
	cfg := testConfig(t, map[string]string{
		"DATABASE_URL":           "postgres://vitals@127.0.0.1:" + freePort(t) + "/vitals?sslmode=disable",
		"VITALS_SAMPLE_INTERVAL": "1s",
	})
	var logs, out syncbuf.Buffer
	ready := make(chan string, 1)
	a, err := New(t.Context(), cfg, Options{Stdout: &out, Stderr: &logs, Ready: ready})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not serve")
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "postgres unavailable, retrying"); {
		if time.Now().After(deadline) {
			t.Fatalf("the connect loop never retried:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{
		"postgres.(*Store).ConnectLoop",
		"handlers.(*StoredTokens).Run",
		"app.(*App).loadAdmin",
		"app.(*App).startAfterServing",
		"app.(*App).serve",
	} {
		if strings.Contains(stacks, fn) {
			t.Errorf("%s is still running after Run returned", fn)
		}
	}
	if !strings.Contains(out.String(), "serving http://localhost:") || !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no banner or no stop logged:\n%s\n%s", out.String(), logs.String())
	}
}
