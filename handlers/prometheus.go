package handlers

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

// GET /metrics: the Prometheus text exposition (format 0.0.4).
//
// Naming (docs/metrics.md has the full list): every name starts with
// vitals_, sizes are bytes, durations seconds, and shares are ratios from
// 0 to 1 (the snapshot's percentages divided by 100), as Prometheus'
// conventions ask. A figure whose group is not ok is left out, never
// exported as 0; vitals_probe_up says which groups are up.
//
// A scrape never runs a probe: the exposition is rendered from the
// sampler's latest snapshot and cached until the snapshot changes or the
// cache is older than expositionMaxAge (so the request counters move between
// ticks too), then served as bytes, gzipped when the scraper accepts it.

// expositionMaxAge bounds how stale the counters of a cached exposition may
// be; the snapshot figures change only once per sampler tick anyway.
const expositionMaxAge = time.Second

// maxEventTypeLabels bounds the distinct type labels of
// vitals_events_ingested_total: types come from clients, and every label
// value is a series Prometheus keeps. Types past the bound are counted
// under otherEventTypes, which no real type can be (types start with a
// letter).
const (
	maxEventTypeLabels = 200
	otherEventTypes    = "_other"
)

// latencyBuckets are the upper bounds, in seconds, of the API latency
// histogram: from 100 µs (a snapshot served from memory) to 10 s (the
// request timeout).
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics holds what vitals counts for Prometheus besides the snapshot: the
// cumulative API latency histogram, the events ingested by type and the
// build information. main makes one and passes it in Config; it is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	latency *prometheus.HistogramVec
	// byClass holds the latency histogram's child per status class (index
	// status/100, 1xx to 5xx), made on first use so that classes never
	// seen export nothing.
	byClass [6]atomic.Pointer[prometheus.Observer]

	ingested *prometheus.CounterVec
	typesMu  sync.Mutex
	types    map[string]prometheus.Counter
}

// NewMetrics makes the collectors; version is reported by vitals_build_info.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vitals_api_request_duration_seconds",
			Help:    "Time vitals took to answer a request (static files excepted), by status class, since start.",
			Buckets: latencyBuckets,
		}, []string{"code"}),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitals_events_ingested_total",
			Help: "Events stored through POST /api/v1/events since start, by type (types past the first " + strconv.Itoa(maxEventTypeLabels) + " are counted as " + otherEventTypes + ").",
		}, []string{"type"}),
		types: make(map[string]prometheus.Counter),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "vitals_build_info",
		Help:        "Always 1; the labels say which build of vitals is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.latency, m.ingested, build)
	return m
}

// ObserveRequest records one request that took d and was answered with
// status. It costs a few atomic operations and allocates nothing.
func (m *Metrics) ObserveRequest(d time.Duration, status int) {
	class := status / 100
	if class < 1 || class > 5 {
		class = 5 // not a valid status: count it with the server errors
	}
	p := m.byClass[class].Load()
	if p == nil {
		o := m.latency.WithLabelValues(strconv.Itoa(class) + "xx")
		m.byClass[class].CompareAndSwap(nil, &o)
		p = m.byClass[class].Load()
	}
	(*p).Observe(d.Seconds())
}

// EventsIngested counts events newly stored; events a repeated idempotency
// key answered with are not passed here.
func (m *Metrics) EventsIngested(events []storage.Event) {
	if m == nil || len(events) == 0 {
		return
	}
	m.typesMu.Lock()
	defer m.typesMu.Unlock()
	for _, ev := range events {
		c, ok := m.types[ev.Type]
		if !ok {
			label := ev.Type
			if len(m.types) >= maxEventTypeLabels {
				label = otherEventTypes
			}
			c = m.ingested.WithLabelValues(label)
			if label == ev.Type {
				m.types[ev.Type] = c
			}
		}
		c.Inc()
	}
}

// exposition is one rendering of /metrics, shared by every request until
// the snapshot changes or it grows older than expositionMaxAge.
type exposition struct {
	src      *probes.Rendered
	rendered time.Time
	text     []byte
	gzipped  []byte
}

