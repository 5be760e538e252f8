package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadResult is what one load run measured: requests a second and the
// latency percentiles as the load generator saw them on loopback.
type loadResult struct {
	Requests float64 `json:"requests"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	Bad      float64 `json:"bad"` // non-2xx/3xx answers and socket errors
}

// target is one load: a URL, its method, headers and body.
type target struct {
	URL     string
	Method  string
	Headers map[string]string
	Body    []byte
}

// loader runs a load with wrk when present, else with this binary
// re-executed as a Go load generator (a separate process either way).
type loader struct {
	wrk     string
	self    string
	dir     string
	threads int
	conns   int
	n       int
}

func (l *loader) tool() string {
	if l.wrk != "" {
		return "wrk (" + l.wrk + ")"
	}
	return "Go load generator (this binary, -loadgen, separate process)"
}

// name is the load generator's short name for the table.
func (l *loader) name() string {
	if l.wrk != "" {
		return "wrk"
	}
	return "Go load generator"
}

func (l *loader) run(ctx context.Context, t target, d time.Duration) (loadResult, error) {
	if l.wrk != "" {
		return l.runWrk(ctx, t, d)
	}
	return l.runGo(ctx, t, d)
}

func (l *loader) runWrk(ctx context.Context, t target, d time.Duration) (loadResult, error) {
	l.n++
	script := filepath.Join(l.dir, fmt.Sprintf("wrk%d.lua", l.n))
	var sb strings.Builder
	method := t.Method
	if method == "" {
		method = "GET"
	}
	fmt.Fprintf(&sb, "wrk.method = %q\n", method)
	for k, v := range t.Headers {
		fmt.Fprintf(&sb, "wrk.headers[%q] = %q\n", k, v)
	}
	if len(t.Body) > 0 {
		bodyFile := script + ".body"
		if err := os.WriteFile(bodyFile, t.Body, 0o600); err != nil {
			return loadResult{}, err
		}
		fmt.Fprintf(&sb, "local f = io.open(%q, \"rb\")\nwrk.body = f:read(\"*a\")\nf:close()\n", bodyFile)
	}
	if err := os.WriteFile(script, []byte(sb.String()), 0o600); err != nil {
		return loadResult{}, err
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, l.wrk, "-t"+strconv.Itoa(l.threads), "-c"+strconv.Itoa(l.conns),
		"-d"+strconv.Itoa(secs)+"s", "--latency", "-s", script, t.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk %s: %v: %s", t.URL, err, out)
	}
	return parseWrk(string(out))
}

var (
	wrkRPS   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkReqs  = regexp.MustCompile(`(\d+) requests in`)
	wrkPct   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkNon2  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockE = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's summary: requests/s and the 50 % and 99 % lines of
// its latency distribution, in microseconds.
func parseWrk(out string) (loadResult, error) {
	var r loadResult
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no Requests/sec in %q", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkReqs.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "ms":
			v *= 1e3
		case "s":
			v *= 1e6
		}
		if m[1] == "50" {
			r.P50 = v
		} else {
			r.P99 = v
		}
	}
	if m := wrkNon2.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseFloat(m[1], 64)
		r.Bad += n
	}
	if m := wrkSockE.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseFloat(s, 64)
			r.Bad += n
		}
	}
	return r, nil
}

func (l *loader) runGo(ctx context.Context, t target, d time.Duration) (loadResult, error) {
	l.n++
	spec := filepath.Join(l.dir, fmt.Sprintf("load%d.json", l.n))
	b, _ := json.Marshal(t)
	if err := os.WriteFile(spec, b, 0o600); err != nil {
		return loadResult{}, err
	}
	cmd := exec.CommandContext(ctx, l.self, "-loadgen", spec, "-loadgen-conns", strconv.Itoa(l.conns), "-duration", d.String())
	out, err := cmd.Output()
	if err != nil {
		return loadResult{}, fmt.Errorf("load generator %s: %v", t.URL, err)
	}
	var r loadResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		return r, fmt.Errorf("load generator %s: %v: %s", t.URL, err, out)
	}
	return r, nil
}

// loadgenMain is the hidden -loadgen mode: conns keep-alive connections
// sending the target's request for d, printing a loadResult as JSON.
func loadgenMain(specFile string, conns int, d time.Duration) int {
	b, err := os.ReadFile(specFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var t target
	if err := json.Unmarshal(b, &t); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 10 * time.Second}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		bad  int
		wg   sync.WaitGroup
		stop = time.Now().Add(d)
	)
	start := time.Now()
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			nbad := 0
			for time.Now().Before(stop) {
				req, err := http.NewRequest(cmpOr(t.Method, "GET"), t.URL, bytes.NewReader(t.Body))
				if err != nil {
					nbad++
					continue
				}
				for k, v := range t.Headers {
					req.Header.Set(k, v)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					nbad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode >= 400 {
					nbad++
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			bad += nbad
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	r := loadResult{Requests: float64(len(lat)), RPS: float64(len(lat)) / el.Seconds(), Bad: float64(bad)}
	if len(lat) > 0 {
		r.P50 = float64(lat[len(lat)/2].Microseconds())
		r.P99 = float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	return 0
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// percentiles of durations in microseconds.
func percentiles(lat []time.Duration) (p50, p99 float64) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return float64(lat[len(lat)/2].Nanoseconds()) / 1e3, float64(lat[min(len(lat)-1, len(lat)*99/100)].Nanoseconds()) / 1e3
}

// hidden flags of the re-executed modes.
type hiddenFlags struct {
	loadgen      string
	loadgenConns int
	bare         string
	bareJSON     string
	bareProm     string
}

func (h *hiddenFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.loadgen, "loadgen", "", "internal: run as the Go load generator with this target file")
	fs.IntVar(&h.loadgenConns, "loadgen-conns", 10, "internal: the load generator's connections")
	fs.StringVar(&h.bare, "bare", "", "internal: serve the bare Fiber handler on this address")
	fs.StringVar(&h.bareJSON, "bare-json", "", "internal: the metrics JSON the bare handler serves")
	fs.StringVar(&h.bareProm, "bare-prom", "", "internal: the /metrics text the bare handler serves")
}
