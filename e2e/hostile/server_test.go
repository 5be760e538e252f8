package hostile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/internal/testbin"

	"github.com/vitalsdev/vitals/internal/syncbuf"
)

const (
	readToken   = "hostile-read-token-0123456789abcdef"
	ingestToken = "hostile-ingest-token-0123456789abcdef"
	sessionKey  = "hostile-session-key-0123456789abcdefghijkl"
	// adminPassword is exactly 72 bytes, bcrypt's limit: with the old
	// comparison it and anything after it signed in.
	adminPassword = "hostile-admin-password-of-exactly-seventy-two-bytes-0123456789abcdefghij"
	// The credentials sent with requests the parser refuses; no answer
	// may quote them.
	secretBearer = "SECRET-BEARER-7f3a9c1e5b"
	secretCookie = "SECRET-COOKIE-2d8e6b4a0c"
)

// Bounds every unauthenticated case is held to (docs/architecture.md, "The HTTP edge").
const (
	maxGrowth    = 32 << 20
	maxCPUPerReq = time.Second
)

var binPath string

// TestMain builds the binary once from the tree, as a deployment would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vitals-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath, err = testbin.Build(filepath.Join(dir, "vitals"), testbin.Options{Env: []string{"CGO_ENABLED=0"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// target is one running vitals process.
type target struct {
	addr string
	pid  int
	log  *syncbuf.Buffer
}

var servingLine = regexp.MustCompile(`serving http://localhost:(\d+)`)

// start sets the admin password with `vitals admin set-password` (a bcrypt
// hash in the store), then runs the server with env until the test ends.
func start(t *testing.T, env map[string]string) *target {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the suite reads the server's memory and CPU from /proc")
	}
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "PORT=0",
		"VITALS_READ_TOKEN=" + readToken, "VITALS_INGEST_TOKEN=" + ingestToken,
		"VITALS_SESSION_KEY=" + sessionKey, "VITALS_TRUST_PROXY=true", "VITALS_LOG_FORMAT=json"}
	for k, v := range env {
		base = append(base, k+"="+v)
	}
	set := exec.Command(binPath, "admin", "set-password")
	set.Env = base
	set.Stdin = strings.NewReader(adminPassword + "\n")
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("vitals admin set-password: %v\n%s", err, out)
	}

	cmd := exec.Command(binPath)
	cmd.Env = base
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{log: &syncbuf.Buffer{}}
	cmd.Stderr = tg.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tg.pid = cmd.Process.Pid
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
			t.Logf("vitals log (last 8 KiB):\n%s", tail(tg.log.String(), 8<<10))
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
		tg.addr = "127.0.0.1:" + p
	case <-time.After(60 * time.Second):
		t.Fatalf("vitals did not start:\n%s", tg.log.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + tg.addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vitals is not healthy: %v\n%s", err, tg.log.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	return tg
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// answer is what came back on a raw connection.
type answer struct {
	status int
	header http.Header
	body   []byte
	// closed: the server closed the connection after the answer.
	closed bool
}

// send writes raw bytes on a new connection and reads one answer. With
// checkClosed it then waits for the server to close the connection.
func (tg *target) send(t *testing.T, req []byte, checkClosed bool) answer {
	t.Helper()
	conn, err := net.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	// Write concurrently: the server may answer (and stop reading) before
	// the whole request is sent.
	go func() { _, _ = conn.Write(req) }()
	br := bufio.NewReader(conn)
	// The method tells the reader whether a body follows (not after HEAD).
	method, _, _ := bytes.Cut(req, []byte(" "))
	resp, err := http.ReadResponse(br, &http.Request{Method: string(method)})
	if err != nil {
		t.Fatalf("no HTTP answer: %v", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: body}
	if checkClosed {
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		extra, err := br.ReadByte()
		var netErr net.Error
		switch {
		case err == nil:
			t.Errorf("the server sent more after the answer (%q...): a second request was read from the stream", extra)
		case errors.As(err, &netErr) && netErr.Timeout():
			// Still open.
		default:
			// EOF, or a reset when the server closed with our request
			// still unread.
			a.closed = true
		}
	}
	return a
}

// request builds a raw HTTP/1.1 request. Headers are "Name: value" lines
// sent as they are; Content-Length is added for a body unless the headers
// frame it themselves.
func request(method, path string, headers []string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: vitals.test\r\n", method, path)
	framed := false
	for _, h := range headers {
		l := strings.ToLower(h)
		if strings.HasPrefix(l, "content-length:") || strings.HasPrefix(l, "transfer-encoding:") {
			framed = true
		}
		b.WriteString(h + "\r\n")
	}
	if body != nil && !framed {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// usage is the process's peak memory growth and CPU time over a stretch.
type usage struct {
	growth int64
	cpu    time.Duration
}

// measure resets the kernel's high-water mark of the server's resident
// memory (writing 5 to clear_refs), runs fn, and reports how far the mark
// rose and the CPU the server spent.
func (tg *target) measure(t *testing.T, fn func()) usage {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", tg.pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset the peak memory: %v", err)
	}
	hwm0, cpu0 := tg.status(t, "VmHWM"), tg.cpu(t)
	fn()
	// The answer is read when the handler returns; what it freed late
	// does not matter, what it held at its peak does.
	return usage{growth: tg.status(t, "VmHWM") - hwm0, cpu: tg.cpu(t) - cpu0}
}

// status reads a kB figure of /proc/PID/status, in bytes.
func (tg *target) status(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tg.pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return n << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, tg.pid)
	return 0
}

// cpu is the server's user and system time so far (/proc/PID/stat).
func (tg *target) cpu(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tg.pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces; the fields after it are fixed.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// newest is the id of the newest stored event, 0 when there is none, read
// through the API with the read token.
func (tg *target) newest(t *testing.T) int64 {
	t.Helper()
	evs := tg.events(t, "limit=1")
	if len(evs) == 0 {
		return 0
	}
	return evs[0].ID
}

type storedEvent struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Message   string          `json:"message"`
	Details   json.RawMessage `json:"details"`
	CreatedAt time.Time       `json:"created_at"`
}

// events lists stored events with the read token.
func (tg *target) events(t *testing.T, query string) []storedEvent {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+tg.addr+"/api/v1/events?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Events []storedEvent `json:"events"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&page) != nil {
		t.Fatalf("list events: %s", resp.Status)
	}
	return page.Events
}

// passwordChecks counts the server's "password checked" log lines.
// The line is written before the answer is sent, but reaches the test
// through the child's stderr pipe a little later, so the count is read
// again until it stops changing.
func (tg *target) passwordChecks() int {
	count := func() int { return strings.Count(tg.log.String(), `"msg":"sign-in: password checked"`) }
	n := count()
	for range 25 {
		time.Sleep(200 * time.Millisecond)
		m := count()
		if m == n {
			return n
		}
		n = m
	}
	return n
}
