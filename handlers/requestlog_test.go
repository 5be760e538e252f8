package handlers_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// lockedBuffer is a bytes.Buffer the app's goroutines may write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// Every response carries an X-Request-Id: the client's when it is sane, the
// Fly proxy's next, else a fresh one; the request log has one line per
// request with that id, the status the client got and the latency, and no
// query string.
func TestRequestLog(t *testing.T) {
	var logs lockedBuffer
	h := newHarnessConfig(t, sqlitetest.Open(t, sqlite.Options{}), func(c *handlers.Config) {
		c.RequestLog = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	get := func(path string, header ...string) (string, int) {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := h.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get(handlers.HeaderRequestID), resp.StatusCode
	}

	cases := []struct {
		name   string
		header []string
		want   string // "" means generated
	}{
		{"client id kept", []string{"X-Request-Id", "req-42.abc:def"}, "req-42.abc:def"},
		{"fly id next", []string{"Fly-Request-Id", "01HXYZABCDEF-ams"}, "01HXYZABCDEF-ams"},
		{"client id wins over fly's", []string{"X-Request-Id", "mine", "Fly-Request-Id", "theirs"}, "mine"},
		{"spaces refused", []string{"X-Request-Id", "a b"}, ""},
		{"quotes refused", []string{"X-Request-Id", `a"b`}, ""},
		{"too long refused", []string{"X-Request-Id", strings.Repeat("x", 129)}, ""},
		{"none", nil, ""},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		id, _ := get("/health?token=secret-in-query", tc.header...)
		switch {
		case tc.want != "" && id != tc.want:
			t.Errorf("%s: X-Request-Id %q, want %q", tc.name, id, tc.want)
		case tc.want == "" && (id == "" || strings.ContainsAny(id, " \"") || len(id) > 128):
			t.Errorf("%s: generated X-Request-Id %q", tc.name, id)
		}
		if tc.want == "" {
			if seen[id] {
				t.Errorf("%s: generated id %q twice", tc.name, id)
			}
			seen[id] = true
		}
	}
	// An error answered by the error handler is logged with its status.
	_, code := get("/api/v1/events")
	if code != 401 {
		t.Fatalf("GET /api/v1/events without credentials: %d", code)
	}

	lines := logs.lines(t)
	var reqs []map[string]any
	for _, l := range lines {
		if l["msg"] == "request" {
			reqs = append(reqs, l)
		}
	}
	if len(reqs) != len(cases)+1 {
		t.Fatalf("%d request lines for %d requests: %v", len(reqs), len(cases)+1, lines)
	}
	for i, l := range reqs {
		if l["request_id"] == "" || l["method"] != "GET" || l["latency_ms"] == nil {
			t.Errorf("incomplete line: %v", l)
		}
		if p, _ := l["path"].(string); strings.Contains(p, "?") || strings.Contains(p, "secret") {
			t.Errorf("the query string is logged: %v", l)
		}
		if i < len(cases) && l["status"] != float64(200) {
			t.Errorf("/health logged with status %v", l["status"])
		}
	}
	if last := reqs[len(reqs)-1]; last["status"] != float64(401) || last["path"] != "/api/v1/events" {
		t.Errorf("the refused request is logged as %v, want status 401", last)
	}
	if reqs[0]["request_id"] != "req-42.abc:def" {
		t.Errorf("the log has %v, not the client's id", reqs[0]["request_id"])
	}
}

// BenchmarkRequestLog is GET /api/v1/system/metrics over loopback without
// and with the request log, its JSON lines written straight to a file, one
// write per request: the worst case (vitals batches them, main's
// lineBuffer).
func BenchmarkRequestLog(b *testing.B) {
	for _, withLog := range []bool{false, true} {
		name := "off"
		if withLog {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			h := newHarnessConfig(b, sqlitetest.Open(b, sqlite.Options{}), func(c *handlers.Config) {
				if withLog {
					f, err := os.Create(filepath.Join(b.TempDir(), "log.json"))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { f.Close() })
					c.RequestLog = slog.New(slog.NewJSONHandler(f, nil))
				}
			})
			url := h.serve() + "/api/v1/system/metrics"
			hammer(b, benchClient(), func() *http.Request {
				r, _ := http.NewRequest("GET", url, nil)
				bearer(readToken)(r)
				return r
			}, 200)
		})
	}
}
