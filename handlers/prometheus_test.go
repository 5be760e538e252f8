package handlers_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
	"github.com/vitalsdev/vitals/web"
)

// countingProbe wraps a probe and counts its runs, to show that a scrape
// runs none.
type countingProbe struct {
	probes.Probe
	runs atomic.Int64
}

func (p *countingProbe) Read(ctx context.Context) probes.Result {
	p.runs.Add(1)
	return p.Probe.Read(ctx)
}

// metricsHarness is the real app with the real sampler kept at hand, so a
// test can make the snapshot change, and a Metrics wired in as main does.
type metricsHarness struct {
	*harness
	sampler *probes.Sampler
	metrics *handlers.Metrics
	probes  []*countingProbe
}

type metricsOptions struct {
	public bool
	// extra probes beside the host ones and the store's database probe.
	extra []probes.Probe
	// dbPing replaces the store's ping in the database probe.
	dbPing func(context.Context) error
	// store replaces the fresh SQLite store.
	store harnessStore
	// change, when set, edits the app's Config before it is built.
	change func(*handlers.Config)
}

func newMetricsHarness(t testing.TB, o metricsOptions) *metricsHarness {
	t.Helper()
	store := o.store
	if store == nil {
		store = sqlitetest.Open(t, sqlite.Options{})
	}
	site, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	ping := store.Ping
	if o.dbPing != nil {
		ping = o.dbPing
	}
	latency := probes.NewLatencyWindow()
	ps := probes.HostProbes(probes.HostConfig{})
	ps = append(ps, probes.NewDatabaseProbe(store.Backend(), ping, poolOf(store)), probes.NewAPIProbe(latency))
	ps = append(ps, o.extra...)
	var counted []*countingProbe
	wrapped := make([]probes.Probe, len(ps))
	for i, p := range ps {
		cp := &countingProbe{Probe: p}
		counted = append(counted, cp)
		wrapped[i] = cp
	}
	sampler := probes.NewSampler(probes.SamplerConfig{Instance: probes.Instance{ID: "test-instance", Region: "ams"}}, wrapped...)
	sampler.Tick(t.Context())
	time.Sleep(20 * time.Millisecond)
	sampler.Tick(t.Context())
	metrics := handlers.NewMetrics("test-version")
	cfg := handlers.Config{
		Store:     store,
		Snapshots: sampler,
		Creds:     handlers.NewCredentials(adminPassword, []string{readToken}, []string{ingestToken}),
		Site:      site,
		Health: handlers.NewHealth("test", time.Second, time.Second, handlers.HealthCheck{
			Name: "database:responseTime", ComponentType: "datastore", Critical: true, Check: store.Ping,
		}),
		Latency:       latency,
		Metrics:       metrics,
		MetricsPublic: o.public,
		SessionKey:    []byte(sessionKey), // asAdmin's cookie is signed with it
	}
	if o.change != nil {
		o.change(&cfg)
	}
	app := handlers.New(cfg)
	return &metricsHarness{harness: &harness{t: t, app: app, store: store}, sampler: sampler, metrics: metrics, probes: counted}
}

// scrape fetches /metrics and parses it with Prometheus' own parser.
func (h *metricsHarness) scrape(t *testing.T) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	status, header, body := h.do("GET", "/metrics", nil, "", asReader)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	return string(body), families
}