// expositionCache keeps the latest exposition. Readers load it without a
// lock; a stale one is re-rendered by one request while the others wait
// for it rather than render the same bytes again.
type expositionCache struct {
	cur atomic.Pointer[exposition]
	mu  sync.Mutex
	// zw is reused under mu: a gzip writer costs about 1 MB to make.
	zw *gzip.Writer
}

// metricsContentType is the text format's media type (version 0.0.4).
var metricsContentType = string(expfmt.NewFormat(expfmt.TypeTextPlain))

// metrics answers GET /metrics from the cached exposition.
func (s *server) metrics(c *fiber.Ctx) error {
	e, err := s.exposition()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, metricsContentType)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	if acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(e.gzipped)
	}
	return c.Send(e.text)
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
// Scrapers send "gzip" plainly; a "gzip;q=0" refusal is honoured.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// exposition returns the current rendering, making a new one when the
// snapshot has changed or the cached one is too old.
func (s *server) exposition() (*exposition, error) {
	r := s.Snapshots.Latest()
	if e := s.expo.cur.Load(); e != nil && e.src == r && time.Since(e.rendered) < expositionMaxAge {
		return e, nil
	}
	s.expo.mu.Lock()
	defer s.expo.mu.Unlock()
	r = s.Snapshots.Latest()
	if e := s.expo.cur.Load(); e != nil && e.src == r && time.Since(e.rendered) < expositionMaxAge {
		return e, nil
	}
	if s.expo.zw == nil {
		zw, err := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		if err != nil {
			return nil, fmt.Errorf("metrics: gzip: %w", err)
		}
		s.expo.zw = zw
	}
	e, err := renderExposition(r, s.Metrics, s.expo.zw)
	if err != nil {
		return nil, err
	}
	s.expo.cur.Store(e)
	return e, nil
}

// renderExposition gathers the snapshot's figures and m's collectors (m
// may be nil) into the text format, plain and gzipped with zw.
func renderExposition(r *probes.Rendered, m *Metrics, zw *gzip.Writer) (*exposition, error) {
	snapReg := prometheus.NewRegistry()
	if err := snapReg.Register(snapshotCollector{snap: &r.Snapshot}); err != nil {
		return nil, fmt.Errorf("metrics: register snapshot: %w", err)
	}
	gatherers := prometheus.Gatherers{snapReg}
	if m != nil {
		gatherers = append(gatherers, m.reg)
	}
	families, err := gatherers.Gather()
	if err != nil {
		return nil, fmt.Errorf("metrics: gather: %w", err)
	}
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return nil, fmt.Errorf("metrics: encode %s: %w", f.GetName(), err)
		}
	}
	var zipped bytes.Buffer
	zipped.Grow(text.Len() / 4)
	zw.Reset(&zipped)
	if _, err := zw.Write(text.Bytes()); err != nil {
		return nil, fmt.Errorf("metrics: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("metrics: gzip: %w", err)
	}
	return &exposition{src: r, rendered: time.Now(), text: text.Bytes(), gzipped: zipped.Bytes()}, nil
}

// snapshotCollector turns one snapshot into metrics. It describes nothing
// up front (an unchecked collector): which series exist depends on which
// groups are ok.
type snapshotCollector struct {
	snap *probes.Snapshot
}

func (snapshotCollector) Describe(chan<- *prometheus.Desc) {}

