package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/internal/syncbuf"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
)

// besideSnippet is the Dockerfile of docs/deploy.md's "beside the
// application" section: its first dockerfile block.
func besideSnippet(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i := strings.Index(doc, "## Recommended: beside the application")
	if i < 0 {
		t.Fatal("docs/deploy.md has no beside-the-application section")
	}
	doc = doc[i:]
	start := strings.Index(doc, "```dockerfile\n")
	if start < 0 {
		t.Fatal("the beside-the-application section has no dockerfile block")
	}
	doc = doc[start+len("```dockerfile\n"):]
	block, _, ok := strings.Cut(doc, "```")
	if !ok {
		t.Fatal("the dockerfile block does not end")
	}
	return strings.Split(block, "\n")
}

// dockerInstructions are the instructions BuildKit knows.
var dockerInstructions = map[string]bool{"FROM": true, "RUN": true, "CMD": true, "LABEL": true, "EXPOSE": true, "ENV": true,
	"ADD": true, "COPY": true, "ENTRYPOINT": true, "VOLUME": true, "USER": true, "WORKDIR": true, "ARG": true,
	"ONBUILD": true, "STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true}

// parseSnippet checks the snippet as BuildKit would read it (a comment is
// a whole line; FROM takes one or three words; exec forms are JSON) and
// returns its stages' instructions, or what BuildKit would refuse.
func parseSnippet(lines []string) (stages [][]string, problems []string) {
	errorf := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	for n, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, args, _ := strings.Cut(line, " ")
		if !dockerInstructions[strings.ToUpper(word)] {
			errorf("line %d: %q is no Dockerfile instruction", n+1, word)
			continue
		}
		// BuildKit reads "# ..." after an instruction as its arguments:
		// FROM fails, COPY copies a file named "#", CMD runs it.
		if strings.Contains(args, " #") {
			errorf("line %d: a comment at the end of an instruction, which Docker does not allow: %s", n+1, line)
		}
		switch strings.ToUpper(word) {
		case "FROM":
			if f := strings.Fields(args); len(f) != 1 && (len(f) != 3 || !strings.EqualFold(f[1], "AS")) {
				errorf("line %d: FROM requires either one or three arguments: %s", n+1, line)
			}
			stages = append(stages, nil)
			continue
		case "ENTRYPOINT", "CMD":
			var argv []string
			if err := json.Unmarshal([]byte(args), &argv); err != nil || len(argv) == 0 {
				errorf("line %d: %s is not in exec form (a JSON array), so no signal reaches the processes: %s", n+1, word, line)
			}
		}
		if len(stages) == 0 {
			errorf("line %d: an instruction before FROM", n+1)
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], line)
	}
	return stages, problems
}

// The snippet check refuses what BuildKit refuses: the docs' earlier
// snippet, with comments at the ends of FROM, COPY and CMD lines.
func TestParseSnippetRefusesTrailingComments(t *testing.T) {
	old := []string{
		"FROM golang:1.26 AS vitals",
		"COPY vitals/ .                       # a checkout of vitals, e.g. a git submodule",
		"FROM python:3.12-slim                # your application's image, as it was",
		`ENTRYPOINT ["/usr/local/bin/beside.sh"]`,
		`CMD ["uvicorn", "app.main:app"]   # your command`,
		"CMD uvicorn app.main:app",
	}
	_, problems := parseSnippet(old)
	want := []string{"line 2: a comment", "line 3: a comment", "line 3: FROM requires", "line 5: a comment", "line 5: CMD is not in exec form", "line 6: CMD is not in exec form"}
	if len(problems) != len(want) {
		t.Fatalf("problems %q, want %d", problems, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %d: %q, want %q", i, problems[i], w)
		}
	}
}

