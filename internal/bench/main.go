// Command bench is vitals' one benchmark: it builds vitals as the
// Dockerfile does, starts it with the production settings, loads it from a
// separate process beside the limits measured in the same run (a bare
// Fiber handler serving the same bytes, the raw database driver, Debian's
// node_exporter), and prints one Markdown table with each target met,
// missed or skipped. It exits 1 when a target is missed (2 on an error),
// so that it can gate a release; -smoke runs every part once, briefly, and
// fails only on errors.
//
//	go run ./internal/bench [-duration 10s] [-pg URL] [-out FILE] [-smoke]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vitalsdev/vitals/internal/config"
)

func main() { os.Exit(run(os.Args[1:])) }

// verdicts.
const (
	met     = "met"
	missed  = "**missed**"
	skipped = "skipped"
	errored = "**error**"
	info    = ""
)

type row struct{ what, measured, limit, target, verdict string }

type bench struct {
	smoke    bool
	keep     bool
	goLoad   bool
	dur      time.Duration
	idle     time.Duration
	starts   int
	pgURL    string
	root     string
	tmp      string
	bin      string
	self     string
	wrk      string
	nodeExp  string
	python   string
	load     *loader
	rows     []row
	used     []string
	notFound []string
	notes    []string
	errors   int
	missed   int
}

func run(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var (
		b      bench
		out    string
		hidden hiddenFlags
	)
	fs.BoolVar(&b.smoke, "smoke", false, "a short run of every part (about a minute); fails only on errors, never on targets")
	fs.DurationVar(&b.dur, "duration", 10*time.Second, "how long each load runs")
	fs.StringVar(&b.pgURL, "pg", os.Getenv("VITALS_BENCH_DATABASE_URL"), "PostgreSQL URL for the PostgreSQL rows (default $VITALS_BENCH_DATABASE_URL; unset, they are skipped)")
	fs.StringVar(&out, "out", "", "also write the table to this file")
	fs.BoolVar(&b.keep, "keep", false, "keep the temporary directory (binaries, data directories, logs) and print its path")
	fs.BoolVar(&b.goLoad, "go-load", false, "use the Go load generator even when wrk is present")
	hidden.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case hidden.loadgen != "":
		return loadgenMain(hidden.loadgen, hidden.loadgenConns, b.dur)
	case hidden.bare != "":
		return bareMain(hidden.bare, hidden.bareJSON, hidden.bareProm)
	}
	b.idle, b.starts = 60*time.Second, 20
	if b.smoke {
		b.dur, b.idle, b.starts = time.Second, 3*time.Second, 2
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	began := time.Now()
	cleanup, err := b.setup(ctx)
	defer cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	b.all(ctx)

	var sb strings.Builder
	fmt.Fprintf(&sb, "vitals benchmark, %s, `go run ./internal/bench %s` (%d cores, load average %s, %s)\n\n",
		began.UTC().Format("2006-01-02 15:04 UTC"), shownArgs(args, b.pgURL), numCPU(), loadAvg(), time.Since(began).Round(time.Second))
	sb.WriteString("| what | measured | limit / reference, same run | target | verdict |\n|---|---|---|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", r.what, r.measured, r.limit, r.target, r.verdict)
	}
	sb.WriteString("\n")
	fmt.Fprintf(&sb, "Tools used: %s.\n", strings.Join(b.used, "; "))
	if len(b.notFound) > 0 {
		fmt.Fprintf(&sb, "Not found: %s.\n", strings.Join(b.notFound, "; "))
	} else {
		sb.WriteString("Not found: none.\n")
	}
	for _, n := range b.notes {
		sb.WriteString(n + "\n")
	}
	fmt.Print(sb.String())
	if out != "" {
		if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 2
		}
	}
	switch {
	case b.errors > 0:
		fmt.Fprintf(os.Stderr, "bench: %d part(s) failed with an error\n", b.errors)
		return 2
	case b.missed > 0 && !b.smoke:
		fmt.Fprintf(os.Stderr, "bench: %d target(s) missed\n", b.missed)
		return 1
	}
	return 0
}