// Collect sends every figure the snapshot has. Numbers are nil whenever
// their group (or entry) is not ok, so skipping nil leaves out exactly the
// figures that could not be read.
func (sc snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := sc.snap
	e := emitter{ch: ch}

	e.gauge("vitals_snapshot_timestamp_seconds", "When the snapshot these figures come from was taken, in seconds since the Unix epoch.",
		float64(s.CollectedAt.UnixMilli())/1000)
	e.gauge("vitals_instance_info", "Always 1; the labels name the vitals instance (FLY_MACHINE_ID or the host name, and FLY_REGION).",
		1, "id", s.Instance.ID, "region", s.Instance.Region)

	e.up("cpu", s.CPU.Status)
	e.source("cpu", s.CPU.Source)
	e.gaugeRatio("vitals_cpu_usage_ratio", "CPU used over the last sampling interval, as a share of the cores available (the cgroup's quota inside a container), 0 to 1.", s.CPU.Percent)
	e.gaugeOpt("vitals_cpu_cores", "Cores the CPU figures are taken against: the cgroup's quota or cpuset when there is one, else every core.", s.CPU.Cores)
	e.counterOpt("vitals_cpu_throttled_periods_total", "CFS periods in which the cgroup's CPU quota ran out (nr_throttled).", uptr(s.CPU.ThrottledPeriodsTotal))
	e.counterOpt("vitals_cpu_throttled_seconds_total", "Time the cgroup was held back by its CPU quota.", msToSeconds(s.CPU.ThrottledMSTotal))
	e.gaugeRatio("vitals_cpu_throttled_ratio", "Share of the last interval's CFS periods in which the cgroup was throttled, 0 to 1.", s.CPU.ThrottledPercent)

	e.up("memory", s.Memory.Status)
	e.source("memory", s.Memory.Source)
	e.gaugeRatio("vitals_memory_usage_ratio", "Memory in use against the limit that applies (the cgroup's, else the host's), 0 to 1.", s.Memory.Percent)
	e.gaugeOpt("vitals_memory_used_bytes", "Memory in use: the working set (cgroup usage less inactive file cache, or MemTotal - MemAvailable on the host).", uptr(s.Memory.UsedBytes))
	e.gaugeOpt("vitals_memory_total_bytes", "Memory limit: the cgroup's limit when one applies, else MemTotal.", uptr(s.Memory.TotalBytes))

	diskUp := upValue(s.Disk, func(d probes.Disk) probes.Status { return d.Status })
	e.upValue("disk", diskUp)
	for _, d := range s.Disk {
		if d.Path == "" {
			continue
		}
		e.gauge("vitals_disk_up", "1 when the filesystem holding the path could be read, 0 when not.", boolValue(d.Status == probes.StatusOK), "path", d.Path)
		if d.Status != probes.StatusOK {
			continue
		}
		e.gauge("vitals_disk_info", "Always 1; the labels describe the filesystem holding the path (kind is disk, overlay, tmpfs or network; data is true for vitals' data directory).",
			1, "path", d.Path, "mountpoint", d.Mountpoint, "fstype", d.Fstype, "kind", d.Kind, "data", strconv.FormatBool(d.Data))
		e.gaugeRatio("vitals_disk_usage_ratio", "Filesystem space used, as df reports it: used / (used + available), 0 to 1.", d.Percent, "path", d.Path)
		e.gaugeOpt("vitals_disk_used_bytes", "Filesystem space used.", uptr(d.UsedBytes), "path", d.Path)
		e.gaugeOpt("vitals_disk_total_bytes", "Filesystem size.", uptr(d.TotalBytes), "path", d.Path)
		e.gaugeOpt("vitals_disk_available_bytes", "Filesystem space available to unprivileged users.", uptr(d.AvailableBytes), "path", d.Path)
	}

	db := s.Database
	e.up("database", db.Status)
	if db.Backend != "" && db.Status != probes.StatusNotConfigured {
		e.gauge("vitals_database_info", "Always 1; backend is postgres or sqlite.", 1, "backend", db.Backend)
	}
	if db.Status == probes.StatusOK {
		e.gaugeOpt("vitals_database_latency_seconds", "Round trip of SELECT 1 to the database (median of three).", msToSeconds(db.LatencyMS))
		e.gaugeOpt("vitals_database_connections", "Sessions of the database that have a state (the count from pg_stat_activity).", iptr(db.Connections))
		e.gaugeOpt("vitals_database_max_connections", "The server's max_connections.", iptr(db.MaxConnections))
		e.gaugeRatio("vitals_database_connections_usage_ratio", "Connections against max_connections, 0 to 1.", db.ConnectionsPercent)
		e.gaugeOpt("vitals_database_connections_by_state", "Sessions of the database by state.", iptr(db.ConnectionsActive), "state", "active")
		e.gaugeOpt("vitals_database_connections_by_state", "Sessions of the database by state.", iptr(db.ConnectionsIdle), "state", "idle")
		e.gaugeOpt("vitals_database_connections_by_state", "Sessions of the database by state.", iptr(db.ConnectionsIdleInTransaction), "state", "idle_in_transaction")
		e.gaugeOpt("vitals_database_size_bytes", "pg_database_size of the database.", iptr(db.SizeBytes))
		if db.Connections != nil {
			e.gauge("vitals_database_connections_partial", "1 when vitals' role lacks pg_monitor, so other roles' sessions are not counted and the connection figures may be low.", boolValue(db.Partial))
		}
	}

	e.up("redis", s.Redis.Status)
	e.gaugeOpt("vitals_redis_latency_seconds", "Round trip of PING to Redis (median of three).", msToSeconds(s.Redis.LatencyMS))
	e.gaugeOpt("vitals_redis_connected_clients", "Redis' connected_clients.", iptr(s.Redis.ConnectedClients))
	e.gaugeOpt("vitals_redis_used_memory_bytes", "Redis' used_memory.", uptr(s.Redis.UsedMemoryBytes))

	l := s.Load
	e.up("load", l.Status)
	e.source("load", l.Source)
	e.gaugeOpt("vitals_load1", "Load average over 1 minute.", l.Load1)
	e.gaugeOpt("vitals_load5", "Load average over 5 minutes.", l.Load5)
	e.gaugeOpt("vitals_load15", "Load average over 15 minutes.", l.Load15)
	e.gaugeOpt("vitals_load_cores", "Cores the per-core load averages divide by (as vitals_cpu_cores).", l.Cores)
	e.gaugeOpt("vitals_load1_per_core", "Load average over 1 minute per available core; above 1, work is waiting.", l.Load1PerCore)
	e.gaugeOpt("vitals_load5_per_core", "Load average over 5 minutes per available core.", l.Load5PerCore)
	e.gaugeOpt("vitals_load15_per_core", "Load average over 15 minutes per available core.", l.Load15PerCore)
	e.gaugeOpt("vitals_host_uptime_seconds", "Time since the kernel booted.", l.HostUptimeSeconds)

	n := s.Network
	e.up("network", n.Status)
	e.source("network", n.Source)
	e.gaugeOpt("vitals_network_receive_bytes_per_second", "Bytes received per second over the last sampling interval, every interface but loopback.", n.ReceiveBytesPerSecond)
	e.gaugeOpt("vitals_network_transmit_bytes_per_second", "Bytes sent per second over the last sampling interval, every interface but loopback.", n.TransmitBytesPerSecond)
	e.gaugeOpt("vitals_network_interfaces", "Network interfaces summed in the traffic figures.", iptr(n.Interfaces))

	p := s.Process
	e.up("process", p.Status)
	e.gaugeOpt("vitals_process_resident_memory_bytes", "Resident memory of the vitals process.", uptr(p.RSSBytes))
	e.gaugeOpt("vitals_process_goroutines", "Goroutines of the vitals process.", iptr(p.Goroutines))
	e.gaugeOpt("vitals_process_uptime_seconds", "Time since the vitals process started.", p.UptimeSeconds)

	if len(s.HTTP) > 0 {
		e.upValue("http", upValue(s.HTTP, func(h probes.HTTPTarget) probes.Status { return h.Status }))
	}
	for _, h := range s.HTTP {
		if h.Name == "" {
			continue
		}
		e.gauge("vitals_http_target_info", "Always 1; url is the target without credentials or query.", 1, "name", h.Name, "url", h.URL)
		e.gauge("vitals_http_target_up", "1 when the target answered (whatever the status), 0 on a connection failure or timeout.", boolValue(h.Status == probes.StatusOK), "name", h.Name)
		e.gaugeOpt("vitals_http_target_latency_seconds", "Time to the end of the target's answer (median of three requests).", msToSeconds(h.LatencyMS), "name", h.Name)
		if h.Code != nil {
			e.gauge("vitals_http_target_status_code", "HTTP status the target answered with.", float64(*h.Code), "name", h.Name)
		}
		if h.Healthy != nil {
			e.gauge("vitals_http_target_healthy", "1 when the target answered 2xx or 3xx, else 0.", boolValue(*h.Healthy), "name", h.Name)
		}
	}

	a := s.API
	e.up("api", a.Status)
	e.gaugeOpt("vitals_api_window_seconds", "Length of the sliding window of the vitals_api_window_* figures.", a.WindowSeconds)
	e.gaugeOpt("vitals_api_window_requests", "Requests vitals answered within the window.", uptr(a.Requests))
	e.gaugeRatio("vitals_api_window_error_ratio", "Share of the window's requests answered with a 5xx status, 0 to 1.", a.ErrorPercent)
	for _, q := range []struct {
		label string
		ms    *float64
	}{{"50", a.P50MS}, {"95", a.P95MS}, {"99", a.P99MS}} {
		// Not a summary (the window has no sum), so the label cannot be
		// Prometheus' reserved "quantile".
		e.gaugeOpt("vitals_api_window_latency_seconds", "Latency percentiles of the window's requests (up to 12.5 % error); vitals_api_request_duration_seconds is the cumulative histogram.", msToSeconds(q.ms), "percentile", q.label)
	}
}

