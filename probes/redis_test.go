package probes

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func collectRedis(t *testing.T, p *RedisProbe, timeout time.Duration) Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var s Snapshot
	p.Read(ctx).Place(&s)
	return s.Redis
}

func TestRedisNotConfigured(t *testing.T) {
	r := collectRedis(t, NewRedisProbe(nil), time.Second)
	if r.Status != StatusNotConfigured || r.Reason != "REDIS_URL is not set" || r.LatencyMS != nil {
		t.Fatalf("got %+v", r)
	}
}

func TestRedisFigures(t *testing.T) {
	opt, err := redis.ParseURL(needEnv(t, "VITALS_TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true
	client := redis.NewClient(opt)
	defer client.Close()
	if err := client.Ping(context.Background()).Err(); err != nil {
		unreachable(t, "VITALS_TEST_REDIS_URL", err)
	}
	r := collectRedis(t, NewRedisProbe(client), 2*time.Second)
	// our own connection is one of the clients
	if r.Status != StatusOK || *r.LatencyMS <= 0 || *r.ConnectedClients < 1 || *r.UsedMemoryBytes == 0 {
		t.Fatalf("got %+v", r)
	}
}

// TestRedisPrivateServerGoesDown starts a redis-server of its own on a
// free port, reads it, stops it, and reads it again. The machine's shared
// server is never touched.
func TestRedisPrivateServerGoesDown(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not installed (CI=true)")
		}
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)

	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	for i := 0; client.Ping(context.Background()).Err() != nil; i++ {
		if i > 100 {
			t.Fatal("private redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p := NewRedisProbe(client)
	r := collectRedis(t, p, 2*time.Second)
	// only this test's client talks to it (go-redis may hold more than
	// one pooled connection)
	if r.Status != StatusOK || *r.ConnectedClients < 1 || *r.ConnectedClients > 3 || *r.UsedMemoryBytes == 0 {
		t.Fatalf("up: %+v clients=%v", r, deref(r.ConnectedClients))
	}
	stop()
	r = collectRedis(t, p, 2*time.Second)
	if r.Status != StatusUnavailable || r.LatencyMS != nil || r.ConnectedClients != nil {
		t.Fatalf("down: %+v", r)
	}
	// the pooled connection breaks first ("connection closed" or
	// "reset"), then dialling is refused
	r = collectRedis(t, p, 2*time.Second)
	if r.Reason != "PING: connection refused" {
		t.Fatalf("down again: %+v", r)
	}
}

// TestRedisHangs points the probe at a listener that accepts and never
// answers: the group is unavailable within the probe's timeout and the
// other groups of the same tick are unaffected.
func TestRedisHangs(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: hangingListener(t), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	other := &fakeProbe{name: "process", read: func(context.Context) Result {
		return Process{Status: StatusOK, Goroutines: ptr(int64(1))}
	}}
	s := NewSampler(SamplerConfig{Timeout: 300 * time.Millisecond}, NewRedisProbe(client), other)
	start := time.Now()
	r := s.Tick(context.Background())
	if took := time.Since(start); took > 300*time.Millisecond+DefaultGrace+100*time.Millisecond {
		t.Errorf("tick took %v with a 300ms timeout", took)
	}
	if r.Snapshot.Redis.Status != StatusUnavailable || r.Snapshot.Redis.Reason != "PING: timeout after 300ms" {
		t.Errorf("redis: %+v", r.Snapshot.Redis)
	}
	if r.Snapshot.Process.Status != StatusOK {
		t.Errorf("other group: %+v", r.Snapshot.Process)
	}
}
