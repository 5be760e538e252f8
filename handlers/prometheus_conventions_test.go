package handlers_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vitalsdev/vitals/probes"
)

// Prometheus' conventions: counters that rate() takes for CPU seconds and
// network bytes, the standard go_* and process_* series (the latter the
// snapshot's, equal to vitals' own figures), and the window's latency as a
// summary with quantile labels and the histogram's count.
func TestMetricsFollowPrometheusConventions(t *testing.T) {
	h := newMetricsHarness(t, metricsOptions{})
	for range 3 {
		h.do("GET", "/api/v1/system/metrics", nil, "", asReader)
	}
	tickWithCPU(t, h)
	_, first := h.scrape(t)
	for _, name := range []string{"vitals_cpu_usage_seconds_total", "vitals_network_receive_bytes_total", "vitals_network_transmit_bytes_total",
		"vitals_process_cpu_seconds_total", "process_cpu_seconds_total"} {
		f := first[name]
		if f == nil || f.GetType() != dto.MetricType_COUNTER || len(f.GetMetric()) != 1 {
			t.Errorf("%s: %v, want one counter", name, f)
		}
	}
	for _, name := range []string{"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_start_time_seconds",
		"process_open_fds", "process_max_fds",
		"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds", "go_info"} {
		if first[name] == nil {
			t.Errorf("no %s series", name)
		}
	}
	// The test process holds at least its stdio and the store's files, and
	// Go raises the soft limit well past that at start.
	if fds, _ := value(first, "process_open_fds"); fds < 3 {
		t.Errorf("process_open_fds = %v, want at least stdin, stdout and stderr", fds)
	} else if max, _ := value(first, "process_max_fds"); max < fds {
		t.Errorf("process_max_fds = %v, below process_open_fds %v", max, fds)
	}
	if a, _ := value(first, "process_resident_memory_bytes"); a <= 0 {
		t.Errorf("process_resident_memory_bytes = %v", a)
	} else if b, _ := value(first, "vitals_process_resident_memory_bytes"); a != b {
		t.Errorf("process_resident_memory_bytes %v, vitals_process_resident_memory_bytes %v: not from the same snapshot", a, b)
	}

	// rate()-able: a later snapshot never shows less.
	for range 200 {
		h.do("GET", "/api/v1/system/metrics", nil, "", asReader)
	}
	tickWithCPU(t, h)
	_, later := h.scrape(t)
	for _, name := range []string{"vitals_cpu_usage_seconds_total", "vitals_network_receive_bytes_total", "process_cpu_seconds_total"} {
		a, _ := value(first, name)
		b, ok := value(later, name)
		if !ok || b < a {
			t.Errorf("%s went from %v to %v", name, a, b)
		}
	}

	s := later["vitals_api_window_latency_seconds"]
	if s == nil || s.GetType() != dto.MetricType_SUMMARY || len(s.GetMetric()) != 1 {
		t.Fatalf("vitals_api_window_latency_seconds: %v, want one summary", s)
	}
	sum := s.GetMetric()[0].GetSummary()
	var qs []float64
	for _, q := range sum.GetQuantile() {
		qs = append(qs, q.GetQuantile())
	}
	if len(qs) != 3 || qs[0] != 0.5 || qs[1] != 0.95 || qs[2] != 0.99 {
		t.Errorf("quantiles %v, want 0.5 0.95 0.99", qs)
	}
	var histCount uint64
	for _, m := range later["vitals_api_request_duration_seconds"].GetMetric() {
		histCount += m.GetHistogram().GetSampleCount()
	}
	if sum.GetSampleCount() == 0 || sum.GetSampleCount() != histCount {
		t.Errorf("summary count %d, histogram count %d: want the same, not 0", sum.GetSampleCount(), histCount)
	}
}

// OpenMetrics is served when the Accept header prefers it, as Prometheus
// asks; the text format otherwise.
func TestMetricsOpenMetrics(t *testing.T) {
	h := newMetricsHarness(t, metricsOptions{})
	tickWithCPU(t, h)
	const prom = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
	status, header, body := h.do("GET", "/metrics", nil, "", func(r *http.Request) {
		asReader(r)
		r.Header.Set("Accept", prom)
	})
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "application/openmetrics-text; version=1.0.0") {
		t.Fatalf("with Prometheus' Accept: %d %q", status, header.Get("Content-Type"))
	}
	if !bytes.HasSuffix(body, []byte("# EOF\n")) || !bytes.Contains(body, []byte("# TYPE vitals_network_receive_bytes counter\n")) {
		t.Fatalf("not OpenMetrics:\n%s", body)
	}
	if !strings.Contains(header.Get("Vary"), "Accept") {
		t.Errorf("Vary %q does not name Accept", header.Get("Vary"))
	}
	for _, accept := range []string{"", "text/plain", "*/*"} {
		_, header, _ := h.do("GET", "/metrics", nil, "", func(r *http.Request) {
			asReader(r)
			if accept != "" {
				r.Header.Set("Accept", accept)
			}
		})
		if !strings.HasPrefix(header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Errorf("Accept %q: %q, want the text format", accept, header.Get("Content-Type"))
		}
	}
	// promtool check metrics reads the text format only; the OpenMetrics
	// rendering is the same families through client_golang's encoder.
	if bytes.Count(body, []byte("# EOF")) != 1 {
		t.Error("more than one # EOF")
	}
}

// tickWithCPU takes a new snapshot, again after a pause while CPU is
// still warming up: /proc/stat counts in 10 ms ticks, so two readings
// close together can be equal.
func tickWithCPU(t *testing.T, h *metricsHarness) {
	t.Helper()
	for range 100 {
		h.sampler.Tick(t.Context())
		if h.sampler.Latest().Snapshot.CPU.Status == probes.StatusOK {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("CPU is not known after 100 ticks")
}
