package probes

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// fakeProbe is a probe whose behaviour a test chooses: the one way to make
// a source fail, hang or panic on demand.
type fakeProbe struct {
	name string
	read func(ctx context.Context) Result
}

func (f *fakeProbe) Name() string                    { return f.name }
func (f *fakeProbe) Read(ctx context.Context) Result { return f.read(ctx) }

func okRedis() Redis {
	return Redis{Status: StatusOK, LatencyMS: ptr(0.1), ConnectedClients: ptr(int64(1)), UsedMemoryBytes: ptr(uint64(1))}
}

var collectedAtRe = regexp.MustCompile(`^"collected_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`)

func TestSamplerWarmingUp(t *testing.T) {
	s := NewSampler(SamplerConfig{Instance: Instance{ID: "m1", Region: "ams"}},
		NewCPUProbe(HostConfig{}), NewMemoryProbe(HostConfig{}), NewDiskProbe(HostConfig{DataDir: "/var/lib/x"}),
		NewDatabaseProbe("sqlite", func(context.Context) error { return nil }, nil), NewRedisProbe(nil))
	r := s.Latest()
	if r == nil {
		t.Fatal("Latest is nil before the first tick")
	}
	snap := r.Snapshot
	if snap.CPU.Status != StatusUnavailable || snap.CPU.Reason != "warming up" ||
		snap.Memory.Reason != "warming up" || snap.Database.Reason != "warming up" {
		t.Errorf("probe groups: %+v %+v %+v", snap.CPU, snap.Memory, snap.Database)
	}
	// the placeholders keep what is known without I/O
	if len(snap.Disk) != 2 || snap.Disk[1].Path != "/var/lib/x" || !snap.Disk[1].Data || snap.Database.Backend != "sqlite" ||
		snap.Database.ConnectionsStatus != StatusNotApplicable {
		t.Errorf("placeholders: %+v %+v", snap.Disk, snap.Database)
	}
	// Redis not configured is not "warming up": it will never be there
	if snap.Redis.Status != StatusNotConfigured || snap.Redis.Reason != "REDIS_URL is not set" {
		t.Errorf("redis: %+v", snap.Redis)
	}
	// groups without a probe
	if snap.Load.Status != StatusNotConfigured || snap.HTTP == nil || len(snap.HTTP) != 0 {
		t.Errorf("unprobed: %+v %+v", snap.Load, snap.HTTP)
	}
	js := string(r.JSON)
	if !collectedAtRe.MatchString(js[1:]) {
		t.Errorf("collected_at not RFC 3339 UTC with milliseconds: %.60s", js)
	}
	if !strings.Contains(js, `"instance":{"id":"m1","region":"ams"}`) || !strings.Contains(js, `"http":[]`) {
		t.Errorf("json: %s", js)
	}
	checkNullWhenNotOK(t, r.JSON)
}

func TestSnapshotTimeFormat(t *testing.T) {
	moscow := time.FixedZone("MSK", 3*3600)
	for in, want := range map[time.Time]string{
		time.Date(2026, 11, 26, 13, 15, 30, 0, moscow):           "2026-11-26T10:15:30.000Z",
		time.Date(2026, 11, 26, 10, 15, 30, 123456789, time.UTC): "2026-11-26T10:15:30.123Z",
	} {
		b, err := json.Marshal(Snapshot{CollectedAt: in})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), `{"collected_at":"`+want+`"`) {
			t.Errorf("%v: %s", in, b)
		}
		// and it reads back as the same instant, to the millisecond
		var back Snapshot
		if err := json.Unmarshal(b, &back); err != nil || !back.CollectedAt.Equal(in.Truncate(time.Millisecond)) {
			t.Errorf("round trip: %v %v", back.CollectedAt, err)
		}
	}
}