// emitter sends const metrics; labels alternate name and value.
type emitter struct {
	ch chan<- prometheus.Metric
}

func (e emitter) send(name, help string, t prometheus.ValueType, v float64, labels []string) {
	names := make([]string, 0, len(labels)/2)
	values := make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		names = append(names, labels[i])
		values = append(values, labels[i+1])
	}
	m, err := prometheus.NewConstMetric(prometheus.NewDesc(name, help, names, nil), t, v, values...)
	if err != nil {
		// An invalid label value (not UTF-8) would break the whole scrape;
		// leave the one series out instead.
		return
	}
	e.ch <- m
}

func (e emitter) gauge(name, help string, v float64, labels ...string) {
	e.send(name, help, prometheus.GaugeValue, v, labels)
}

func (e emitter) gaugeOpt(name, help string, v *float64, labels ...string) {
	if v != nil {
		e.send(name, help, prometheus.GaugeValue, *v, labels)
	}
}

// gaugeRatio exports a snapshot percentage (0..100) as a ratio (0..1).
func (e emitter) gaugeRatio(name, help string, percent *float64, labels ...string) {
	if percent != nil {
		e.send(name, help, prometheus.GaugeValue, *percent/100, labels)
	}
}

func (e emitter) counterOpt(name, help string, v *float64, labels ...string) {
	if v != nil {
		e.send(name, help, prometheus.CounterValue, *v, labels)
	}
}

