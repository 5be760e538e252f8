package probes

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHTTPProbe(t *testing.T) {
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { hits.Add(1); _, _ = w.Write([]byte(`{"status":"pass"}`)) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { t.Error("redirect followed") })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(mux)
	closed.Close()

	withCreds := strings.Replace(srv.URL, "http://", "http://user:pw@", 1) + "/ok?token=secret"
	targets, err := ParseHTTPTargets(strings.Join([]string{
		"api=" + withCreds, "down=" + srv.URL + "/down", "moved=" + srv.URL + "/moved",
		"hang=" + srv.URL + "/hang", "gone=" + closed.URL + "/ok",
	}, ","))
	if err != nil {
		t.Fatal(err)
	}
	// Each request has its own timeout; started long ago, so a refusal is
	// down, not "still starting".
	p := NewHTTPProbe(targets, HTTPProbeConfig{Timeout: 300 * time.Millisecond, Started: time.Now().Add(-time.Hour)})
	ctx := context.Background()
	start := time.Now()
	var s Snapshot
	p.Read(ctx).Place(&s)
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v with a 300ms deadline: targets not checked concurrently?", took)
	}
	if len(s.HTTP) != 5 {
		t.Fatalf("got %+v", s.HTTP)
	}
	api, down, moved, hang, gone := s.HTTP[0], s.HTTP[1], s.HTTP[2], s.HTTP[3], s.HTTP[4]
	if api.Name != "api" || api.Status != StatusOK || *api.Code != 200 || !*api.Healthy || *api.LatencyMS <= 0 {
		t.Errorf("api: %+v", api)
	}
	if hits.Load() != 3 {
		t.Errorf("api requested %d times, want 3 (median)", hits.Load())
	}
	if strings.Contains(api.URL, "pw") || strings.Contains(api.URL, "secret") || api.URL != srv.URL+"/ok" {
		t.Errorf("shown URL %q", api.URL)
	}
	// a 503 is an answer: the group is ok, the target unhealthy
	if down.Status != StatusOK || *down.Code != 503 || *down.Healthy {
		t.Errorf("down: %+v", down)
	}
	// a redirect is reported, not followed
	if moved.Status != StatusOK || *moved.Code != 302 || !*moved.Healthy {
		t.Errorf("moved: %+v", moved)
	}
	if hang.Status != StatusUnavailable || hang.Reason != "timeout after 300ms" || hang.Code != nil || hang.Healthy != nil {
		t.Errorf("hang: %+v", hang)
	}
	if gone.Status != StatusUnavailable || gone.Reason != "connection refused" || gone.LatencyMS != nil {
		t.Errorf("gone: %+v", gone)
	}

	var empty Snapshot
	NewHTTPProbe(nil).Read(context.Background()).Place(&empty)
	if empty.HTTP == nil || len(empty.HTTP) != 0 {
		t.Errorf("no targets: %#v", empty.HTTP)
	}
}

// A target slower than the old shared budget is measured, not timed out:
// its latency is there and the thresholds make it a warning (issue 12).
func TestHTTPProbeSlowTargetMeasured(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(800 * time.Millisecond)
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	p := NewHTTPProbe([]HTTPTargetConfig{{Name: "slow", URL: srv.URL}})
	if p.Budget() < DefaultHTTPTimeout {
		t.Fatalf("budget %v below the request timeout", p.Budget())
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.Budget())
	defer cancel()
	var s Snapshot
	p.Read(ctx).Place(&s)
	s.Assess(DefaultThresholds())
	h := s.HTTP[0]
	if h.Status != StatusOK || h.LatencyMS == nil || *h.LatencyMS < 800 || h.State != LevelWarning {
		t.Fatalf("slow target: %+v", h)
	}
	if hits.Load() != samples {
		t.Fatalf("%d requests, want %d", hits.Load(), samples)
	}
}

// At start, a target that refuses connections is still starting (stale,
// no WARN); once it has answered, a refusal is down.
func TestHTTPProbeStartGrace(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewUnstartedServer(mux)
	addr := srv.Listener.Addr().String()
	srv.Listener.Close() // nothing listens yet
	p := NewHTTPProbe([]HTTPTargetConfig{{Name: "app", URL: "http://" + addr + "/"}}, HTTPProbeConfig{Timeout: time.Second})
	read := func() HTTPTarget {
		var s Snapshot
		p.Read(context.Background()).Place(&s)
		s.Assess(DefaultThresholds())
		return s.HTTP[0]
	}
	if h := read(); h.Reason != ReasonStarting || h.State != LevelStale {
		t.Fatalf("before listening: %+v", h)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("address taken meanwhile: %v", err)
	}
	srv.Listener = l
	srv.Start()
	if h := read(); h.Status != StatusOK || h.State != LevelOK {
		t.Fatalf("listening: %+v", h)
	}
	srv.Close()
	if h := read(); h.Reason != "connection refused" || h.State != LevelDown {
		t.Fatalf("after answering once: %+v", h)
	}
}