// value returns the value of the series of family name whose labels
// include want, and whether there is one.
func value(families map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestMetricsFigures(t *testing.T) {
	// A target that answers 503 (ok, unhealthy) and one that refuses the
	// connection (unavailable), both real.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()

	h := newMetricsHarness(t, metricsOptions{extra: []probes.Probe{
		probes.NewRedisProbe(nil),
		probes.NewHTTPProbe([]probes.HTTPTargetConfig{{Name: "app", URL: failing.URL + "/health"}, {Name: "gone", URL: closed}}),
	}})
	// The HTTP probe needs a tick of its own now that it is configured.
	h.sampler.Tick(t.Context())
	text, fams := h.scrape(t)
	snap := h.sampler.Latest().Snapshot

	mustBe := func(name string, want float64, labels ...string) {
		t.Helper()
		got, ok := value(fams, name, labels...)
		if !ok {
			t.Fatalf("%s%v missing:\n%s", name, labels, text)
		}
		if got != want {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	absent := func(name string, labels ...string) {
		t.Helper()
		if _, ok := value(fams, name, labels...); ok {
			t.Fatalf("%s%v should be left out:\n%s", name, labels, text)
		}
	}

	mustBe("vitals_build_info", 1, "version", "test-version")
	mustBe("vitals_instance_info", 1, "id", "test-instance", "region", "ams")
	mustBe("vitals_snapshot_timestamp_seconds", float64(snap.CollectedAt.UnixMilli())/1000)

	// The process group is ok wherever the tests run, so its figures are
	// there and equal the snapshot's in base units.
	mustBe("vitals_probe_up", 1, "group", "process")
	mustBe("vitals_process_resident_memory_bytes", float64(*snap.Process.RSSBytes))
	mustBe("vitals_probe_up", 1, "group", "database")
	mustBe("vitals_database_info", 1, "backend", "sqlite")
	mustBe("vitals_database_latency_seconds", *snap.Database.LatencyMS/1000)
	// SQLite has no connection figures: not applicable, so not exported.
	absent("vitals_database_connections")
	absent("vitals_database_connections_by_state")

	// Percentages become ratios.
	if snap.Memory.Status == probes.StatusOK {
		mustBe("vitals_memory_usage_ratio", *snap.Memory.Percent/100)
	} else {
		mustBe("vitals_probe_up", 0, "group", "memory")
		absent("vitals_memory_usage_ratio")
	}
	for _, d := range snap.Disk {
		if d.Status == probes.StatusOK {
			mustBe("vitals_disk_used_bytes", float64(*d.UsedBytes), "path", d.Path)
			mustBe("vitals_disk_usage_ratio", *d.Percent/100, "path", d.Path)
			mustBe("vitals_disk_up", 1, "path", d.Path)
		}
	}

	// Redis is not configured: neither up nor down, and no figures.
	absent("vitals_probe_up", "group", "redis")
	absent("vitals_redis_latency_seconds")

	// The answering target is up though unhealthy; the refused one is
	// down with no latency; the group is down because one entry is.
	mustBe("vitals_http_target_up", 1, "name", "app")
	mustBe("vitals_http_target_status_code", 503, "name", "app")
	mustBe("vitals_http_target_healthy", 0, "name", "app")
	mustBe("vitals_http_target_up", 0, "name", "gone")
	absent("vitals_http_target_latency_seconds", "name", "gone")
	absent("vitals_http_target_status_code", "name", "gone")
	mustBe("vitals_probe_up", 0, "group", "http")

	// Every figure is a ratio within 0..1, never a percentage.
	for name, f := range fams {
		if strings.HasSuffix(name, "_ratio") {
			for _, m := range f.Metric {
				if v := m.Gauge.GetValue(); v < 0 || v > 1 {
					t.Fatalf("%s = %v, outside 0..1", name, v)
				}
			}
		}
	}
}

func TestMetricsLeaveOutUnavailableGroups(t *testing.T) {
	h := newMetricsHarness(t, metricsOptions{dbPing: func(context.Context) error {
		return errors.New("connection refused")
	}})
	text, fams := h.scrape(t)
	if v, ok := value(fams, "vitals_probe_up", "group", "database"); !ok || v != 0 {
		t.Fatalf("database should be down (0), got %v %v:\n%s", v, ok, text)
	}
	for _, name := range []string{"vitals_database_latency_seconds", "vitals_database_connections", "vitals_database_size_bytes"} {
		if _, ok := fams[name]; ok {
			t.Fatalf("%s exported for an unavailable database:\n%s", name, text)
		}
	}
}

func TestMetricsCredentials(t *testing.T) {
	h := newMetricsHarness(t, metricsOptions{})
	for _, tc := range []struct {
		name string
		cred cred
		want int
	}{
		{"none", anon, http.StatusUnauthorized},
		{"ingest token", asIngest, http.StatusForbidden},
		{"read token", asReader, http.StatusOK},
		{"admin", asAdmin, http.StatusOK},
		{"wrong token", bearer("not-a-token-0123456789"), http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, header, body := h.with(t).do("GET", "/metrics", nil, "", tc.cred)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, body)
			}
			if status == http.StatusUnauthorized && !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge: %v", header)
			}
		})
	}

	public := newMetricsHarness(t, metricsOptions{public: true})
	if status, _, body := public.do("GET", "/metrics", nil, "", anon); status != http.StatusOK || !bytes.Contains(body, []byte("vitals_build_info")) {
		t.Fatalf("public /metrics without credentials: %d %s", status, body)
	}
	// Public opens /metrics only.
	if status, _, _ := public.do("GET", "/api/v1/system/metrics", nil, "", anon); status != http.StatusUnauthorized {
		t.Fatalf("public metrics opened the JSON API too: %d", status)
	}
}

