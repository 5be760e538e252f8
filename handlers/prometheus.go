package handlers

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

// GET /metrics: the Prometheus text exposition (format 0.0.4), or
// OpenMetrics 1.0 when the scraper's Accept header asks for it.
//
// Naming (docs/metrics.md has the full list): every name starts with
// vitals_ but the standard go_* and process_* series, sizes are bytes, durations seconds, and shares are ratios from
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
	// byCode holds the latency histogram's child per status (index the
	// status, 100 to 599), made on first use so that statuses never seen
	// export nothing. The label is the exact status when it is one of the
	// registered ones (a bounded set), else its class (5xx).
	byCode [600]atomic.Pointer[prometheus.Observer]

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
			Help:    "Time vitals took to answer a request (static files excepted), by status, since start.",
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
	// The Go runtime's standard go_* series (goroutines, GC, heap), read
	// from runtime/metrics, which stops no world; an exposition is
	// rendered at most once a second however often it is scraped. The
	// process_* series come from the snapshot instead (snapshotCollector).
	m.reg.MustRegister(m.latency, m.ingested, build, collectors.NewGoCollector())
	return m
}

// CountWriteFailures adds vitals_store_write_failures_total, read from
// failures at each scrape: the writes the store refused for room (the log
// says so only when that starts and ends).
func (m *Metrics) CountWriteFailures(failures func() uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vitals_store_write_failures_total",
		Help: "Writes the store refused for want of room (disk full, read-only) since start.",
	}, func() float64 { return float64(failures()) }))
}

// ObserveRequest records one request that took d and was answered with
// status. It costs a few atomic operations and allocates nothing.
func (m *Metrics) ObserveRequest(d time.Duration, status int) {
	if status < 100 || status > 599 {
		status = 599 // not a valid status: count it with the server errors
	}
	p := m.byCode[status].Load()
	if p == nil {
		o := m.latency.WithLabelValues(statusLabel(status))
		m.byCode[status].CompareAndSwap(nil, &o)
		p = m.byCode[status].Load()
	}
	(*p).Observe(d.Seconds())
}

// statusLabel is the code label of a status from 100 to 599: the status
// itself when it is a registered one, so the label values stay a bounded
// set whatever a handler answers, else its class ("5xx").
func statusLabel(status int) string {
	if http.StatusText(status) != "" {
		return strconv.Itoa(status)
	}
	return strconv.Itoa(status/100) + "xx"
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
	// families are kept for the OpenMetrics rendering, made on the first
	// request that asks for it (most scrapers never do).
	families []*dto.MetricFamily
	om       struct {
		once          sync.Once
		text, gzipped []byte
		err           error
	}
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

// metricsContentType is the text format's media type (version 0.0.4);
// openMetricsContentType OpenMetrics 1.0's.
var (
	metricsContentType     = string(expfmt.NewFormat(expfmt.TypeTextPlain))
	openMetricsContentType = string(expfmt.NewFormat(expfmt.TypeOpenMetrics))
)

// metrics answers GET /metrics from the cached exposition: OpenMetrics
// when the Accept header prefers it (as Prometheus' own scrapes offer it),
// the text format otherwise.
func (s *server) metrics(c *fiber.Ctx) error {
	e, err := s.exposition()
	if err != nil {
		return err
	}
	body, ctype, zipped, err := e.answer(c.Get(fiber.HeaderAccept), c.Get(fiber.HeaderAcceptEncoding))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, ctype)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderVary, fiber.HeaderAccept+", "+fiber.HeaderAcceptEncoding)
	if zipped {
		c.Set(fiber.HeaderContentEncoding, "gzip")
	}
	return c.Send(body)
}

// answer picks the rendering a scraper's Accept and Accept-Encoding
// headers ask for: its bytes, media type, and whether they are gzipped.
func (e *exposition) answer(accept, acceptEncoding string) (body []byte, ctype string, zipped bool, err error) {
	text, gz, ctype := e.text, e.gzipped, metricsContentType
	if wantsOpenMetrics(accept) {
		if text, gz, err = e.openMetrics(); err != nil {
			return nil, "", false, err
		}
		ctype = openMetricsContentType
	}
	if acceptsGzip(acceptEncoding) {
		return gz, ctype, true, nil
	}
	return text, ctype, false, nil
}