func TestSamplerTimeoutDiscardsLateResult(t *testing.T) {
	release := make(chan struct{})
	var finished atomic.Bool
	hang := &fakeProbe{name: "redis", read: func(context.Context) Result {
		<-release // ignores its context, as a broken driver would
		r := okRedis()
		finished.Store(true)
		return r
	}}
	fine := &fakeProbe{name: "process", read: func(context.Context) Result {
		return Process{Status: StatusOK, Goroutines: ptr(int64(1))}
	}}
	s := NewSampler(SamplerConfig{Timeout: 100 * time.Millisecond, Grace: 50 * time.Millisecond}, hang, fine)
	defer close(release)

	start := time.Now()
	r := s.Tick(context.Background())
	if took := time.Since(start); took > 400*time.Millisecond {
		t.Errorf("tick took %v with a 100ms timeout", took)
	}
	if r.Snapshot.Redis.Status != StatusUnavailable || r.Snapshot.Redis.Reason != "timeout after 100ms" || r.Snapshot.Redis.LatencyMS != nil {
		t.Errorf("redis: %+v", r.Snapshot.Redis)
	}
	if r.Snapshot.Process.Status != StatusOK {
		t.Errorf("the other probe: %+v", r.Snapshot.Process)
	}
	// the hung probe is not started a second time
	r2 := s.Tick(context.Background())
	if !strings.Contains(r2.Snapshot.Redis.Reason, "previous run still in progress") {
		t.Errorf("second tick: %+v", r2.Snapshot.Redis)
	}
	// when it finally returns, what it wrote goes nowhere
	before := string(s.Latest().JSON)
	release <- struct{}{}
	for !finished.Load() {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	if after := string(s.Latest().JSON); after != before || s.Latest().Snapshot.Redis.Status != StatusUnavailable {
		t.Errorf("late result leaked into the published snapshot:\n%s\n%s", before, after)
	}
}

func TestSamplerRecoversPanicAndKeepsGroupsApart(t *testing.T) {
	boom := &fakeProbe{name: "network", read: func(context.Context) Result { panic("boom") }}
	// A result is one group's value, so a probe cannot write outside its
	// own group; one that returns another group's is refused
	// (TestSamplerRefusesAnotherGroup).
	greedy := &fakeProbe{name: "process", read: func(context.Context) Result {
		return Process{Status: StatusOK, Goroutines: ptr(int64(3))}
	}}
	mem := &fakeProbe{name: "memory", read: func(context.Context) Result {
		return Memory{Status: StatusOK, Percent: ptr(10.0), UsedBytes: ptr(uint64(1)), TotalBytes: ptr(uint64(10)), Source: SourceHost}
	}}
	r := NewSampler(SamplerConfig{}, boom, greedy, mem).Tick(context.Background())
	if r.Snapshot.Network.Status != StatusUnavailable || r.Snapshot.Network.Reason != "probe failed unexpectedly" {
		t.Errorf("panicking probe: %+v", r.Snapshot.Network)
	}
	if *r.Snapshot.Memory.Percent != 10 || *r.Snapshot.Process.Goroutines != 3 {
		t.Errorf("groups mixed: %+v %+v", r.Snapshot.Memory, r.Snapshot.Process)
	}
}

// TestEveryProbeFailsAlone makes each probe fail in turn, by a fixture
// root that errors or a source that is down, and checks that every other
// group still reports.
func TestEveryProbeFailsAlone(t *testing.T) {
	okHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer okHTTP.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	hang := hangingListener(t)
	empty := t.TempDir() // a root with no /proc at all
	notADir := filepath.Join(t.TempDir(), "file")
	writeFile(t, "/", notADir, "x")

	posted := NewAppTimings()
	posted.Add([]RouteTimings{{Method: "GET", Route: "/", Count: 1, Bins: [][2]uint64{{100, 1}}}})

	type pair struct {
		group    string
		ok, fail Probe
		okStatus Status
	}
	pairs := []pair{
		{"cpu", NewCPUProbe(HostConfig{}), NewCPUProbe(HostConfig{Root: empty}), StatusOK},
		{"memory", NewMemoryProbe(HostConfig{}), NewMemoryProbe(HostConfig{Root: empty}), StatusOK},
		{"disk", NewDiskProbe(HostConfig{}), NewDiskProbe(HostConfig{DiskPaths: []string{notADir + "/x"}}), StatusOK},
		{"load", NewLoadProbe(HostConfig{}), NewLoadProbe(HostConfig{Root: empty}), StatusOK},
		{"network", NewNetworkProbe(HostConfig{}), NewNetworkProbe(HostConfig{Root: empty}), StatusOK},
		{"process", NewProcessProbe(HostConfig{}), NewProcessProbe(HostConfig{Root: empty}), StatusOK},
		{"database", NewDatabaseProbe("sqlite", func(context.Context) error { return nil }, nil),
			NewDatabaseProbe("sqlite", func(context.Context) error { return errors.New("disk I/O error") }, nil), StatusOK},
		{"redis", NewRedisProbe(nil), NewRedisProbe(redis.NewClient(&redis.Options{Addr: hang, ContextTimeoutEnabled: true, MaxRetries: -1})), StatusNotConfigured},
		{"http", NewHTTPProbe([]HTTPTargetConfig{{"api", okHTTP.URL}}), NewHTTPProbe([]HTTPTargetConfig{{"api", closed.URL}}), StatusOK},
		// The API window is in memory and cannot fail on its own; a panic
		// stands in for a bug in it.
		{"api", NewAPIProbe(NewLatencyWindow()), &fakeProbe{name: "api", read: func(context.Context) Result { panic("boom") }}, StatusOK},
		{"app", NewAppProbe(posted, time.Minute), &fakeProbe{name: "app", read: func(context.Context) Result { panic("boom") }}, StatusOK},
	}
	for i, failing := range pairs {
		t.Run(failing.group, func(t *testing.T) {
			var probes []Probe
			for j, p := range pairs {
				if i == j {
					probes = append(probes, p.fail)
				} else {
					probes = append(probes, p.ok)
				}
			}
			s := NewSampler(SamplerConfig{Timeout: 300 * time.Millisecond}, probes...)
			s.Tick(context.Background())
			time.Sleep(50 * time.Millisecond) // a delta for cpu and network
			r := s.Tick(context.Background())
			eachGroupState(&r.Snapshot, func(key string, st Status, reason string) {
				group, _, _ := strings.Cut(key, " ")
				if key == "database connections" {
					return
				}
				want := StatusOK
				for _, p := range pairs {
					if p.group == group {
						want = p.okStatus
					}
				}
				if group == failing.group {
					if st != StatusUnavailable || reason == "" {
						t.Errorf("%s: got %s %q, want unavailable with a reason", key, st, reason)
					}
				} else if st != want {
					t.Errorf("%s: got %s %q, want %s while %s fails", key, st, reason, want, failing.group)
				}
			})
			checkNullWhenNotOK(t, r.JSON)
		})
	}
}

// TestProbesShareOneSnapshot runs every real probe concurrently on one
// Snapshot value; with -race this proves that each writes only its own
// group.
func TestProbesShareOneSnapshot(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	probes := append(HostProbes(HostConfig{DataDir: t.TempDir()}),
		NewDatabaseProbe("sqlite", func(context.Context) error { return nil }, nil),
		NewRedisProbe(nil), NewHTTPProbe([]HTTPTargetConfig{{"a", srv.URL}}))
	var s Snapshot
	for range 2 {
		var wg sync.WaitGroup
		for _, p := range probes {
			wg.Go(func() { p.Read(context.Background()).Place(&s) })
		}
		wg.Wait()
	}
	if s.Memory.Status != StatusOK || s.Process.Status != StatusOK || s.Database.Status != StatusOK || len(s.HTTP) != 1 {
		t.Errorf("got %+v", s)
	}
}

func TestSamplerLogsOncePerChange(t *testing.T) {
	var failing atomic.Bool
	p := &fakeProbe{name: "redis", read: func(context.Context) Result {
		if failing.Load() {
			return Redis{Status: StatusUnavailable, Reason: "connection refused"}
		}
		return okRedis()
	}}
	h := &recordingHandler{}
	s := NewSampler(SamplerConfig{Logger: slog.New(h)}, p)
	s.Tick(context.Background()) // warming up -> ok: silent
	failing.Store(true)
	for range 3 {
		s.Tick(context.Background())
	}
	failing.Store(false)
	for range 3 {
		s.Tick(context.Background())
	}
	got := h.messages()
	want := []string{"WARN probe unavailable group=redis reason=connection refused", "INFO probe recovered group=redis"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSamplerStartPrimesCPU(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := NewSampler(SamplerConfig{Interval: time.Hour, PrimeDelay: 50 * time.Millisecond}, NewCPUProbe(HostConfig{}))
	start := time.Now()
	s.Start(ctx)
	s.Start(ctx) // a second call does nothing
	for s.Latest().Snapshot.CPU.Status != StatusOK {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("CPU still %+v", s.Latest().Snapshot.CPU)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("CPU known after %v with a 50ms prime delay", took)
	}
	cancel()
	s.Wait()
	NewSampler(SamplerConfig{}).Wait() // never started: returns at once
}

// hangingListener accepts connections and never answers: how a hung
// server looks, as opposed to a closed port. It returns the address.
func hangingListener(t *testing.T) string {
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

// checkNullWhenNotOK checks the contract's rule: a group or entry whose
// status is not ok carries a reason and no number.
func checkNullWhenNotOK(t *testing.T, js []byte) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	check := func(name string, g map[string]any) {
		if g["status"] == "ok" {
			return
		}
		if g["reason"] == nil || g["reason"] == "" {
			t.Errorf("%s: status %v without a reason", name, g["status"])
		}
		for k, v := range g {
			if _, isNum := v.(float64); isNum {
				t.Errorf("%s: status %v but %s = %v", name, g["status"], k, v)
			}
		}
	}
	for name, v := range doc {
		switch g := v.(type) {
		case map[string]any:
			if _, ok := g["status"]; ok {
				check(name, g)
			}
		case []any:
			for _, e := range g {
				check(name, e.(map[string]any))
			}
		}
	}
}

// recordingHandler keeps log records as "LEVEL message key=value ...".
type recordingHandler struct {
	mu   sync.Mutex
	recs []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "status" {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
		}
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, b.String())
	h.mu.Unlock()
	return nil
}

func (h *recordingHandler) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.recs...)
}