func TestMetricsScrapeRunsNoProbe(t *testing.T) {
	h := newMetricsHarness(t, metricsOptions{})
	before := make([]int64, len(h.probes))
	for i, p := range h.probes {
		before[i] = p.runs.Load()
	}
	for range 20 {
		h.scrape(t)
	}
	for i, p := range h.probes {
		if got := p.runs.Load(); got != before[i] {
			t.Fatalf("probe %s ran %d times during scrapes", p.Name(), got-before[i])
		}
	}
}

func TestMetricsCountersAndHistogram(t *testing.T) {
	h := newMetricsHarness(t, metricsOptions{})
	for i := range 3 {
		if status, body := h.postJSON(fmt.Sprintf(`{"type":"track_added","message":"t%d"}`, i), asIngest); status != http.StatusCreated {
			t.Fatalf("post: %d %s", status, body)
		}
	}
	if status, body := h.postJSON(`[{"type":"user_registered","message":"a"},{"type":"track_added","message":"b"}]`, asIngest); status != http.StatusCreated {
		t.Fatalf("post batch: %d %s", status, body)
	}
	// A repeated idempotency key stores nothing new, so it counts once.
	for range 2 {
		if status, body := h.postJSON(`{"type":"user_approved","message":"a","idempotency_key":"metrics-k1"}`, asIngest); status >= 300 {
			t.Fatalf("post with a key: %d %s", status, body)
		}
	}
	// A rejected event is not counted.
	if status, body := h.postJSON(`{"type":"Bad Type","message":"x"}`, asIngest); status != http.StatusBadRequest {
		t.Fatalf("bad post: %d %s", status, body)
	}
	for range 5 {
		h.do("GET", "/api/v1/system/metrics", nil, "", asReader)
	}
	// A new snapshot makes the next scrape render afresh.
	h.sampler.Tick(t.Context())
	text, fams := h.scrape(t)

	if v, _ := value(fams, "vitals_events_ingested_total", "type", "track_added"); v != 4 {
		t.Fatalf("track_added ingested = %v, want 4:\n%s", v, text)
	}
	if v, _ := value(fams, "vitals_events_ingested_total", "type", "user_registered"); v != 1 {
		t.Fatalf("user_registered ingested = %v, want 1", v)
	}
	if v, _ := value(fams, "vitals_events_ingested_total", "type", "user_approved"); v != 1 {
		t.Fatalf("user_approved ingested = %v, want 1 (the repeat is not new)", v)
	}
	if _, ok := value(fams, "vitals_events_ingested_total", "type", "Bad Type"); ok {
		t.Fatal("a rejected event was counted")
	}
	// 5 posts answered 201, the repeated key and 5 snapshot reads 200,
	// the bad post 400: exact statuses, a bounded set.
	if v, _ := value(fams, "vitals_api_request_duration_seconds", "code", "201"); v != 5 {
		t.Fatalf("201 answers in the histogram = %v, want 5:\n%s", v, text)
	}
	if v, _ := value(fams, "vitals_api_request_duration_seconds", "code", "200"); v < 6 {
		t.Fatalf("200 answers in the histogram = %v, want at least 6:\n%s", v, text)
	}
	if v, _ := value(fams, "vitals_api_request_duration_seconds", "code", "400"); v != 1 {
		t.Fatalf("400 answers in the histogram = %v, want 1", v)
	}
	if _, ok := value(fams, "vitals_api_request_duration_seconds", "code", "2xx"); ok {
		t.Fatal("a status class where the exact status is known")
	}
	f := fams["vitals_api_request_duration_seconds"]
	if f.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("latency is a %s, want a histogram", f.GetType())
	}
	// Cumulative: a later scrape never shows fewer requests.
	h.sampler.Tick(t.Context())
	_, later := h.scrape(t)
	if a, b := mustValue(t, fams, "201"), mustValue(t, later, "201"); b < a {
		t.Fatalf("histogram count went down: %v then %v", a, b)
	}
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, class string) float64 {
	t.Helper()
	v, ok := value(fams, "vitals_api_request_duration_seconds", "code", class)
	if !ok {
		t.Fatalf("no %s series", class)
	}
	return v
}