// The documented beside-the-application layout, built without a Docker
// daemon: the snippet's final stage is laid out in a directory (the
// binary where --from=vitals puts it, the script from the vitals checkout,
// the entrypoint), the release commands run through the entrypoint as
// Fly's release_command does, with the application's own asyncpg-style
// DATABASE_URL set, and start no server; then the entrypoint runs a Python
// application that logs an event with clients/python/vitals.py, which
// arrives, while `vitals healthcheck` checks vitals and not the
// application, and vitals logs no warning for the application it waited
// for.
func TestBesideLayoutFromDocs(t *testing.T) {
	chdirRoot(t)
	stages, problems := parseSnippet(besideSnippet(t))
	if len(problems) > 0 {
		t.Fatalf("docs/deploy.md's Dockerfile would not build:\n%s", strings.Join(problems, "\n"))
	}
	if len(stages) < 2 {
		t.Fatalf("the snippet has %d stages, want vitals' build and the application's image", len(stages))
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is not installed")
		}
		t.Skip("python3 is not installed")
	}
	rawURL, schema := postgrestest.Schema(t)

	// The final stage, laid out under root.
	root := t.TempDir()
	bin := buildVitals(t, t.TempDir())
	final := stages[len(stages)-1]
	var entrypoint []string
	for _, in := range final {
		word, args, _ := strings.Cut(in, " ")
		switch strings.ToUpper(word) {
		case "COPY":
			f := strings.Fields(args)
			if len(f) == 3 && f[0] == "--from=vitals" {
				copyFile(t, bin, filepath.Join(root, f[2]))
			} else if len(f) == 2 && strings.HasPrefix(f[0], "vitals/") {
				// The vitals checkout in the build context is this
				// repository.
				copyFile(t, strings.TrimPrefix(f[0], "vitals/"), filepath.Join(root, f[1]))
			}
		case "ENTRYPOINT":
			_ = json.Unmarshal([]byte(args), &entrypoint)
		}
	}
	for _, p := range []string{"/usr/local/bin/vitals", "/usr/local/bin/beside.sh"} {
		if err := os.Chmod(filepath.Join(root, p), 0o755); err != nil {
			t.Fatalf("the layout lacks %s: %v", p, err)
		}
	}
	if len(entrypoint) != 1 || entrypoint[0] != "/usr/local/bin/beside.sh" {
		t.Fatalf("ENTRYPOINT %q, want the beside.sh the stage copies", entrypoint)
	}

	// The application's environment, as on the machine: its own
	// DATABASE_URL in SQLAlchemy's asyncpg form, which vitals refuses, and
	// vitals' own VITALS_DATABASE_URL in the same form, which it takes.
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if mode := q.Get("sslmode"); mode != "" {
		q.Del("sslmode")
		q.Set("ssl", mode)
	}
	u.RawQuery = q.Encode()
	asyncpg := "postgresql+asyncpg://" + strings.TrimPrefix(u.String(), u.Scheme+"://")
	const ingest, reader = "ingest-token-for-the-layout-test", "read-token-for-the-layout-test"
	appPort, vitalsPort := freePort(t), freePort(t)
	env := []string{
		"PATH=" + filepath.Join(root, "usr/local/bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"PORT=" + appPort,
		"VITALS_PORT=" + vitalsPort,
		"DATABASE_URL=" + asyncpg,
		"VITALS_DATABASE_URL=" + asyncpg,
		"VITALS_PG_SCHEMA=" + schema,
		"VITALS_INGEST_TOKEN=" + ingest,
		"VITALS_READ_TOKEN=" + reader,
		"VITALS_ADMIN_PASSWORD=admin-password-for-tests",
		"VITALS_DATA_DIR=" + t.TempDir(),
		"VITALS_LOG_FORMAT=json",
		"VITALS_SAMPLE_INTERVAL=1s",
	}
	image := func(args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(root, entrypoint[0]), args...)
		cmd.Env = env
		return cmd
	}
	listening := func() bool {
		conn, err := net.Dial("tcp", "127.0.0.1:"+vitalsPort)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}

	// Release commands, as `release_command = "vitals migrate up"` runs
	// them: through the entrypoint, with nothing else started.
	for _, args := range [][]string{{"vitals", "migrate", "up"}, {"vitals", "migrate", "status"}, {"vitals", "token", "list"}} {
		out, err := image(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if strings.Contains(string(out), `"msg":"serving"`) || listening() {
			t.Fatalf("%s started a server:\n%s", strings.Join(args, " "), out)
		}
		if args[1] == "migrate" && args[2] == "status" && !strings.Contains(string(out), "schema "+schema) {
			t.Errorf("migrate status does not name the store it read:\n%s", out)
		}
	}
	// Without VITALS_DATABASE_URL, the application's URL is refused, as
	// strictly as before.
	strict := image("vitals", "migrate", "status")
	strict.Env = nil
	for _, kv := range env {
		if !strings.HasPrefix(kv, "VITALS_DATABASE_URL=") {
			strict.Env = append(strict.Env, kv)
		}
	}
	if out, err := strict.CombinedOutput(); exitOf(err) != 2 || !strings.Contains(string(out), "DATABASE_URL") {
		t.Errorf("migrate status with only the application's asyncpg DATABASE_URL: %v\n%s", err, out)
	}
	if code := exitOf(image("vitals", "healthcheck").Run()); code != 1 {
		t.Errorf("vitals healthcheck with no server: exit %d, want 1", code)
	}

	// The application as the image runs it: a Python web app that logs an
	// event through the client at start and serves its own /health.
	app := filepath.Join(t.TempDir(), "app.py")
	clientDir, err := filepath.Abs("clients/python")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(app, []byte(`import http.server, os, sys
sys.path.insert(0, `+strconvQuote(clientDir)+`)
import vitals

vitals.log_activity("user_registered", "Anna registered", user_email="anna@example.com", details={"plan": "free"})

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/health":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Health).serve_forever()
`), 0o644); err != nil {
		t.Fatal(err)
	}
	run := image(python, app)
	var out syncbuf.Buffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the entrypoint has exited, with its error in
	// runErr.
	exited := make(chan struct{})
	var runErr error
	go func() { runErr = run.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = run.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = run.Process.Kill()
		}
	})
	waitHealthy(t, "http://127.0.0.1:"+vitalsPort)

	// The event arrives, posted to the VITALS_URL beside.sh gave the app.
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+vitalsPort+"/api/v1/events?type=user_registered", nil)
		req.Header.Set("Authorization", "Bearer "+reader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Events []struct {
				Message   string  `json:"message"`
				UserEmail *string `json:"user_email"`
			} `json:"events"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Events) == 1 && list.Events[0].Message == "Anna registered" {
			break
		}
		if len(list.Events) > 1 || time.Now().After(deadline) {
			t.Fatalf("the application's event: %+v\n%s", list.Events, &out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// vitals times the application's /health once it listens.
	waitHealthy(t, "http://127.0.0.1:"+appPort)
	if cmd := image("vitals", "healthcheck"); exitOf(cmd.Run()) != 0 {
		t.Error("vitals healthcheck on the machine does not pass with vitals running")
	}
	if out, err := image("vitals", "token", "list").CombinedOutput(); err != nil {
		t.Errorf("vitals token list beside the running server: %v\n%s", err, out)
	}

	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if code := exitOf(runErr); code != 0 {
			t.Errorf("the entrypoint exited %d after SIGTERM, want 0\n%s", code, &out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the entrypoint did not stop\n%s", &out)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, `"group":"http"`) {
			t.Errorf("vitals warned about the application it should have waited for: %s", line)
		}
	}
}

// exitOf is a command's exit status from its Run or Wait error.
func exitOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// strconvQuote is s as a Python string literal (JSON's is one).
func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