func TestSamplerProbeThatWritesNothing(t *testing.T) {
	lazy := &fakeProbe{name: "load", read: func(context.Context) Result { return nil }}
	r := NewSampler(SamplerConfig{}, lazy).Tick(context.Background())
	if r.Snapshot.Load.Status != StatusUnavailable || r.Snapshot.Load.Reason != "probe reported nothing" {
		t.Errorf("got %+v", r.Snapshot.Load)
	}
}

func TestSamplerRefusesAnotherGroup(t *testing.T) {
	// A probe of the process group that returns a memory reading must not
	// overwrite the memory probe's figures.
	wrong := &fakeProbe{name: "process", read: func(context.Context) Result {
		return Memory{Status: StatusOK, Percent: ptr(99.0)}
	}}
	mem := &fakeProbe{name: "memory", read: func(context.Context) Result {
		return Memory{Status: StatusOK, Percent: ptr(10.0), Source: SourceHost}
	}}
	zero := &fakeProbe{name: "cpu", read: func(context.Context) Result { return CPU{} }}
	r := NewSampler(SamplerConfig{}, wrong, mem, zero).Tick(context.Background())
	if r.Snapshot.Memory.Percent == nil || *r.Snapshot.Memory.Percent != 10 {
		t.Errorf("memory overwritten: %+v", r.Snapshot.Memory)
	}
	if r.Snapshot.Process.Status != StatusUnavailable || r.Snapshot.Process.Reason != "probe reported the memory group" {
		t.Errorf("process: %+v", r.Snapshot.Process)
	}
	// a zero value has no status: nothing was read
	if r.Snapshot.CPU.Status != StatusUnavailable || r.Snapshot.CPU.Reason != "probe reported nothing" {
		t.Errorf("cpu: %+v", r.Snapshot.CPU)
	}
}