const probeUpHelp = "1 when the group's figures could be read, 0 when its source failed or timed out; groups that are not configured or not applicable are left out."

// up exports a group's status as 1 (ok) or 0 (unavailable); a group that
// is not configured or not applicable is not down, so it is left out.
func (e emitter) up(group string, st probes.Status) {
	switch st {
	case probes.StatusOK:
		e.upValue(group, 1)
	case probes.StatusUnavailable:
		e.upValue(group, 0)
	}
}

func (e emitter) upValue(group string, v float64) {
	if v >= 0 {
		e.gauge("vitals_probe_up", probeUpHelp, v, "group", group)
	}
}

func (e emitter) source(group, source string) {
	if source != "" {
		e.gauge("vitals_source_info", "Always 1; source says where a group's figures came from (cgroup v2, cgroup v1 or host).", 1, "group", group, "source", source)
	}
}

// upValue is a list group's up: 1 when every entry is ok, 0 when any is
// unavailable, -1 (left out) when none is either.
func upValue[T any](entries []T, status func(T) probes.Status) float64 {
	v := -1.0
	for _, x := range entries {
		switch status(x) {
		case probes.StatusOK:
			if v < 0 {
				v = 1
			}
		case probes.StatusUnavailable:
			v = 0
		}
	}
	return v
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func msToSeconds(ms *float64) *float64 {
	if ms == nil {
		return nil
	}
	v := *ms / 1000
	return &v
}

func uptr(v *uint64) *float64 {
	if v == nil {
		return nil
	}
	f := float64(*v)
	return &f
}

func iptr(v *int64) *float64 {
	if v == nil {
		return nil
	}
	f := float64(*v)
	return &f
}
