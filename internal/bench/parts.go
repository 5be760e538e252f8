package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vitalsdev/vitals/history/historytest"
	"github.com/vitalsdev/vitals/storage/sqlite"
)

// instance is a started vitals with its credentials.
type instance struct {
	*proc
	env    []string
	read   string
	ingest string
	cookie string
}

// cli runs `vitals args...` with env, stdin when given, and returns its
// standard output.
func (b *bench) cli(env []string, stdin string, args ...string) (string, error) {
	cmd := exec.Command(b.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("vitals %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// startInstance prepares a store with the CLI (an admin password, a read
// and an ingest token) and starts `vitals serve` on it with the
// production settings: authentication, retention, history and the
// default alert rules are on by default; only the per-token ingest rate
// limit is off, or it would be what the ingest rows measure.
func (b *bench) startInstance(name string, env []string, seed func() error) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	env = append(env, "VITALS_LOG_FORMAT=json", "VITALS_INGEST_RATE=0")
	password := rand.Text()
	if _, err := b.cli(env, password+"\n", "admin", "set-password"); err != nil {
		return nil, err
	}
	in := &instance{env: env}
	if in.read, err = b.cli(env, "", "token", "create", "--name", "bench-read", "--kind", "read"); err != nil {
		return nil, err
	}
	if in.ingest, err = b.cli(env, "", "token", "create", "--name", "bench-ingest", "--kind", "ingest"); err != nil {
		return nil, err
	}
	if seed != nil {
		if err := seed(); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	p, err := start(b.bin, []string{"serve"}, append(env, "PORT="+strconv.Itoa(port)), filepath.Join(b.tmp, name+".log"), port)
	if err != nil {
		return nil, err
	}
	in.proc = p
	if _, err := waitOK(p, p.base+"/health", t0, 30*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	in.cookie, err = signIn(p.base, password)
	if err != nil {
		p.stop()
		return nil, err
	}
	return in, nil
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// signIn signs in as the admin through the form and returns the Cookie
// header of the session.
func signIn(base, password string) (string, error) {
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(base + "/login")
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	m := csrfInput.FindSubmatch(body)
	if m == nil {
		return "", errors.New("sign-in: no CSRF field on /login")
	}
	var cookies []string
	for _, c := range resp.Cookies() {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	form := url.Values{"username": {"admin"}, "password": {password}, "csrf": {string(m[1])}}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", strings.Join(cookies, "; "))
	resp, err = noRedirect.Do(req)
	if err != nil {
		return "", err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("sign-in: %s", resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "vitals_session" && c.Value != "" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", errors.New("sign-in: no session cookie")
}

// get fetches url with the headers and returns status and body.
func get(u string, headers map[string]string) (int, []byte, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := quick.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func ms(us float64) string {
	if us < 1000 {
		return fmt.Sprintf("%.0f µs", us)
	}
	return fmt.Sprintf("%.2f ms", us/1000)
}

func rate(r loadResult) string {
	return fmt.Sprintf("%s req/s, p50 %s, p99 %s", thousands(r.RPS), ms(r.P50), ms(r.P99))
}

func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// loadRow runs one load and checks that every answer was a success.
func (b *bench) loadRow(ctx context.Context, t target) (loadResult, error) {
	r, err := b.load.run(ctx, t, b.dur)
	if err != nil {
		return r, err
	}
	if r.Requests == 0 || r.Bad > r.Requests/100 {
		return r, fmt.Errorf("%s: %.0f of %.0f requests failed", t.URL, r.Bad, r.Requests)
	}
	return r, nil
}

// all runs every part in turn; a part that fails is a row with its error.
func (b *bench) all(ctx context.Context) {
	dataDir := filepath.Join(b.tmp, "data")
	// The instance's own id is the seeded year's, so that the chart rows
	// (which name an instance of the fleet) read the year, as the history
	// rows do.
	env := []string{"VITALS_DATA_DIR=" + dataDir, "FLY_MACHINE_ID=bench"}
	main, err := b.startInstance("sqlite", env, func() error {
		if _, err := b.cli(env, "", "demo", "--count", "1000"); err != nil {
			return err
		}
		return seedYear(ctx, filepath.Join(dataDir, "vitals.db"))
	})
	if err != nil {
		b.fail("vitals on SQLite", err)
		return
	}
	defer main.stop()

	b.idleRows(ctx, main)
	nodeRPS := b.readRows(ctx, main)
	b.ingestRows(ctx, main, "SQLite", env, 10_000, 50_000)
	if m, err := readMemory(main.pid()); err == nil {
		b.add(row{what: "RSS after the load above", measured: m.String() + goMemory(main), target: "< 40 MiB", verdict: verdict(m.RSS < 40*1024)})
	}
	b.pythonRows(ctx, main)
	main.stop()
	b.postgresRows(ctx)
	b.coldStart(ctx, nodeRPS)
}

// idleRows: idle CPU over b.idle at the default intervals, then idle RSS.
func (b *bench) idleRows(ctx context.Context, in *instance) {
	settle := 10 * time.Second
	if b.smoke {
		settle = time.Second
	}
	time.Sleep(settle)
	pid := in.pid()
	t0, err := cpuTicks(pid)
	if err != nil {
		b.fail("idle CPU", err)
		return
	}
	s0, w0 := schedNS(pid), time.Now()
	select {
	case <-ctx.Done():
		return
	case <-time.After(b.idle):
	}
	t1, _ := cpuTicks(pid)
	s1, wall := schedNS(pid), time.Since(w0)
	// A tick is 10 ms (USER_HZ 100).
	pct := float64(t1-t0) * 10e6 / float64(wall.Nanoseconds()) * 100
	sched := float64(s1-s0) / float64(wall.Nanoseconds()) * 100
	b.add(row{what: fmt.Sprintf("idle CPU over %s, defaults (5 s probes, 30 s history, alert rules on)", b.idle.Round(time.Second)),
		measured: fmt.Sprintf("%.3f %% of a core (%d ticks of /proc/PID/stat utime+stime; schedstat of the live threads %.3f %%)", pct, t1-t0, sched),
		target:   "< 0.1 %", verdict: verdict(pct < 0.1)})
	if m, err := readMemory(pid); err == nil {
		b.add(row{what: "RSS idle", measured: m.String() + goMemory(in), target: "< 25 MiB", verdict: verdict(m.RSS < 25*1024)})
	}
}

// readRows loads every read route of vitals and their limits; it returns
// node_exporter's /metrics requests/s (0 when not measured).
func (b *bench) readRows(ctx context.Context, in *instance) float64 {
	rd, ck := bearer(in.read), map[string]string{"Cookie": in.cookie}
	// The bytes vitals answers, for the bare handler.
	_, js, err := get(in.base+"/api/v1/system/metrics", rd)
	if err != nil {
		b.fail("metrics JSON", err)
		return 0
	}
	_, prom, err := get(in.base+"/metrics", rd)
	if err != nil {
		b.fail("/metrics", err)
		return 0
	}
	jsFile, promFile := filepath.Join(b.tmp, "metrics.json"), filepath.Join(b.tmp, "metrics.txt")
	_ = os.WriteFile(jsFile, js, 0o600)
	_ = os.WriteFile(promFile, prom, 0o600)
	port, _ := freePort()
	bare, err := start(b.self, []string{"-bare", "127.0.0.1:" + strconv.Itoa(port), "-bare-json", jsFile, "-bare-prom", promFile}, nil, filepath.Join(b.tmp, "bare.log"), port)
	if err == nil {
		defer bare.stop()
		_, err = waitOK(bare, bare.base+"/health", time.Now(), 10*time.Second)
	}
	var bareJS, bareProm loadResult
	if err == nil {
		bareJS, err = b.loadRow(ctx, target{URL: bare.base + "/api/v1/system/metrics"})
	}
	if err == nil {
		bareProm, err = b.loadRow(ctx, target{URL: bare.base + "/metrics"})
	}
	if err != nil {
		b.fail("bare Fiber handler", err)
		return 0
	}
	bare.stop()
	b.used = append(b.used, "bare Fiber handler (this binary, -bare, separate process) serving the bytes vitals answered")

	if r, err := b.loadRow(ctx, target{URL: in.base + "/api/v1/system/metrics", Headers: rd}); err != nil {
		b.fail("`GET /api/v1/system/metrics`", err)
	} else {
		share, p99x := r.RPS/bareJS.RPS, r.P99/bareJS.P99
		b.add(row{what: fmt.Sprintf("`GET /api/v1/system/metrics` (%d bytes, read token)", len(js)), measured: rate(r),
			limit:  fmt.Sprintf("bare handler %s: %.0f %%, p99 %.2fx", rate(bareJS), share*100, p99x),
			target: "≥ 75 % of the bare req/s, p99 ≤ 1.5x", verdict: verdict(share >= 0.75 && p99x <= 1.5)})
	}

	var nodeRPS float64
	var node loadResult
	if b.nodeExp != "" {
		port, _ := freePort()
		ne, err := start(b.nodeExp, []string{"--web.listen-address=127.0.0.1:" + strconv.Itoa(port)}, nil, filepath.Join(b.tmp, "node_exporter.log"), port)
		if err == nil {
			_, err = waitOK(ne, ne.base+"/metrics", time.Now(), 10*time.Second)
			if err == nil {
				node, err = b.loadRow(ctx, target{URL: ne.base + "/metrics"})
			}
			ne.stop()
		}
		if err != nil {
			b.fail("node_exporter /metrics", err)
		} else {
			nodeRPS = node.RPS
		}
	}
	if r, err := b.loadRow(ctx, target{URL: in.base + "/metrics", Headers: rd}); err != nil {
		b.fail("`GET /metrics`", err)
	} else {
		ref := fmt.Sprintf("bare handler %s", rate(bareProm))
		v := skipped + " (no node_exporter)"
		if nodeRPS > 0 {
			ref = fmt.Sprintf("node_exporter %s: %.0fx; %s", rate(node), r.RPS/nodeRPS, ref)
			v = verdict(r.RPS >= 200*nodeRPS)
		}
		b.add(row{what: fmt.Sprintf("`GET /metrics` (%d bytes, read token)", len(prom)), measured: rate(r), limit: ref, target: "≥ 200x node_exporter's req/s", verdict: v})
	}

	type page struct {
		what, path string
		headers    map[string]string
	}
	const year = "&instance=bench"
	for _, p := range []page{
		{"full page `/` (signed in, 1,000 events)", "/", ck},
		{"`/partials/cards`", "/partials/cards", ck},
		{"`/partials/uptime`", "/partials/uptime", ck},
		{"`/partials/events`", "/partials/events", ck},
		{"`/partials/feed`", "/partials/feed", ck},
		{"`/partials/fleet`", "/partials/fleet", ck},
		{"`/api/v1/history?series=cpu.percent&range=24h` (a year stored)", "/api/v1/history?series=cpu.percent&range=24h" + year, rd},
		{"`/api/v1/history?series=cpu.percent&range=30d` (a year stored)", "/api/v1/history?series=cpu.percent&range=30d" + year, rd},
		{"`/partials/chart?series=cpu.percent&range=24h`", "/partials/chart?series=cpu.percent&range=24h" + year, ck},
		{"`/partials/chart?series=cpu.percent&range=30d`", "/partials/chart?series=cpu.percent&range=30d" + year, ck},
	} {
		status, _, err := get(in.base+p.path, p.headers)
		if err == nil && status == http.StatusBadRequest && strings.HasSuffix(p.path, year) {
			// A route that takes no instance: this instance's own history.
			p.path = strings.TrimSuffix(p.path, year)
			status, _, err = get(in.base+p.path, p.headers)
		}
		switch {
		case err != nil:
			b.fail(p.what, err)
			continue
		case status == http.StatusNotFound:
			b.add(row{what: p.what, measured: "skipped: route absent (404)", target: "p99 < 5 ms", verdict: skipped})
			continue
		case status != http.StatusOK:
			b.fail(p.what, fmt.Errorf("GET %s: %d", p.path, status))
			continue
		}
		r, srv, err := b.vitalsLoad(ctx, in, target{URL: in.base + p.path, Headers: p.headers})
		if err != nil {
			b.fail(p.what, err)
			continue
		}
		// The same route from one connection: the server's own time
		// without nine other requests waiting for the two cores.
		one := *b.load
		one.threads, one.conns = 1, 1
		light := "one connection: error"
		if before, err := histogram(in); err == nil {
			if _, err := one.run(ctx, target{URL: in.base + p.path, Headers: p.headers}, max(b.dur/2, time.Second)); err == nil {
				if after, err := histogram(in); err == nil {
					light = "one connection (-t1 -c1): " + serverSide(before, after).String()
				}
			}
		}
		b.load.n = one.n
		b.add(row{what: p.what, measured: rate(r) + " (" + b.load.name() + "); " + srv.String(), limit: light,
			target: "p99 < 5 ms server-side", verdict: verdict(srv.Under5ms >= 0.99)})
	}
	return nodeRPS
}

// seedYear stores a year of cpu.percent and memory.percent history of an
// instance "bench" (48 h raw, 30 d of 5-minute and a year of hourly
// buckets, chunked as the recorder and the roll-ups chunk them), so that
// the history rows read what a year-old instance reads.
func seedYear(ctx context.Context, path string) error {
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	return historytest.SeedYear(ctx, st, "bench", []string{"cpu.percent", "memory.percent"}, time.Now())
}

const oneEvent = `{"type":"bench.event","message":"A benchmark event","user_email":"anna@example.com","details":{"plan":"free","i":1}}`

func batchOf(n int) []byte {
	return []byte("[" + strings.TrimSuffix(strings.Repeat(oneEvent+",", n), ",") + "]")
}

// ingestRows posts single events and batches of 100 to in, beside the raw
// driver's limits, and measures retention's cost with a second instance
// that keeps every event (no pruning).
func (b *bench) ingestRows(ctx context.Context, in *instance, backend string, env []string, single, batched float64) {
	post := func(base, tok string, body []byte) target {
		return target{URL: base + "/api/v1/events", Method: "POST", Body: body,
			Headers: map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}}
	}
	var rawSingle, rawBatch rawRate
	var rawErr error
	if backend == "SQLite" {
		rawSingle, rawErr = rawSQLite(ctx, b.tmp, 1, b.dur)
		if rawErr == nil {
			rawBatch, rawErr = rawSQLite(ctx, b.tmp, 100, b.dur)
		}
	} else {
		schema := fmt.Sprintf("bench_raw_%d_%d", os.Getpid(), time.Now().Unix())
		defer dropSchema(b.pgURL, schema)
		rawSingle, rawErr = rawPostgres(ctx, b.pgURL, schema, 1, 10, b.dur)
		if rawErr == nil {
			rawBatch, rawErr = rawPostgres(ctx, b.pgURL, schema, 100, 10, b.dur)
		}
	}
	limit := func(r rawRate, what string) string {
		if rawErr != nil {
			return "raw driver: error " + rawErr.Error()
		}
		return fmt.Sprintf("raw driver %s: %s rows/s, p99 %s", what, thousands(r.RowsPerSec), ms(r.P99us))
	}
	conns := "1 connection"
	if backend != "SQLite" {
		conns = "10 connections"
	}
	one, oneSrv, err := b.vitalsLoad(ctx, in, post(in.base, in.ingest, []byte(oneEvent)))
	if err != nil {
		b.fail("ingest "+backend+", single events", err)
	} else {
		v := verdict(one.RPS >= single)
		tgt := fmt.Sprintf("≥ %s/s", thousands(single))
		lim := limit(rawSingle, "single-row commits, "+conns)
		if backend == "SQLite" && rawErr == nil {
			tgt += " and ≥ 60 % of the raw limit"
			lim += fmt.Sprintf(": %.0f %%", one.RPS/rawSingle.RowsPerSec*100)
			v = verdict(one.RPS >= single && one.RPS >= 0.6*rawSingle.RowsPerSec)
		}
		b.add(row{what: "ingest " + backend + ", single events over HTTP (retention on, keep 1,000)", measured: fmt.Sprintf("%s events/s, p99 %s (%s); server-side p99 %s", thousands(one.RPS), ms(one.P99), b.load.name(), ms(oneSrv.P99)), limit: lim, target: tgt, verdict: v})
	}
	many, manySrv, err := b.vitalsLoad(ctx, in, post(in.base, in.ingest, batchOf(100)))
	if err != nil {
		b.fail("ingest "+backend+", batches of 100", err)
	} else {
		b.add(row{what: "ingest " + backend + ", batches of 100 over HTTP", measured: fmt.Sprintf("%s events/s, p99 %s (%s); server-side p99 %s", thousands(many.RPS*100), ms(many.P99), b.load.name(), ms(manySrv.P99)),
			limit: limit(rawBatch, "transactions of 100 rows, "+conns), target: fmt.Sprintf("≥ %s/s", thousands(batched)), verdict: verdict(many.RPS*100 >= batched)})
	}
	if err != nil || one.RPS == 0 {
		return
	}
	// Retention's cost: the same single-event load on an instance that
	// never prunes (keep 10,000,000).
	name := strings.ToLower(backend) + "-keepall"
	keepEnv := append(slices.Clone(env), "VITALS_EVENTS_KEEP=10000000")
	if backend == "SQLite" {
		keepEnv = []string{"VITALS_DATA_DIR=" + filepath.Join(b.tmp, "data-keepall"), "VITALS_EVENTS_KEEP=10000000"}
	} else {
		keepEnv = append(keepEnv, "VITALS_PG_SCHEMA="+fmt.Sprintf("bench_keep_%d_%d", os.Getpid(), time.Now().Unix()))
	}
	in.suspend()
	defer in.resume()
	keep, err := b.startInstance(name, keepEnv, nil)
	if err != nil {
		b.fail("retention's cost ("+backend+")", err)
		return
	}
	defer keep.stop()
	if backend != "SQLite" {
		defer dropSchema(b.pgURL, envValue(keepEnv, "VITALS_PG_SCHEMA"))
	}
	// In turns, each instance alone on the cores while the other is
	// stopped, so that a change of the machine's load between two long
	// runs does not pass for retention's cost.
	keep.suspend()
	var pruning, never float64
	turn := max(b.dur/2, time.Second)
	for range 3 {
		in.resume()
		r, err := b.load.run(ctx, post(in.base, in.ingest, []byte(oneEvent)), turn)
		in.suspend()
		if err != nil {
			b.fail("retention's cost ("+backend+")", err)
			return
		}
		keep.resume()
		k, err := b.load.run(ctx, post(keep.base, keep.ingest, []byte(oneEvent)), turn)
		keep.suspend()
		if err != nil {
			b.fail("retention's cost ("+backend+")", err)
			return
		}
		pruning, never = pruning+r.RPS, never+k.RPS
	}
	keep.resume()
	cost := max(0, 1-pruning/never)
	b.add(row{what: "retention's cost, " + backend + " (single events, pruning to 1,000 against never pruning, 3 turns each)",
		measured: fmt.Sprintf("%.1f %% of ingest throughput (%s events/s pruning, %s not)", cost*100, thousands(pruning/3), thousands(never/3)),
		target:   "< 10 %", verdict: verdict(cost < 0.10)})
}

// suspend and resume pause an instance while another one is measured, so
// that its ticks do not share the cores.
func (in *instance) suspend() { _ = in.cmd.Process.Signal(syscall.SIGSTOP) }
func (in *instance) resume()  { _ = in.cmd.Process.Signal(syscall.SIGCONT) }

func envValue(env []string, key string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v
		}
	}
	return ""
}

func dropSchema(url, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
}

// postgresRows are the ingest rows on PostgreSQL, when a URL is given.
func (b *bench) postgresRows(ctx context.Context) {
	if b.pgURL == "" {
		for _, what := range []string{"ingest PostgreSQL, single events over HTTP", "ingest PostgreSQL, batches of 100 over HTTP"} {
			b.add(row{what: what, measured: "skipped: no PostgreSQL URL (-pg or VITALS_BENCH_DATABASE_URL)", verdict: skipped})
		}
		return
	}
	schema := fmt.Sprintf("bench_%d_%d", os.Getpid(), time.Now().Unix())
	defer dropSchema(b.pgURL, schema)
	env := []string{"VITALS_DATABASE_URL=" + b.pgURL, "VITALS_PG_SCHEMA=" + schema, "VITALS_DATA_DIR=" + filepath.Join(b.tmp, "data-pg")}
	in, err := b.startInstance("postgres", env, nil)
	if err != nil {
		b.fail("vitals on PostgreSQL", err)
		return
	}
	defer in.stop()
	// A token made before the start must be accepted from the first
	// answer of /health on.
	if status, _, err := get(in.base+"/api/v1/system/metrics", bearer(in.read)); err != nil || status != http.StatusOK {
		b.notes = append(b.notes, fmt.Sprintf("PostgreSQL: the read token's first request after /health passed answered %d (%v).", status, err))
	}
	b.ingestRows(ctx, in, "PostgreSQL", env, 5_000, 40_000)
}

const pyBench = `import json, sys, time
sys.path.insert(0, sys.argv[1])
import vitals
url, token, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
c = vitals.Client(url, token)
out = []
for i in range(n):
    t = time.perf_counter_ns()
    c.log_activity("bench.event", "A benchmark event", user_email="anna@example.com", details={"i": i})
    out.append(time.perf_counter_ns() - t)
c.close(0.5)
out.sort()
print(json.dumps({"p50": out[len(out) // 2] / 1000, "p99": out[min(len(out) - 1, len(out) * 99 // 100)] / 1000}))
`

// pythonRows time the Python client's log_activity with vitals up, then
// with vitals hung (SIGSTOP).
func (b *bench) pythonRows(ctx context.Context, in *instance) {
	if b.python == "" {
		b.add(row{what: "Python client `log_activity`", measured: "skipped: no /usr/bin/python3", verdict: skipped})
		return
	}
	script := filepath.Join(b.tmp, "pybench.py")
	_ = os.WriteFile(script, []byte(pyBench), 0o600)
	n := "5000"
	if b.smoke {
		n = "500"
	}
	for _, state := range []string{"up", "hung (SIGSTOP)"} {
		if state != "up" {
			in.suspend()
		}
		out, err := exec.CommandContext(ctx, b.python, script, filepath.Join(b.root, "clients", "python"), in.base, in.ingest, n).Output()
		if state != "up" {
			in.resume()
		}
		var r struct{ P50, P99 float64 }
		if err == nil {
			err = json.Unmarshal(out, &r)
		}
		if err != nil {
			b.fail("Python client `log_activity`, vitals "+state, err)
			continue
		}
		b.add(row{what: "Python client `log_activity`, vitals " + state + ", " + n + " calls",
			measured: fmt.Sprintf("p50 %.1f µs, p99 %.1f µs", r.P50, r.P99), target: "p99 < 50 µs", verdict: verdict(r.P99 < 50)})
	}
}

// coldStart: exec to the first 200 of /health on a fresh data directory
// (the file is created and migrated), one vitals start and one
// node_exporter start in turn, medians of b.starts each.
func (b *bench) coldStart(ctx context.Context, _ float64) {
	var vit, node []time.Duration
	for i := range b.starts {
		if ctx.Err() != nil {
			return
		}
		port, _ := freePort()
		dir := filepath.Join(b.tmp, fmt.Sprintf("cold-%d", i))
		t0 := time.Now()
		p, err := start(b.bin, []string{"serve"}, []string{"PORT=" + strconv.Itoa(port), "VITALS_DATA_DIR=" + dir,
			"VITALS_ADMIN_PASSWORD=" + rand.Text(), "VITALS_LOG_FORMAT=json"}, filepath.Join(b.tmp, "cold.log"), port)
		if err == nil {
			var d time.Duration
			d, err = waitOK(p, p.base+"/health", t0, 30*time.Second)
			p.stop()
			vit = append(vit, d)
		}
		if err != nil {
			b.fail("cold start", err)
			return
		}
		_ = os.RemoveAll(dir)
		if b.nodeExp == "" {
			continue
		}
		port, _ = freePort()
		t0 = time.Now()
		p, err = start(b.nodeExp, []string{"--web.listen-address=127.0.0.1:" + strconv.Itoa(port)}, nil, filepath.Join(b.tmp, "node_exporter.log"), port)
		if err == nil {
			var d time.Duration
			d, err = waitOK(p, p.base+"/metrics", t0, 30*time.Second)
			p.stop()
			node = append(node, d)
		}
		if err != nil {
			b.fail("node_exporter cold start", err)
			return
		}
	}
	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	r := row{what: fmt.Sprintf("cold start: exec to the first 200 of `/health`, fresh data directory, median of %d", len(vit)),
		measured: fmt.Sprintf("%.1f ms (fastest %.1f)", float64(med(vit).Microseconds())/1e3, float64(slices.Min(vit).Microseconds())/1e3),
		target:   "≤ node_exporter's median + 10 %"}
	if len(node) == 0 {
		r.verdict = skipped + " (no node_exporter)"
	} else {
		r.limit = fmt.Sprintf("node_exporter to its first 200 of `/metrics`, one start of each in turn: %.1f ms (fastest %.1f)",
			float64(med(node).Microseconds())/1e3, float64(slices.Min(node).Microseconds())/1e3)
		r.verdict = verdict(med(vit) <= med(node)*11/10)
	}
	b.add(r)
}

// server is vitals' own view of a load: the delta of its
// vitals_api_request_duration_seconds histogram (every status) across the
// load, from handler entry to the answer written, so without the load
// generator's time and the loopback.
type server struct {
	P50, P99 float64 // µs, interpolated within the buckets
	Under5ms float64 // share of requests answered within 5 ms
}

var bucketLine = regexp.MustCompile(`(?m)^vitals_api_request_duration_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} ([0-9.e+]+)$`)

// histogram is the cumulative count per upper bound, summed over statuses.
func histogram(in *instance) (map[float64]float64, error) {
	status, body, err := get(in.base+"/metrics", bearer(in.read))
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d", status)
	}
	h := map[float64]float64{}
	for _, m := range bucketLine.FindAllStringSubmatch(string(body), -1) {
		le, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			le = math.Inf(1)
		}
		n, _ := strconv.ParseFloat(m[2], 64)
		h[le] += n
	}
	return h, nil
}

func serverSide(before, after map[float64]float64) server {
	var les []float64
	for le := range after {
		les = append(les, le)
	}
	slices.Sort(les)
	total := after[math.Inf(1)] - before[math.Inf(1)]
	var s server
	if total <= 0 {
		return s
	}
	q := func(p float64) float64 {
		lo := 0.0
		prev := 0.0
		for _, le := range les {
			c := after[le] - before[le]
			if c >= p*total {
				if math.IsInf(le, 1) {
					return math.Inf(1)
				}
				frac := 1.0
				if c > prev {
					frac = (p*total - prev) / (c - prev)
				}
				return (lo + (le-lo)*frac) * 1e6
			}
			lo, prev = le, c
		}
		return math.Inf(1)
	}
	s.P50, s.P99 = q(0.5), q(0.99)
	s.Under5ms = (after[0.005] - before[0.005]) / total
	return s
}

func (s server) String() string {
	return fmt.Sprintf("server-side p50 %s, p99 %s (%.1f %% within 5 ms)", ms(s.P50), ms(s.P99), s.Under5ms*100)
}

// vitalsLoad is loadRow on vitals with its own histogram read around it.
func (b *bench) vitalsLoad(ctx context.Context, in *instance, t target) (loadResult, server, error) {
	before, err := histogram(in)
	if err != nil {
		return loadResult{}, server{}, err
	}
	r, err := b.loadRow(ctx, t)
	if err != nil {
		return r, server{}, err
	}
	after, err := histogram(in)
	if err != nil {
		return r, server{}, err
	}
	return r, serverSide(before, after), nil
}

var goGauge = regexp.MustCompile(`(?m)^(go_memstats_heap_inuse_bytes|go_memstats_heap_idle_bytes|go_memstats_heap_released_bytes|go_memstats_stack_inuse_bytes) ([0-9.e+]+)$`)

// goMemory is what the Go runtime says of its share of the anonymous
// memory (vitals' /metrics), so that the rest is visible as the SQLite
// driver's own allocations and the binary's pages.
func goMemory(in *instance) string {
	status, body, err := get(in.base+"/metrics", bearer(in.read))
	if err != nil || status != http.StatusOK {
		return ""
	}
	v := map[string]float64{}
	for _, m := range goGauge.FindAllStringSubmatch(string(body), -1) {
		v[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	mib := func(x float64) float64 { return x / (1 << 20) }
	return fmt.Sprintf("; Go heap in use %.1f MiB, heap kept but unused %.1f MiB, stacks %.1f MiB",
		mib(v["go_memstats_heap_inuse_bytes"]), mib(v["go_memstats_heap_idle_bytes"]-v["go_memstats_heap_released_bytes"]), mib(v["go_memstats_stack_inuse_bytes"]))
}
