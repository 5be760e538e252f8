package faults

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/internal/testbin"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/vitalsdev/vitals/internal/syncbuf"
)

const ingestToken = "ingest-token-for-the-fault-suite"

// binary is the vitals binary built once from the tree for every case.
var binary string

func TestMain(m *testing.M) {
	// The cases mostly wait (for outages, boundaries, retries), so they
	// run side by side beyond go test's default of one per core; the
	// outage cases still take turns (serial). -parallel, when given, wins.
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", "16")
	}
	dir, err := os.MkdirTemp("", "vitals-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Built as the README says and as the client module's tests build it,
	// so that the build cache serves both.
	binary, err = testbin.Build(filepath.Join(dir, "vitals"), testbin.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serialMu keeps the outage cases one at a time: each loads the two cores
// with its writers and times its outages, and they have run one after the
// other since they were written.
var serialMu sync.Mutex

// serial runs t beside the cases that mostly wait (the fleet's takeover
// at a 5-minute boundary, the alerts' receivers and restarts), yet one
// outage case at a time. Run one after the other, all of them took the
// package past go test's 10-minute limit.
func serial(t *testing.T) {
	t.Parallel()
	serialMu.Lock()
	t.Cleanup(serialMu.Unlock)
}

// need skips when a tool is missing, and fails under CI=true, where every
// tool must be there.
func need(t *testing.T, what, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %s; CI must provide it", what, why)
	}
	t.Skipf("%s: %s; skipping", what, why)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// --- PostgreSQL ----------------------------------------------------------

// pgCluster is a private PostgreSQL server made with initdb, so that the
// test may stop it; the machine's shared server is never touched.
type pgCluster struct {
	bin, data, opts string
	asPG            bool
	port            int
}

// template is the cluster initdb made, which startPostgres copies.
var template struct {
	once sync.Once
	dir  string
	err  error
}

func startPostgres(t *testing.T) *pgCluster {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		need(t, "initdb", "apt-get install postgresql")
	}
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi < vj
	})
	pg := &pgCluster{bin: filepath.Dir(matches[len(matches)-1]), asPG: os.Geteuid() == 0}
	dir := t.TempDir()
	pg.data = filepath.Join(dir, "pgdata")
	if err := os.Mkdir(pg.data, 0o700); err != nil {
		t.Fatal(err)
	}
	var uid, gid int
	if pg.asPG {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			need(t, "the postgres user", "PostgreSQL will not run as root")
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(pg.data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	// initdb once per run (it takes seconds on a busy machine); each
	// cluster is a copy of that one, owner and modes kept.
	template.once.Do(func() {
		template.dir = filepath.Join(filepath.Dir(binary), "pgtemplate")
		if template.err = os.Chmod(filepath.Dir(binary), 0o711); template.err != nil {
			return
		}
		if template.err = os.Mkdir(template.dir, 0o700); template.err != nil {
			return
		}
		if pg.asPG {
			if template.err = os.Chown(template.dir, uid, gid); template.err != nil {
				return
			}
		}
		out, err := pg.command("initdb", "-D", template.dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput()
		if err != nil {
			template.err = fmt.Errorf("initdb: %v\n%s", err, out)
		}
	})
	if template.err != nil {
		t.Fatal(template.err)
	}
	if err := os.Remove(pg.data); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", template.dir, pg.data).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s: %v\n%s", template.dir, err, out)
	}
	pg.port = freePort(t)
	// fsync stays on: an acknowledged commit must be durable for real.
	pg.opts = fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c max_connections=60", pg.port, pg.data)
	t.Cleanup(pg.stop)
	pg.start(t)
	return pg
}

func (pg *pgCluster) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(pg.bin, name)
	if pg.asPG {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func (pg *pgCluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := pg.command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// start starts the server and returns once it accepts connections.
func (pg *pgCluster) start(t *testing.T) {
	t.Helper()
	pg.run(t, "pg_ctl", "-D", pg.data, "-l", filepath.Join(pg.data, "log"), "-w", "-t", "60", "-o", pg.opts, "start")
}

// stop kills the server at once, as a crash or a lost host would.
func (pg *pgCluster) stop() {
	if _, err := os.Stat(filepath.Join(pg.data, "postmaster.pid")); err != nil {
		return
	}
	_ = pg.command("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop").Run()
}

// url is the server's address, direct or through a proxy's port.
func (pg *pgCluster) url(port int) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// --- a TCP proxy that can hang ------------------------------------------

// proxy forwards 127.0.0.1:port to target until hung: then it accepts and
// holds connections and moves no byte either way, as a blackholed network
// or a hung server would, until resumed.
type proxy struct {
	port   int
	ln     net.Listener
	mu     sync.Mutex
	cond   *sync.Cond
	hung   bool
	closed bool
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{port: ln.Addr().(*net.TCPAddr).Port, ln: ln}
	p.cond = sync.NewCond(&p.mu)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.cond.Broadcast()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			wg.Go(func() { p.pump(up, c) })
			wg.Go(func() { p.pump(c, up) })
		}
	})
	return p
}

