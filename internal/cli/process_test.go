package cli

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/internal/testbin"

	"github.com/vitalsdev/vitals/internal/syncbuf"
)

// buildVitals builds the real binary into dir the way the Dockerfile does
// (CGO_ENABLED=0, static) and returns its path.
func buildVitals(t testing.TB, dir string) string {
	t.Helper()
	return buildVitalsIn(t, moduleRoot(t), dir)
}

// moduleRoot is the repository's root, where `go build .` makes the
// binary.
func moduleRoot(t testing.TB) string {
	t.Helper()
	root, err := testbin.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// chdirRoot makes the repository's root the test's working directory, for
// the tests of the files there (fly.toml, the Dockerfile, scripts/).
func chdirRoot(t *testing.T) {
	t.Helper()
	t.Chdir(moduleRoot(t))
}

// buildVitalsIn is buildVitals from the source tree at src. It leaves out
// the Dockerfile's -trimpath, which changes every package's build and would
// make a fresh machine compile every dependency once more (TestDockerfile
// took ten minutes on a loaded one); what the tests check of the image's
// binary (static, answers its health check) does not depend on it.
func buildVitalsIn(t testing.TB, src, dir string) string {
	t.Helper()
	bin, err := testbin.Build(filepath.Join(dir, "vitals"), testbin.Options{
		Src:   src,
		Flags: []string{"-ldflags=-X github.com/vitalsdev/vitals/internal/version.Version=test"},
		Env:   []string{"CGO_ENABLED=0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// proc is a vitals process started by a test.
type proc struct {
	cmd    *exec.Cmd
	stdout *syncbuf.Buffer
	stderr *syncbuf.Buffer
	base   string // http://127.0.0.1:port, once serving
	done   chan struct{}
	err    error // Wait's result, after done
}

var bannerURL = regexp.MustCompile(`serving http://localhost:(\d+)`)

// startVitals runs bin serve with exactly env (plus PATH), waits for its
// banner, and kills it when the test ends if it is still running.
func startVitals(t testing.TB, bin string, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir() // a default ./data lands there, not in the tree
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout = io.MultiWriter(p.stdout, pw)
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := bannerURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case port := <-found:
		p.base = "http://127.0.0.1:" + port
	case <-p.done:
		t.Fatalf("vitals exited before serving: %v\nstdout: %s\nstderr: %s", p.err, p.stdout, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("vitals did not start\nstdout: %s\nstderr: %s", p.stdout, p.stderr)
	}
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("vitals did not exit within %s\nstderr: %s", timeout, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// waitHealthy polls /health until it answers 200.
func waitHealthy(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s/health never passed", base)
}

// runVitals runs a one-off command of the binary and returns its exit code
// and output.
func runVitals(t testing.TB, bin string, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir() // a default ./data lands there, not in the tree
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, strings.NewReader(stdin)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// freePort returns a port nothing listens on (at the time of the call).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
