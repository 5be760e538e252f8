package e2e

import (
	"bufio"
	"context"
	"errors"
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
	"syscall"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/internal/testbin"
)

// need skips the test when a tool it needs is missing, and fails it in CI
// (CI=true), where every tool must be there.
func need(t *testing.T, what, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (%s); CI must provide it", what, why)
	}
	t.Skipf("%s is missing (%s); skipping", what, why)
}

// chromiumPath finds Debian's Chromium (or VITALS_CHROMIUM).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("VITALS_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	need(t, "chromium", "apt-get install chromium, or set VITALS_CHROMIUM")
	return ""
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

// pgCluster is a private PostgreSQL server the test owns, so that it can
// stop it; the machine's shared server is never touched.
type pgCluster struct {
	bin, data string
	asPG      bool
	URL       string
}

// startPostgres makes a cluster with initdb in a temporary directory and
// starts it on a free port. PostgreSQL refuses to run as root, so as root
// it runs as the postgres user.
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
	if pg.asPG {
		u, err := user.Lookup("postgres")
		if err != nil {
			need(t, "the postgres user", "PostgreSQL will not run as root")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// The postgres user must reach its directory through the test's
		// private temporary directories.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(pg.data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	pg.run(t, "initdb", "-D", pg.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	port := freePort(t)
	opts := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c max_connections=40", port, pg.data)
	t.Cleanup(func() { pg.stop(t) })
	pg.run(t, "pg_ctl", "-D", pg.data, "-l", filepath.Join(pg.data, "log"), "-w", "-t", "60", "-o", opts, "start")
	pg.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
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

// stop kills the server at once, as a crash or a lost host would.
func (pg *pgCluster) stop(t *testing.T) {
	if _, err := os.Stat(filepath.Join(pg.data, "postmaster.pid")); err != nil {
		return
	}
	if out, err := pg.command("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		t.Logf("pg_ctl stop: %v\n%s", err, out)
	}
}

// startRedis starts a private redis-server on a free port, when there is
// one; otherwise VITALS_TEST_REDIS_URL, or nothing.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return os.Getenv("VITALS_TEST_REDIS_URL")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port)
}

// buildVitals builds the binary from the module root.
func buildVitals(t *testing.T) string {
	t.Helper()
	// The test binaries' own build settings (no CGO_ENABLED=0, no
	// -trimpath), as the client module's tests and the fault suite build
	// it: on a fresh machine the packages compiled for the tests serve
	// this build too, instead of a third compile of every dependency
	// (issue 11; TestDockerfile checks the static build).
	bin, err := testbin.Build(filepath.Join(t.TempDir(), "vitals"), testbin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// server is a running vitals process.
type server struct {
	URL string
	cmd *exec.Cmd
	log *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var servingLine = regexp.MustCompile(`serving http://localhost:(\d+)`)

// startVitals runs the binary with env on a free port until the test ends.
func startVitals(t *testing.T, bin string, env map[string]string) *server {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "PORT=0"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, log: &lockedBuffer{}}
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("vitals log:\n%s", s.log.String())
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p := <-port:
		s.URL = "http://127.0.0.1:" + p
	case <-time.After(60 * time.Second):
		t.Fatalf("vitals did not start:\n%s", s.log.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vitals is not healthy: %v\n%s", err, s.log.String())
		}
		// Not too often: each 503 counts in the API card's error share.
		time.Sleep(300 * time.Millisecond)
	}
}

// postEvent sends one event through the API with the ingest token.
func postEvent(ctx context.Context, base, token, body string) error {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/events", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		return errors.New(resp.Status + ": " + string(b))
	}
	return nil
}