func (p *proxy) pump(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.hung && !p.closed {
				p.cond.Wait()
			}
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) setHung(h bool) {
	p.mu.Lock()
	p.hung = h
	p.cond.Broadcast()
	p.mu.Unlock()
}

// --- Redis ----------------------------------------------------------------

// redisServer is a private redis-server on a free port.
type redisServer struct {
	cmd *exec.Cmd
	URL string
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		need(t, "redis-server", "apt-get install redis-server")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for range 200 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	return &redisServer{cmd: cmd, URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port)}
}

// --- vitals ---------------------------------------------------------------

// vitals is one process of the real binary.
type vitals struct {
	cmd  *exec.Cmd
	log  *syncbuf.Buffer
	base string
	done chan struct{}
	err  error
}

var servingLine = regexp.MustCompile(`serving http://localhost:(\d+)`)

// baseEnv is what every case's vitals gets, before its own settings.
func baseEnv(t *testing.T) map[string]string {
	return map[string]string{
		"PORT":                   "0",
		"HOME":                   t.TempDir(),
		"VITALS_DATA_DIR":        t.TempDir(),
		"VITALS_INGEST_TOKEN":    ingestToken,
		"VITALS_ADMIN_PASSWORD":  "admin-password-for-the-fault-suite",
		"VITALS_INGEST_RATE":     "0",
		"VITALS_EVENTS_KEEP":     "10000000",
		"VITALS_LOG_FORMAT":      "json",
		"VITALS_SAMPLE_INTERVAL": "1s",
	}
}

