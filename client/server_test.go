package client_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The client is tested against the real vitals server: the binary built
// from the repository this module sits in, run as a process the test
// owns, so that it can be killed and started again.

const (
	ingestToken = "client-test-ingest-token-0123456789"
	readToken   = "client-test-read-token-0123456789"
)

// binary builds vitals once per test run.
var binary struct {
	once sync.Once
	path string
	err  error
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

func vitalsBinary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			binary.err = err
			return
		}
		if mod, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.HasPrefix(mod, []byte("module github.com/vitalsdev/vitals\n")) {
			binary.err = fmt.Errorf("%s is not the vitals repository", root)
			return
		}
		binary.dir, binary.err = os.MkdirTemp("", "vitals-client-test-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "vitals")
		cmd := exec.Command("go", "build", "-o", binary.path, ".")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build vitals: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// server is one vitals process on SQLite. kill and start again keep its
// data directory and port, as a crashed and restarted server would.
type server struct {
	t       testing.TB
	bin     string
	dataDir string
	port    int
	URL     string

	mu     sync.Mutex
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

var servingLine = regexp.MustCompile(`serving http://localhost:(\d+)`)

func startServer(t testing.TB) *server {
	t.Helper()
	s := &server{t: t, bin: vitalsBinary(t), dataDir: t.TempDir()}
	s.start()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			s.mu.Lock()
			t.Logf("vitals' log:\n%s", s.stderr)
			s.mu.Unlock()
		}
	})
	return s
}

// start runs the process and waits until /health passes.
func (s *server) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.dataDir,
		"PORT=" + strconv.Itoa(s.port),
		"VITALS_DATA_DIR=" + s.dataDir,
		"VITALS_ADMIN_PASSWORD=client-test-admin-password",
		"VITALS_INGEST_TOKEN=" + ingestToken,
		"VITALS_READ_TOKEN=" + readToken,
		"VITALS_LOG_FORMAT=json",
		"VITALS_EVENTS_KEEP=100000",
		// Probes every second, so that the app group shows posted timings
		// soon (timings_test.go).
		"VITALS_SAMPLE_INTERVAL=1s",
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	if s.stderr == nil {
		s.stderr = &bytes.Buffer{}
	}
	cmd.Stderr = lockedWriter{&s.mu, s.stderr}
	s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start vitals: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()

	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil && !sent {
				p, _ := strconv.Atoi(m[1])
				port <- p
				sent = true
			}
		}
		if !sent {
			close(port)
		}
	}()
	select {
	case p, ok := <-port:
		if !ok {
			s.t.Fatal("vitals exited before serving")
		}
		s.port = p
	case <-time.After(2 * time.Minute):
		s.t.Fatal("vitals did not start within 2 minutes")
	}
	s.URL = "http://127.0.0.1:" + strconv.Itoa(s.port)
	for i := 0; ; i++ {
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if i == 600 {
			s.t.Fatalf("vitals /health did not pass: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops the process with SIGKILL: no shutdown, no flush.
func (s *server) kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// storedEvent is an event as GET /api/v1/events returns it.
type storedEvent struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Message   string          `json:"message"`
	UserEmail *string         `json:"user_email"`
	Details   json.RawMessage `json:"details"`
	CreatedAt time.Time       `json:"created_at"`
}

// events lists every stored event, following next_cursor.
func (s *server) events(t testing.TB) []storedEvent {
	t.Helper()
	var all []storedEvent
	cursor := ""
	for page := 0; page < 10_000; page++ {
		q := url.Values{"limit": {"200"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		req, _ := http.NewRequest("GET", s.URL+"/api/v1/events?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+readToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("list events: %s %s", resp.Status, body)
		}
		var doc struct {
			Events     []storedEvent `json:"events"`
			NextCursor string        `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		all = append(all, doc.Events...)
		if doc.NextCursor == "" {
			return all
		}
		cursor = doc.NextCursor
	}
	t.Fatal("list events: no end to the pages")
	return nil
}

// countMessages counts stored events by message.
func countMessages(evs []storedEvent) map[string]int {
	n := map[string]int{}
	for _, e := range evs {
		n[e.Message]++
	}
	return n
}

// hangingListener is a listener for fault tests: it accepts connections and
// never answers (a server that hangs).
func hangingListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}