// setup finds the tools, makes the temporary directory and builds vitals.
func (b *bench) setup(ctx context.Context) (func(), error) {
	nothing := func() {}
	var err error
	if b.root, err = moduleRoot(); err != nil {
		return nothing, err
	}
	if b.tmp, err = os.MkdirTemp("", "vitals-bench-"); err != nil {
		return nothing, err
	}
	cleanup := func() {
		if b.keep {
			fmt.Fprintln(os.Stderr, "bench: kept", b.tmp)
			return
		}
		_ = os.RemoveAll(b.tmp)
	}
	if b.self, err = os.Executable(); err != nil {
		return cleanup, err
	}
	b.bin = filepath.Join(b.tmp, "vitals")
	t0 := time.Now()
	if err := buildVitals(ctx, b.root, b.bin); err != nil {
		return cleanup, err
	}
	st, _ := os.Stat(b.bin)
	b.used = append(b.used, fmt.Sprintf("vitals built as the Dockerfile does (CGO_ENABLED=0 go build -trimpath -ldflags=\"-s -w -X ...Version=bench\", %.1f MiB, %s)",
		float64(st.Size())/(1<<20), time.Since(t0).Round(100*time.Millisecond)))
	b.wrk = findTool("wrk", "/usr/bin/wrk")
	if b.goLoad {
		b.wrk = ""
	}
	b.nodeExp = findTool("prometheus-node-exporter", "/usr/bin/prometheus-node-exporter")
	b.python = findTool("", "/usr/bin/python3")
	b.load = &loader{wrk: b.wrk, self: b.self, dir: b.tmp, threads: 2, conns: 10}
	b.used = append(b.used, "load: "+b.load.tool()+", -t2 -c10, "+b.dur.String()+" a row, p50/p99 from its latency distribution (client-side on loopback, so they include the load generator's share of the 2 cores; an upper bound of the server-side time)")
	if b.wrk == "" && !b.goLoad {
		b.notFound = append(b.notFound, "wrk (the Go load generator took its place)")
	}
	if b.nodeExp != "" {
		b.used = append(b.used, "node_exporter ("+b.nodeExp+", "+toolVersion(b.nodeExp, "--version")+")")
	} else {
		b.notFound = append(b.notFound, "prometheus-node-exporter (its rows are skipped)")
	}
	if b.python != "" {
		b.used = append(b.used, "Python client clients/python/vitals.py under "+b.python)
	} else {
		b.notFound = append(b.notFound, "/usr/bin/python3 (the Python client's rows are skipped)")
	}
	if b.pgURL == "" {
		b.notFound = append(b.notFound, "a PostgreSQL URL (-pg or VITALS_BENCH_DATABASE_URL; the PostgreSQL rows are skipped)")
	}
	return cleanup, nil
}

// shownArgs is the command line for the table, a PostgreSQL URL's
// password redacted.
func shownArgs(args []string, pgURL string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if pgURL != "" {
			a = strings.ReplaceAll(a, pgURL, config.RedactURL(pgURL))
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func findTool(name, preferred string) string {
	if st, err := os.Stat(preferred); err == nil && !st.IsDir() {
		return preferred
	}
	if name != "" {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func toolVersion(bin, flag string) string {
	out, _ := exec.Command(bin, flag).CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if i := strings.Index(line, "version "); i >= 0 {
		v, _, _ := strings.Cut(line[i+len("version "):], " ")
		return "version " + v
	}
	return strings.TrimSpace(line)
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return max(1, strings.Count(string(b), "processor\t:"))
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func (b *bench) add(r row) {
	switch r.verdict {
	case missed:
		b.missed++
	case errored:
		b.errors++
	}
	b.rows = append(b.rows, r)
}

func (b *bench) fail(what string, err error) {
	b.add(row{what: what, measured: "error: " + strings.ReplaceAll(err.Error(), "|", "/"), verdict: errored})
}

func verdict(ok bool) string {
	if ok {
		return met
	}
	return missed
}
