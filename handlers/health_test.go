package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

type healthJSON struct {
	Status string `json:"status"`
	Checks map[string][]struct {
		ObservedValue *float64 `json:"observedValue"`
		ObservedUnit  string   `json:"observedUnit"`
		Status        string   `json:"status"`
		Output        string   `json:"output"`
	} `json:"checks"`
}

func TestHealth(t *testing.T) {
	h := newSQLiteHarness(t)
	status, hdr, body := h.do("GET", "/health", nil, "", anon)
	if status != 200 || hdr.Get("Content-Type") != "application/health+json" {
		t.Fatalf("%d %s %s", status, hdr.Get("Content-Type"), body)
	}
	var doc healthJSON
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	db := doc.Checks["database:responseTime"]
	if doc.Status != "pass" || len(db) != 1 || db[0].Status != "pass" || db[0].ObservedValue == nil || db[0].ObservedUnit != "ms" {
		t.Fatalf("health: %s", body)
	}
}

// A store that does not answer makes /health 503 with status fail.
func TestHealthFailsWhenStoreIsDown(t *testing.T) {
	store := sqlitetest.Open(t, sqlite.Options{})
	h := newHarness(t, store)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	status, _, body := h.do("GET", "/health", nil, "", anon)
	if status != 503 {
		t.Fatalf("%d %s", status, body)
	}
	var doc healthJSON
	if err := json.Unmarshal(body, &doc); err != nil || doc.Status != "fail" {
		t.Fatalf("health: %s", body)
	}
}

// hangingAddr is a listener that accepts connections and never answers,
// the way a wedged server looks; closed when the test ends.
func hangingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// Redis that accepts and never answers is a warning: /health stays 200
// and answers within its 1 s budget.
func TestHealthWarnsWhenRedisHangs(t *testing.T) {
	store := sqlitetest.Open(t, sqlite.Options{})
	client := redis.NewClient(&redis.Options{Addr: hangingAddr(t), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	health := handlers.NewHealth("test", time.Second, time.Second,
		handlers.HealthCheck{Name: "database:responseTime", ComponentType: "datastore", Critical: true, Check: store.Ping},
		handlers.HealthCheck{Name: "redis:responseTime", ComponentType: "datastore", Check: func(ctx context.Context) error { return client.Ping(ctx).Err() }},
	)
	start := time.Now()
	body, status := health.Result()
	elapsed := time.Since(start)
	var doc healthJSON
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if status != 200 || doc.Status != "warn" || doc.Checks["redis:responseTime"][0].Status != "warn" || doc.Checks["database:responseTime"][0].Status != "pass" {
		t.Fatalf("%d %s", status, body)
	}
	// Generous bound: the budget is 1 s; a check that ignored it would take
	// go-redis's own timeouts (3 s and more).
	if elapsed > 2500*time.Millisecond {
		t.Fatalf("health took %s", elapsed)
	}
	// Cached: a second call within the TTL runs nothing.
	start = time.Now()
	body2, _ := health.Result()
	if string(body2) != string(body) || time.Since(start) > 100*time.Millisecond {
		t.Fatal("second call within the TTL was not served from the cache")
	}
}

// PostgreSQL that accepts and never answers fails /health with 503 within
// the budget, and the answer names no address or secret.
func TestHealthFailsWhenPostgresHangs(t *testing.T) {
	addr := hangingAddr(t)
	url := "postgres://vitals:s3cret-pass@" + addr + "/app?sslmode=disable"
	store, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h := newHarness(t, store)
	start := time.Now()
	status, _, body := h.do("GET", "/health", nil, "", anon)
	if status != 503 {
		t.Fatalf("%d %s", status, body)
	}
	if elapsed := time.Since(start); elapsed > 2500*time.Millisecond {
		t.Fatalf("health took %s", elapsed)
	}
	for _, secret := range []string{"s3cret-pass", addr, "vitals:"} {
		if strings.Contains(string(body), secret) {
			t.Fatalf("health reveals %q: %s", secret, body)
		}
	}
}

// A check that ignores its context and answers after the budget must not
// race with the answer already made (go test -race), nor hold it; Wait
// then waits for it, so that a shutdown leaves nothing behind.
func TestHealthCheckIgnoringItsContext(t *testing.T) {
	release := make(chan struct{})
	var finished atomic.Bool
	h := handlers.NewHealth("test", 20*time.Millisecond, time.Nanosecond, handlers.HealthCheck{
		Name: "slow:responseTime", Critical: true,
		Check: func(context.Context) error {
			<-release // ignores its context
			finished.Store(true)
			return nil
		},
	})
	for range 3 {
		if _, status := h.Result(); status != 503 {
			t.Fatalf("status %d while the check has not answered, want 503", status)
		}
	}
	close(release)
	h.Wait()
	if !finished.Load() {
		t.Fatal("Wait returned before the late checks did")
	}
	if _, status := h.Result(); status != 200 {
		t.Fatalf("status %d once the check answers, want 200", status)
	}
}

// A check whose state lives in memory (the store's write health) turns
// /health at once when that state changes, however long the cache lives.
func TestHealthCacheFollowsGeneration(t *testing.T) {
	wh := storage.NewWriteHealth(nil)
	h := handlers.NewHealth("test", time.Second, time.Hour, handlers.HealthCheck{
		Name: "database:writes", Critical: true, Generation: wh.Changes,
		Check: func(context.Context) error {
			if r := wh.Failing(); r != "" {
				return handlers.CheckFailure(r)
			}
			return nil
		},
	})
	if _, code := h.Result(); code != 200 {
		t.Fatalf("writes working: %d, want 200", code)
	}
	_, _ = wh.Failed("disk full", errors.New("SQLITE_FULL"))
	body, code := h.Result()
	if code != 503 || !strings.Contains(string(body), "writes failing: disk full") {
		t.Fatalf("writes failing: %d %s, want 503 with the reason (the cache must not hide the change)", code, body)
	}
	wh.Succeeded()
	if _, code := h.Result(); code != 200 {
		t.Fatalf("writes working again: %d, want 200", code)
	}
}