// MetricsHandler serves GET /metrics alone, without a credential, for the
// private metrics listener (VITALS_METRICS_ADDR): a platform's scraper
// that cannot send a token reaches it on an address the public cannot,
// while /metrics on the public port stays behind a read token. It renders
// from the same snapshots and collectors as the main server's /metrics.
func MetricsHandler(snapshots Snapshots, m *Metrics) http.Handler {
	s := &server{Config: Config{Snapshots: snapshots, Metrics: m}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		problem := func(status int, detail string) {
			h.Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"type":"about:blank","title":%q,"status":%d,"detail":%q}`, http.StatusText(status), status, detail)
		}
		switch {
		case r.URL.Path != "/metrics":
			problem(http.StatusNotFound, "this listener serves /metrics only")
			return
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			h.Set("Allow", "GET, HEAD")
			problem(http.StatusMethodNotAllowed, "use GET")
			return
		}
		e, err := s.exposition()
		if err != nil {
			problem(http.StatusInternalServerError, "the metrics could not be rendered")
			return
		}
		body, ctype, zipped, err := e.answer(r.Header.Get("Accept"), r.Header.Get("Accept-Encoding"))
		if err != nil {
			problem(http.StatusInternalServerError, "the metrics could not be rendered")
			return
		}
		h.Set("Content-Type", ctype)
		h.Set("Vary", "Accept, Accept-Encoding")
		if zipped {
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}

// wantsOpenMetrics reports whether an Accept header prefers OpenMetrics,
// by the same negotiation Prometheus' client library does.
func wantsOpenMetrics(accept string) bool {
	if accept == "" {
		return false
	}
	h := http.Header{}
	h.Set("Accept", accept)
	return expfmt.NegotiateAccept(h, expfmt.DefaultOpenMetricsAcceptedFormats()...).FormatType() == expfmt.TypeOpenMetrics
}

// openMetrics renders e's families as OpenMetrics, once.
func (e *exposition) openMetrics() (text, gzipped []byte, err error) {
	e.om.once.Do(func() {
		var b bytes.Buffer
		enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeOpenMetrics))
		for _, f := range e.families {
			if err := enc.Encode(f); err != nil {
				e.om.err = fmt.Errorf("metrics: encode %s: %w", f.GetName(), err)
				return
			}
		}
		if closer, ok := enc.(expfmt.Closer); ok {
			if err := closer.Close(); err != nil {
				e.om.err = fmt.Errorf("metrics: openmetrics: %w", err)
				return
			}
		}
		var z bytes.Buffer
		// A writer of its own: the cache's is held by another rendering.
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed) // BestSpeed is a valid level
		if _, err := zw.Write(b.Bytes()); err != nil {
			e.om.err = err
			return
		}
		if err := zw.Close(); err != nil {
			e.om.err = err
			return
		}
		e.om.text, e.om.gzipped = b.Bytes(), z.Bytes()
	})
	return e.om.text, e.om.gzipped, e.om.err
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
	var families []*dto.MetricFamily
	sc := snapshotCollector{snap: &r.Snapshot, groups: probes.Groups()}
	if m != nil {
		own, err := m.reg.Gather()
		if err != nil {
			return nil, fmt.Errorf("metrics: gather: %w", err)
		}
		families = own
		sc.requests, sc.seconds, sc.cumulative = histogramTotals(own, "vitals_api_request_duration_seconds")
	}
	snapReg := prometheus.NewRegistry()
	if err := snapReg.Register(sc); err != nil {
		return nil, fmt.Errorf("metrics: register snapshot: %w", err)
	}
	snap, err := snapReg.Gather()
	if err != nil {
		return nil, fmt.Errorf("metrics: gather: %w", err)
	}
	// The two sets of names are apart (the snapshot's and the
	// collectors'), so a merge is a sort.
	families = append(families, snap...)
	slices.SortFunc(families, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
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
	return &exposition{src: r, rendered: time.Now(), text: text.Bytes(), gzipped: zipped.Bytes(), families: families}, nil
}

// snapshotCollector turns one snapshot into metrics by walking the group
// list (probes.Groups): nothing here names a group or a figure. It
// describes nothing up front (an unchecked collector): which series exist
// depends on which groups are ok.
type snapshotCollector struct {
	snap   *probes.Snapshot
	groups []probes.Group
	// requests and seconds are the API latency histogram's count and sum
	// (every status), when cumulative: a summary's _count and _sum, beside
	// its quantiles over the window.
	requests   uint64
	seconds    float64
	cumulative bool
}

// histogramTotals adds up the count and sum of every series of the
// histogram family name.
func histogramTotals(families []*dto.MetricFamily, name string) (count uint64, sum float64, ok bool) {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			count += m.GetHistogram().GetSampleCount()
			sum += m.GetHistogram().GetSampleSum()
		}
		return count, sum, true
	}
	return 0, 0, false
}

func (snapshotCollector) Describe(chan<- *prometheus.Desc) {}

// Collect sends every figure the snapshot has. A figure is absent whenever
// its group (or entry) is not ok, so skipping absent ones leaves out
// exactly the figures that could not be read.
func (sc snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := sc.snap
	e := emitter{ch: ch, quantiles: map[string]*summaryParts{}}

	e.gauge("vitals_snapshot_timestamp_seconds", "When the snapshot these figures come from was taken, in seconds since the Unix epoch.",
		float64(s.CollectedAt.UnixMilli())/1000)
	e.gauge("vitals_instance_info", "Always 1; the labels name the vitals instance (FLY_MACHINE_ID or the host name, and FLY_REGION).",
		1, "id", s.Instance.ID, "region", s.Instance.Region)
	for i := range sc.groups {
		e.group(&sc.groups[i], s)
	}
	e.process(&s.Process, s.CollectedAt)
	// Quantile figures are a summary: quantiles over the window, with the
	// cumulative count and sum, as client_golang's summaries have them.
	// Without those there is no valid summary to send.
	for name, q := range e.quantiles {
		if !sc.cumulative {
			continue
		}
		m, err := prometheus.NewConstSummary(prometheus.NewDesc(name, q.help, nil, nil), sc.requests, sc.seconds, q.values)
		if err == nil {
			ch <- m
		}
	}
}

// summaryParts are the quantile figures of one summary.
type summaryParts struct {
	help   string
	values map[float64]float64
}

// process sends the standard process_* series (what client_golang's
// process collector exports) from the snapshot's process group: read
// once per sampler tick, never per scrape.
func (e emitter) process(p *probes.Process, at time.Time) {
	if p.Status != probes.StatusOK {
		return
	}
	if p.RSSBytes != nil {
		e.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", float64(*p.RSSBytes))
	}
	if p.VirtualMemoryBytes != nil {
		e.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float64(*p.VirtualMemoryBytes))
	}
	if p.CPUSecondsTotal != nil {
		e.send("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", prometheus.CounterValue, *p.CPUSecondsTotal, nil)
	}
	if p.OpenFDs != nil {
		e.gauge("process_open_fds", "Number of open file descriptors.", float64(*p.OpenFDs))
	}
	if p.MaxFDs != nil {
		e.gauge("process_max_fds", "Maximum number of open file descriptors.", float64(*p.MaxFDs))
	}
	if p.UptimeSeconds != nil {
		// Rounded to the clock tick the kernel counts a start in, so the
		// value does not wobble from one snapshot to the next.
		start := float64(at.UnixMilli())/1000 - *p.UptimeSeconds
		e.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", float64(int64(start*100+0.5))/100)
	}
}

// group sends one group's up, source, per-entry and figure series.
func (e emitter) group(g *probes.Group, s *probes.Snapshot) {
	up := -1.0
	for _, st := range g.Entries(s) {
		up = combineUp(up, st.Status)
		e.source(g.Name, st.Source)
		var key []string
		if g.Keyed() {
			if st.Key == "" {
				continue // an unnamed placeholder: no label to put it under
			}
			key = []string{g.Key, st.Key}
			e.gauge(g.Metric+"_up", g.UpHelp, boolValue(st.Status == probes.StatusOK), key...)
		}
		if st.Labels != nil && g.Metric != "" {
			e.gauge(g.Metric+"_info", g.InfoHelp, 1, append(key, st.Labels...)...)
		}
	}
	e.upValue(g.Name, up)
	g.Each(s, func(r probes.Reading) {
		if r.Value == nil {
			return
		}
		f := r.Figure
		var labels []string
		if g.Keyed() {
			labels = append(labels, g.Key, r.Key)
		}
		labels = append(labels, f.Labels...)
		if len(f.Labels) == 2 && f.Labels[0] == "quantile" && !g.Keyed() {
			e.quantile(f, baseUnit(f.Unit, *r.Value))
			return
		}
		t := prometheus.GaugeValue
		if f.Kind == probes.KindCounter {
			t = prometheus.CounterValue
		}
		e.send(f.Metric, f.Help, t, baseUnit(f.Unit, *r.Value), labels)
	})
}

// baseUnit converts a snapshot figure to Prometheus' base units: shares
// from percent (0..100) to ratios (0..1), durations from milliseconds to
// seconds.
func baseUnit(u probes.Unit, v float64) float64 {
	switch u {
	case probes.UnitPercent:
		return v / 100
	case probes.UnitMillis:
		return v / 1000
	}
	return v
}

// emitter sends const metrics; labels alternate name and value.
// quantiles gathers the quantile figures by metric, sent as summaries at
// the end.
type emitter struct {
	ch        chan<- prometheus.Metric
	quantiles map[string]*summaryParts
}

// quantile keeps one quantile figure for its summary.
func (e emitter) quantile(f *probes.Figure, v float64) {
	q, err := strconv.ParseFloat(f.Labels[1], 64)
	if err != nil {
		return
	}
	parts := e.quantiles[f.Metric]
	if parts == nil {
		parts = &summaryParts{help: f.Help, values: map[float64]float64{}}
		e.quantiles[f.Metric] = parts
	}
	parts.values[q] = v
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

const probeUpHelp = "1 when the group's figures could be read, 0 when its source failed or timed out; groups that are not configured or not applicable are left out."

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

// combineUp folds one entry's status into a group's up: 1 when every
// entry is ok, 0 when any is unavailable, -1 (left out) when none is
// either, since a group that is not configured or not applicable is not
// down.
func combineUp(up float64, st probes.Status) float64 {
	switch st {
	case probes.StatusOK:
		if up < 0 {
			return 1
		}
	case probes.StatusUnavailable:
		return 0
	}
	return up
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
