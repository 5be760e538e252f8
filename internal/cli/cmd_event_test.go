package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

const (
	eventTestIngest = "event-test-ingest-token-0123456789"
	eventTestRead   = "event-test-read-token-0123456789"
)

// runEvent runs `vitals event` with args and env, as the binary would.
func runEvent(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runIO(append([]string{"event"}, args...), envOf(env), strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

type listedEvent struct {
	Type      string          `json:"type"`
	Message   string          `json:"message"`
	UserEmail *string         `json:"user_email"`
	Details   json.RawMessage `json:"details"`
}

func listedEvents(t *testing.T, base string) []listedEvent {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/events?limit=200", nil)
	req.Header.Set("Authorization", "Bearer "+eventTestRead)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct{ Events []listedEvent }
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("list: %s", body)
	}
	return doc.Events
}

func TestEventCommand(t *testing.T) {
	base, _ := startServe(t, map[string]string{
		"VITALS_DATA_DIR":       t.TempDir(),
		"VITALS_ADMIN_PASSWORD": "event-test-admin-password",
		"VITALS_INGEST_TOKEN":   eventTestIngest,
		"VITALS_READ_TOKEN":     eventTestRead,
	})
	// The application's environment: VITALS_URL, and the ingest token the
	// server was given, as a list.
	env := map[string]string{"VITALS_URL": base, "VITALS_INGEST_TOKEN": eventTestIngest + ",another-token-0123456789"}

	code, stdout, stderr := runEvent(t, env, "--type", "stream_started", "--message", "Эфир начался",
		"--email", "dj@example.com", "--details", `{"mount":"/live","bitrate_kbps":128}`)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("post: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	evs := listedEvents(t, base)
	if len(evs) != 1 || evs[0].Type != "stream_started" || evs[0].Message != "Эфир начался" ||
		evs[0].UserEmail == nil || *evs[0].UserEmail != "dj@example.com" || !bytes.Contains(evs[0].Details, []byte(`"bitrate_kbps":128`)) {
		t.Fatalf("stored: %+v", evs)
	}

	// The same idempotency key twice (cron retried a job): stored once,
	// both runs succeed. Flags win over the environment.
	for range 2 {
		code, _, stderr := runEvent(t, map[string]string{}, "--url", base, "--token", eventTestIngest,
			"--type", "backup.finished", "--message", "Nightly backup finished", "--idempotency-key", "backup-2026-11-26")
		if code != 0 {
			t.Fatalf("post with a key: exit %d: %s", code, stderr)
		}
	}
	n := 0
	for _, e := range listedEvents(t, base) {
		if e.Type == "backup.finished" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("a repeated idempotency key stored %d events", n)
	}

	// Refused by the server (PostgreSQL's jsonb cannot hold NUL, so vitals
	// refuses it on every backend): exit 1 with the server's reason.
	code, _, stderr = runEvent(t, env, "--type", "a", "--message", "m", "--details", `{"x":"\u0000"}`)
	if code != 1 || !strings.Contains(stderr, "refused") || !strings.Contains(stderr, "details") {
		t.Fatalf("refused event: exit %d: %s", code, stderr)
	}

	// A wrong token fails at once, not after the timeout, and the token
	// is never printed.
	code, _, stderr = runEvent(t, map[string]string{"VITALS_URL": base, "VITALS_INGEST_TOKEN": "wrong-token-0123456789abcdef"},
		"--type", "a", "--message", "m")
	if code != 1 || !strings.Contains(stderr, "401") || strings.Contains(stderr, "wrong-token") {
		t.Fatalf("wrong token: exit %d: %s", code, stderr)
	}
	// A read token may not post.
	code, _, stderr = runEvent(t, map[string]string{"VITALS_URL": base, "VITALS_INGEST_TOKEN": eventTestRead}, "--type", "a", "--message", "m")
	if code != 1 || !strings.Contains(stderr, "403") {
		t.Fatalf("read token: exit %d: %s", code, stderr)
	}
}

func TestEventCommandUsage(t *testing.T) {
	env := map[string]string{"VITALS_INGEST_TOKEN": eventTestIngest, "VITALS_URL": "http://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no type", env, []string{"--message", "m"}, "type"},
		{"bad type", env, []string{"--type", "Bad Type", "--message", "m"}, "type"},
		{"no message", env, []string{"--type", "a"}, "message"},
		{"bad email", env, []string{"--type", "a", "--message", "m", "--email", "nobody"}, "user_email"},
		{"details not an object", env, []string{"--type", "a", "--message", "m", "--details", "[1]"}, "--details"},
		{"details not JSON", env, []string{"--type", "a", "--message", "m", "--details", "{"}, "--details"},
		{"no token", map[string]string{}, []string{"--type", "a", "--message", "m"}, "VITALS_INGEST_TOKEN"},
		{"bad url", env, []string{"--url", "localhost:8080", "--type", "a", "--message", "m"}, "http://"},
		{"stray argument", env, []string{"--type", "a", "--message", "m", "extra"}, "extra"},
		{"unknown flag", env, []string{"--typ", "a"}, "typ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runEvent(t, tc.env, tc.args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 naming %q", code, stdout, stderr, tc.want)
			}
		})
	}

	code, stdout, _ := runEvent(t, env, "--help")
	for _, want := range []string{"usage: vitals event", "--url", "--token", "--type", "--message", "--email", "--details", "--idempotency-key", "VITALS_URL"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Fatalf("--help: exit %d, missing %q:\n%s", code, want, stdout)
		}
	}
}

// TestEventCommandUnreachable: nothing listens (a closed port), so the
// command retries until its timeout and says why it gave up.
func TestEventCommandUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	code, _, stderr := runEvent(t, map[string]string{"VITALS_URL": url, "VITALS_INGEST_TOKEN": eventTestIngest},
		"--type", "a", "--message", "m", "--timeout", "300ms")
	if code != 1 || !strings.Contains(stderr, "not stored within 300ms") || !strings.Contains(stderr, "refused") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