func TestMetricsEventTypeLabelsAreBounded(t *testing.T) {
	h := newMetricsHarness(t, metricsOptions{})
	var batch strings.Builder
	batch.WriteString("[")
	for i := range 250 {
		if i > 0 {
			batch.WriteString(",")
		}
		fmt.Fprintf(&batch, `{"type":"type_%03d","message":"m"}`, i)
	}
	batch.WriteString("]")
	if status, body := h.postJSON(batch.String(), asIngest); status != http.StatusCreated {
		t.Fatalf("post: %d %s", status, body)
	}
	h.sampler.Tick(t.Context())
	_, fams := h.scrape(t)
	f := fams["vitals_events_ingested_total"]
	if n := len(f.GetMetric()); n != 201 {
		t.Fatalf("%d type series, want 200 and _other", n)
	}
	if v, _ := value(fams, "vitals_events_ingested_total", "type", "_other"); v != 50 {
		t.Fatalf("_other = %v, want 50", v)
	}
}

func TestMetricsGzip(t *testing.T) {
	h := newMetricsHarness(t, metricsOptions{})
	_, _, plain := h.do("GET", "/metrics", nil, "", asReader)
	status, header, zipped := h.do("GET", "/metrics", nil, "", func(r *http.Request) {
		asReader(r)
		r.Header.Set("Accept-Encoding", "gzip")
	})
	if status != 200 || header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %d %v", status, header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unzipped, plain) {
		t.Fatal("gzipped exposition differs from the plain one")
	}
	_, header, _ = h.do("GET", "/metrics", nil, "", func(r *http.Request) {
		asReader(r)
		r.Header.Set("Accept-Encoding", "gzip;q=0, identity")
	})
	if header.Get("Content-Encoding") != "" {
		t.Fatal("gzip sent to a client that refused it")
	}
}

// TestPromtoolCheckMetrics runs Prometheus' own linter on the real output
// (Debian package prometheus; .ci/run installs it).
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found; install the Debian package prometheus")
		}
		t.Skip("promtool not found; install the Debian package prometheus to run this check")
	}
	h := newMetricsHarness(t, metricsOptions{})
	h.postJSON(`{"type":"user_registered","message":"a"}`, asIngest)
	h.sampler.Tick(t.Context())
	_, _, body := h.do("GET", "/metrics", nil, "", asReader)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, out, body)
	}
}

// BenchmarkMetricsEndpoint is GET /metrics over real loopback connections,
// cached exposition included; compare its requests/s with node_exporter's
// (scripts/bench-metrics.sh runs both under wrk).
func BenchmarkMetricsEndpoint(b *testing.B) {
	h := newMetricsHarness(b, metricsOptions{})
	url := h.serve() + "/metrics"
	start := time.Now()
	hammer(b, benchClient(), func() *http.Request {
		r, _ := http.NewRequest("GET", url, nil)
		asReader(r)
		return r
	}, 200)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkObserveRequest is the histogram's share of the latency
// middleware, from every core at once.
func BenchmarkObserveRequest(b *testing.B) {
	m := handlers.NewMetrics("bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := 1500 * time.Microsecond
		for pb.Next() {
			m.ObserveRequest(d, 200)
		}
	})
}

// BenchmarkRequestMiddleware is the whole cost of the latency middleware
// (window and histogram) on a request, in process: the same request with
// and without it.
func BenchmarkRequestMiddleware(b *testing.B) {
	for _, tc := range []struct {
		name    string
		latency *probes.LatencyWindow
		metrics *handlers.Metrics
	}{
		{"without", nil, nil},
		{"window+histogram", probes.NewLatencyWindow(), handlers.NewMetrics("bench")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			store := sqlitetest.Open(b, sqlite.Options{})
			site, err := web.New()
			if err != nil {
				b.Fatal(err)
			}
			sampler := probes.NewSampler(probes.SamplerConfig{})
			app := handlers.New(handlers.Config{
				Store: store, Snapshots: sampler, Site: site,
				Creds:  handlers.NewCredentials(adminPassword, []string{readToken}, nil),
				Health: handlers.NewHealth("bench", time.Second, time.Second),
				// An empty health check list answers from its cache.
				Latency: tc.latency, Metrics: tc.metrics,
			})
			handler := app.Handler()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var ctx fasthttp.RequestCtx
				for pb.Next() {
					ctx.Request.Reset()
					ctx.Response.Reset()
					ctx.Request.SetRequestURI("/health")
					handler(&ctx)
				}
			})
		})
	}
}
