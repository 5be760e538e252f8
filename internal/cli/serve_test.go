package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/internal/syncbuf"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string {
		if k == "VITALS_DATA_DIR" && m[k] == "" {
			// Never the default ./data, which is this package's source
			// directory here: a test's secrets file landed in the tree.
			return testDataDir
		}
		return m[k]
	}
}

// testDataDir is the data directory of the commands a test runs without
// one of its own.
var testDataDir = func() string {
	dir, err := os.MkdirTemp("", "vitals-cli-test-")
	if err != nil {
		panic(err)
	}
	return dir
}()

// startServe runs the real start-up path on a free port and returns the
// base URL; the server stops when the test ends.
func startServe(t *testing.T, env map[string]string) (string, *syncbuf.Buffer) {
	t.Helper()
	if env["PORT"] == "" {
		env["PORT"] = "0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	out := &syncbuf.Buffer{}
	go func() { done <- serve(ctx, nil, envOf(env), out, io.Discard, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited with %d", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return "http://" + strings.Replace(addr, "[::]", "127.0.0.1", 1), out
}

// The zero-set-up path: SQLite in the data directory, a generated admin
// password printed once, the dashboard behind it.
func TestServeSQLiteFirstRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	base, out := startServe(t, map[string]string{"VITALS_DATA_DIR": dir})

	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/health: %d", resp.StatusCode)
	}

	var password string
	deadline := time.Now().Add(10 * time.Second)
	re := regexp.MustCompile(`admin password is\s+(\S+)`)
	for password == "" && time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			password = m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if password == "" {
		t.Fatalf("no generated password printed: %s", out.String())
	}
	if strings.Count(out.String(), password) != 1 {
		t.Fatal("the password is printed more than once")
	}

	// The form signs in and lands on the dashboard (main_login_test.go).
	get := func(pass string) int { return signIn(t, base, "admin", pass) }
	if code := get(password); code != 200 {
		t.Fatalf("dashboard with the printed password: %d", code)
	}
	if code := get("wrong-password"); code != 401 {
		t.Fatalf("dashboard with a wrong password: %d", code)
	}
}

// A second start on the same data directory keeps the first password and
// prints none.
func TestServeKeepsGeneratedPassword(t *testing.T) {
	dir := t.TempDir()
	_, out1 := startServe(t, map[string]string{"VITALS_DATA_DIR": dir})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out1.String(), "admin password is") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_, out2 := startServe(t, map[string]string{"VITALS_DATA_DIR": dir})
	time.Sleep(300 * time.Millisecond)
	if strings.Contains(out2.String(), "admin password is") {
		t.Fatalf("second start printed a password: %s", out2.String())
	}
}