// startVitals runs `vitals serve` with env and returns once it serves
// HTTP (not necessarily healthy). It is killed when the test ends.
func startVitals(t *testing.T, env map[string]string) *vitals {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	v := &vitals{cmd: cmd, log: &syncbuf.Buffer{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout = io.MultiWriter(v.log, pw)
	cmd.Stderr = v.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		v.err = cmd.Wait()
		pw.Close()
		close(v.done)
	}()
	t.Cleanup(func() {
		select {
		case <-v.done:
		default:
			_ = cmd.Process.Kill()
			<-v.done
		}
		if t.Failed() {
			t.Logf("vitals log (tail):\n%s", tail(v.log.String(), 400000))
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case p := <-port:
		v.base = "http://127.0.0.1:" + p
	case <-v.done:
		t.Fatalf("vitals exited before serving: %v\n%s", v.err, v.log)
	case <-time.After(60 * time.Second):
		t.Fatalf("vitals did not start:\n%s", v.log)
	}
	return v
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// exited waits up to timeout for the process to end and returns how long
// that took and its exit code (-1 for a signal).
func (v *vitals) exited(t *testing.T, since time.Time, timeout time.Duration) (time.Duration, int) {
	t.Helper()
	select {
	case <-v.done:
	case <-time.After(timeout):
		t.Fatalf("vitals did not exit within %s", timeout)
	}
	took := time.Since(since)
	var ee *exec.ExitError
	if errors.As(v.err, &ee) {
		return took, ee.ExitCode()
	}
	return took, 0
}

// health is one GET /health: its status code (0 when nothing answered)
// and body.
func health(base string) (int, string) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(base + "/health")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitHealth polls /health until it answers want and returns how long it
// took; it fails the test after limit.
func waitHealth(t *testing.T, base string, want int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var code int
	var body string
	for time.Since(start) < limit {
		if code, body = health(base); code == want {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("/health did not answer %d within %s; last %d %s", want, limit, code, body)
	return 0
}

// --- the writers ------------------------------------------------------------

// writers post single events, each with a unique message and idempotency
// key, and retry an event that was not answered 2xx with the same key until
// it is (or they are stopped), as a careful client does. They record every
// event answered 2xx.
type writers struct {
	base     atomic.Pointer[string]
	stopping chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	acked    map[string]int64     // message -> id answered
	created  map[string]time.Time // message -> created_at answered
	statuses map[int]int          // non-2xx answers by status (0: no answer)
	lastErr  string
	posts    atomic.Int64
	pad      string      // sent in details, to fill a volume sooner
	paused   atomic.Bool // while set, no new post starts
}

func startWriters(n int, base, prefix string) *writers {
	return startPaddedWriters(n, base, prefix, 0)
}

// startPaddedWriters is startWriters with pad bytes of details per event.
func startPaddedWriters(n int, base, prefix string, pad int) *writers {
	w := &writers{stopping: make(chan struct{}), acked: map[string]int64{}, created: map[string]time.Time{}, statuses: map[int]int{}, pad: strings.Repeat("x", pad)}
	w.setBase(base)
	for i := range n {
		w.wg.Go(func() { w.write(fmt.Sprintf("%s-w%d", prefix, i)) })
	}
	return w
}

func (w *writers) setBase(b string) { w.base.Store(&b) }

func (w *writers) write(name string) {
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; ; i++ {
		msg := fmt.Sprintf("%s-e%d", name, i)
		ev := map[string]any{"type": "fault.test", "message": msg, "idempotency_key": msg}
		if w.pad != "" {
			ev["details"] = map[string]string{"pad": w.pad}
		}
		body, _ := json.Marshal(ev)
		for {
			select {
			case <-w.stopping:
				return
			default:
			}
			if w.paused.Load() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			req, _ := http.NewRequest("POST", *w.base.Load()+"/api/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+ingestToken)
			req.Header.Set("Content-Type", "application/json")
			w.posts.Add(1)
			resp, err := client.Do(req)
			status := 0
			var out []byte
			if err == nil {
				out, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			if status/100 == 2 {
				var e struct {
					ID        int64     `json:"id"`
					Message   string    `json:"message"`
					CreatedAt time.Time `json:"created_at"`
				}
				w.mu.Lock()
				if json.Unmarshal(out, &e) != nil || e.Message != msg {
					w.statuses[-status]++ // a 2xx that does not describe the event
					w.lastErr = string(out)
				} else {
					w.acked[msg] = e.ID
					w.created[msg] = e.CreatedAt
				}
				w.mu.Unlock()
				break
			}
			w.mu.Lock()
			w.statuses[status]++
			if err != nil {
				w.lastErr = err.Error()
			} else {
				w.lastErr = fmt.Sprintf("%d %s", status, out)
			}
			w.mu.Unlock()
			select {
			case <-w.stopping:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func (w *writers) stop() {
	close(w.stopping)
	w.wg.Wait()
}

func (w *writers) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitAcked waits until n more events than now have been acknowledged.
func (w *writers) waitAcked(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	target := w.count() + n
	deadline := time.Now().Add(limit)
	for w.count() < target {
		if time.Now().After(deadline) {
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("only %d of %d events acknowledged within %s; failures %v, last %s", len(w.acked), target, limit, w.statuses, w.lastErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stored is what the store holds, read with its own driver, not vitals':
// the number of rows per message.
type stored map[string]int

func storedSQLite(t *testing.T, dir string) stored {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "vitals.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT message, count(*) FROM activity_events WHERE type = 'fault.test' GROUP BY message`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	s := stored{}
	for rows.Next() {
		var m string
		var n int
		if err := rows.Scan(&m, &n); err != nil {
			t.Fatal(err)
		}
		s[m] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

func storedPostgres(t *testing.T, url string) stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT message, count(*) FROM vitals.activity_events WHERE type = 'fault.test' GROUP BY message`)
	if err != nil {
		t.Fatal(err)
	}
	s := stored{}
	for rows.Next() {
		var m string
		var n int
		if err := rows.Scan(&m, &n); err != nil {
			t.Fatal(err)
		}
		s[m] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// verify asserts that every acknowledged event is stored exactly once and
// that no event is stored twice, and logs the figures.
func verify(t *testing.T, w *writers, s stored) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	lost, dup, total := 0, 0, 0
	var examples []string
	for msg := range w.acked {
		if s[msg] == 0 {
			lost++
			if len(examples) < 5 {
				examples = append(examples, msg)
			}
		}
	}
	for _, n := range s {
		total += n
		if n > 1 {
			dup += n - 1
		}
	}
	unacked := 0
	for msg := range s {
		if _, ok := w.acked[msg]; !ok {
			unacked++
		}
	}
	var fails []string
	for code, n := range w.statuses {
		fails = append(fails, fmt.Sprintf("%d×%d", n, code))
	}
	sort.Strings(fails)
	t.Logf("acknowledged %d, stored %d (%d of them never acknowledged), lost %d, duplicated %d; %d posts, failed answers [%s] (0: no answer)",
		len(w.acked), total, unacked, lost, dup, w.posts.Load(), strings.Join(fails, " "))
	if lost > 0 {
		t.Errorf("%d acknowledged events are not stored, e.g. %v", lost, examples)
	}
	if dup > 0 {
		t.Errorf("%d events are stored more than once", dup)
	}
	if len(w.acked) == 0 {
		t.Error("no event was acknowledged")
	}
}
