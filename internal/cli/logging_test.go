package cli

import (
	"github.com/vitalsdev/vitals/internal/syncbuf"

	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
)

// servedProcess is serve run in the test's process with its output captured.
type servedProcess struct {
	base   string
	stdout *syncbuf.Buffer
	stderr *syncbuf.Buffer
	stop   func() int // cancels serve and returns its exit code
}

func serveCaptured(t *testing.T, env map[string]string) *servedProcess {
	t.Helper()
	if env["PORT"] == "" {
		env["PORT"] = "0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	sp := &servedProcess{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}}
	go func() { done <- serve(ctx, nil, envOf(env), sp.stdout, sp.stderr, ready) }()
	select {
	case addr := <-ready:
		sp.base = "http://127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d: %s %s", code, sp.stdout, sp.stderr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	stopped := false
	code := 0
	sp.stop = func() int {
		if stopped {
			return code
		}
		stopped = true
		cancel()
		select {
		case code = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
		}
		return code
	}
	t.Cleanup(func() { sp.stop() })
	return sp
}

// Secrets never reach the output: not the database or Redis passwords in
// their URLs, not the tokens, not the admin password, not a wrong password
// or token someone tried, whatever requests are made (credentials in
// headers, forms and query strings, failures included) and through the
// shutdown. The request log still has a line per request.
func TestSecretsNeverLogged(t *testing.T) {
	const (
		adminPassword = "Adm1n-pa55word-XYZZY"
		readToken     = "read-token-SECRET-0123456789"
		ingestToken   = "ingest-token-SECRET-9876543210"
		wrongToken    = "wrong-token-SECRET-5555555555"
		wrongPassword = "wrong-Pa55word-PLUGH"
		dbPassword    = "db-pa55-SECRET-q1w2e3"
		monitorPass   = "mon-pa55-SECRET-r4t5y6"
		redisPassword = "redis-pa55-SECRET-u7i8o9"
	)
	secrets := []string{adminPassword, readToken, ingestToken, wrongToken, wrongPassword, dbPassword, monitorPass, redisPassword}
	withPassword := func(raw, password string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(u.User.Username(), password)
		return u.String()
	}
	base := func(format string) map[string]string {
		return map[string]string{
			"VITALS_ADMIN_PASSWORD": adminPassword,
			"VITALS_READ_TOKEN":     readToken,
			"VITALS_INGEST_TOKEN":   ingestToken,
			"VITALS_LOG_FORMAT":     format,
			// Unreachable, so that its failures are logged too.
			"REDIS_URL":                   "redis://default:" + redisPassword + "@127.0.0.1:" + freePort(t) + "/0",
			"VITALS_MONITOR_DATABASE_URL": "postgres://monitor:" + monitorPass + "@127.0.0.1:" + freePort(t) + "/app?sslmode=disable",
			"VITALS_SAMPLE_INTERVAL":      "1s",
		}
	}

	cases := []struct {
		name string
		env  func(t *testing.T) map[string]string
	}{
		{"sqlite-text", func(t *testing.T) map[string]string {
			env := base("text")
			env["VITALS_DATA_DIR"] = t.TempDir()
			return env
		}},
		{"postgres-unreachable-json", func(t *testing.T) map[string]string {
			env := base("json")
			env["DATABASE_URL"] = "postgres://vitals:" + dbPassword + "@127.0.0.1:" + freePort(t) + "/vitals?sslmode=disable&password=" + dbPassword
			return env
		}},
		{"postgres-json", func(t *testing.T) map[string]string {
			dbURL, schema := postgrestest.Schema(t)
			env := base("json")
			// The test server trusts local connections: the password is
			// carried, and ignored.
			env["DATABASE_URL"] = withPassword(dbURL, dbPassword)
			env["VITALS_PG_SCHEMA"] = schema
			return env
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := serveCaptured(t, tc.env(t))
			do := func(method, path, auth string, body io.Reader, header ...string) int {
				t.Helper()
				req, _ := http.NewRequest(method, sp.base+path, body)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				for i := 0; i+1 < len(header); i += 2 {
					req.Header.Set(header[i], header[i+1])
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			basic := func(user, pass string) string {
				return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
			}
			form := func(pass string) io.Reader {
				return strings.NewReader(url.Values{"username": {"admin"}, "password": {pass}}.Encode())
			}
			do("GET", "/health", "", nil)
			do("GET", "/api/v1/events", "Bearer "+readToken, nil, "X-Request-Id", "client-chosen-id-1")
			do("GET", "/api/v1/system/metrics", "Bearer "+readToken, nil)
			do("POST", "/api/v1/events", "Bearer "+ingestToken, strings.NewReader(`{"type":"user_registered","message":"hello"}`), "Content-Type", "application/json")
			do("POST", "/api/v1/events", "Bearer "+ingestToken, strings.NewReader(`{"type":"BAD TYPE","message":"`+adminPassword+`"}`), "Content-Type", "application/json")
			do("GET", "/api/v1/events", "Bearer "+wrongToken, nil, "X-Request-Id", "bad id\tforged=line")
			do("GET", "/api/v1/events?token="+readToken+"&password="+adminPassword, "", nil)
			do("GET", "/", basic("admin", adminPassword), nil)
			do("GET", "/", basic("admin", wrongPassword), nil)
			do("POST", "/login", "", form(wrongPassword), "Content-Type", "application/x-www-form-urlencoded")
			// Through the real form too, CSRF token and all: a failed
			// sign-in and a good one (the form needs the session key,
			// which is in the store).
			if !strings.Contains(tc.name, "unreachable") {
				signIn(t, sp.base, "admin", wrongPassword)
				signIn(t, sp.base, "admin", adminPassword)
			} else {
				do("GET", "/login", "", nil)
				do("GET", "/login", "", nil)
				do("GET", "/login", "", nil)
				do("GET", "/login", "", nil)
			}
			do("GET", "/metrics", "Bearer "+readToken, nil)
			do("GET", "/no/such/route", "Bearer "+ingestToken, nil)
			// Let the probes fail against the unreachable Redis and
			// monitored database, and the store's retry loop log.
			time.Sleep(1500 * time.Millisecond)
			if code := sp.stop(); code != 0 {
				t.Errorf("serve exited with %d", code)
			}

			out := sp.stdout.String() + sp.stderr.String()
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("the output contains the secret %q:\n%s", s, out)
				}
			}
			checkRequestLog(t, sp.stderr.String(), strings.HasSuffix(tc.name, "json"))
		})
	}
}

// checkRequestLog asserts one line per request, each with a request id,
// the status and the latency, the client's sane id kept and a forged one
// replaced.
func checkRequestLog(t *testing.T, logs string, isJSON bool) {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "request_id") {
			lines = append(lines, sc.Text())
		}
	}
	if len(lines) < 16 {
		t.Fatalf("%d request log lines for at least 16 requests:\n%s", len(lines), logs)
	}
	for _, l := range lines {
		if isJSON {
			var rec struct {
				Msg       string   `json:"msg"`
				RequestID string   `json:"request_id"`
				Status    int      `json:"status"`
				Latency   *float64 `json:"latency_ms"`
				Path      string   `json:"path"`
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("not JSON: %s", l)
			}
			if rec.Msg != "request" || rec.RequestID == "" || rec.Status < 100 || rec.Latency == nil || rec.Path == "" {
				t.Errorf("incomplete request line: %s", l)
			}
			if strings.Contains(rec.Path, "?") {
				t.Errorf("the query string is logged: %s", l)
			}
		} else if !strings.Contains(l, "status=") || !strings.Contains(l, "latency_ms=") {
			t.Errorf("incomplete request line: %s", l)
		}
	}
	if !strings.Contains(logs, "client-chosen-id-1") {
		t.Error("the client's X-Request-Id is not in the log")
	}
	if strings.Contains(logs, "forged=line") {
		t.Error("a forged X-Request-Id reached the log")
	}
}
