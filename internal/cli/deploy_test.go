package cli

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/vitalsdev/vitals/internal/config"
	"github.com/vitalsdev/vitals/internal/syncbuf"
)

// flyConfig is the part of fly.toml that must agree with the server.
type flyConfig struct {
	App         string            `toml:"app"`
	KillSignal  string            `toml:"kill_signal"`
	KillTimeout any               `toml:"kill_timeout"` // seconds, or a duration string
	Env         map[string]string `toml:"env"`
	Build       struct {
		Dockerfile string `toml:"dockerfile"`
	} `toml:"build"`
	Mounts []struct {
		Source      string `toml:"source"`
		Destination string `toml:"destination"`
	} `toml:"mounts"`
	HTTPService struct {
		InternalPort       int  `toml:"internal_port"`
		ForceHTTPS         bool `toml:"force_https"`
		AutoStopMachines   any  `toml:"auto_stop_machines"` // "stop", "suspend", "off" or a bool
		AutoStartMachines  bool `toml:"auto_start_machines"`
		MinMachinesRunning int  `toml:"min_machines_running"`
		Checks             []struct {
			Method      string `toml:"method"`
			Path        string `toml:"path"`
			Interval    string `toml:"interval"`
			Timeout     string `toml:"timeout"`
			GracePeriod string `toml:"grace_period"`
		} `toml:"checks"`
	} `toml:"http_service"`
}

func readFlyConfig(t *testing.T) (flyConfig, string) {
	t.Helper()
	raw, err := os.ReadFile("fly.toml")
	if err != nil {
		t.Fatal(err)
	}
	var fc flyConfig
	if _, err := toml.Decode(string(raw), &fc); err != nil {
		t.Fatalf("fly.toml: %v", err)
	}
	return fc, string(raw)
}

// settingDefault is the default of the setting named env.
func settingDefault(t *testing.T, env string) string {
	t.Helper()
	for _, s := range config.Settings() {
		if s.Env == env {
			return s.Default
		}
	}
	t.Fatalf("no setting %s", env)
	return ""
}

// fly.toml agrees with the server: the port it routes to is the one vitals
// listens on, the health check's path answers 200 on a real server, the
// stop signal is one vitals handles and the kill timeout outlasts the
// graceful shutdown, the volume is where the SQLite store is, and every
// variable it sets is one vitals reads.
func TestFlyTOML(t *testing.T) {
	chdirRoot(t)
	fc, raw := readFlyConfig(t)
	hs := fc.HTTPService

	port := fc.Env["PORT"]
	if port == "" {
		port = settingDefault(t, "PORT")
	}
	if strconv.Itoa(hs.InternalPort) != port {
		t.Errorf("http_service.internal_port = %d, but vitals listens on PORT %s", hs.InternalPort, port)
	}
	if !hs.ForceHTTPS {
		t.Error("http_service.force_https is not true")
	}

	// Always on: alerts are evaluated on every sample tick and sent by a
	// running vitals (DESIGN.md, "Alerts": no scale-to-zero).
	switch v := hs.AutoStopMachines.(type) {
	case string:
		if v != "off" {
			t.Errorf("auto_stop_machines = %q, want off: a stopped machine sends no alert", v)
		}
	case bool:
		if v {
			t.Error("auto_stop_machines is true: a stopped machine sends no alert")
		}
	default:
		t.Errorf("auto_stop_machines = %v", hs.AutoStopMachines)
	}
	if hs.MinMachinesRunning < 1 {
		t.Errorf("min_machines_running = %d; want at least 1, so that one machine always evaluates the alerts", hs.MinMachinesRunning)
	}

	if len(hs.Checks) != 1 {
		t.Fatalf("http_service has %d checks, want 1", len(hs.Checks))
	}
	check := hs.Checks[0]
	if check.Path != "/health" || (check.Method != "" && !strings.EqualFold(check.Method, "GET")) {
		t.Errorf("health check is %s %s, want GET /health", check.Method, check.Path)
	}
	durations := map[string]time.Duration{}
	for name, v := range map[string]string{"interval": check.Interval, "timeout": check.Timeout, "grace_period": check.GracePeriod} {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Errorf("health check %s = %q, want a duration", name, v)
		}
		durations[name] = d
	}
	// /health runs its checks within 1 s; the platform must wait longer.
	if durations["timeout"] <= time.Second || durations["timeout"] >= durations["interval"] {
		t.Errorf("health check timeout %s: want more than /health's 1 s budget and less than the interval %s", durations["timeout"], durations["interval"])
	}

	// The stop: a signal vitals handles, and time for its shutdown.
	if fc.KillSignal != "SIGTERM" && fc.KillSignal != "SIGINT" {
		t.Errorf("kill_signal = %q, want SIGTERM or SIGINT (the ones vitals shuts down gracefully on)", fc.KillSignal)
	}
	var kill time.Duration
	switch v := fc.KillTimeout.(type) {
	case int64:
		kill = time.Duration(v) * time.Second
	case string:
		kill, _ = time.ParseDuration(v)
	}
	shutdown := fc.Env["VITALS_SHUTDOWN_TIMEOUT"]
	if shutdown == "" {
		shutdown = settingDefault(t, "VITALS_SHUTDOWN_TIMEOUT")
	}
	grace, err := time.ParseDuration(shutdown)
	if err != nil {
		t.Fatalf("VITALS_SHUTDOWN_TIMEOUT %q: %v", shutdown, err)
	}
	// A second at least to close the store after the requests.
	if kill < grace+time.Second {
		t.Errorf("kill_timeout %v leaves no time to close the store after VITALS_SHUTDOWN_TIMEOUT %v", fc.KillTimeout, grace)
	}

	// The SQLite mode's volume is where the store is.
	if len(fc.Mounts) != 1 || fc.Mounts[0].Destination == "" || fc.Mounts[0].Destination != fc.Env["VITALS_DATA_DIR"] {
		t.Errorf("mounts %+v: want one volume mounted at VITALS_DATA_DIR (%q)", fc.Mounts, fc.Env["VITALS_DATA_DIR"])
	}
	// PostgreSQL mode is a secret, never a value in the committed file.
	if _, ok := fc.Env["DATABASE_URL"]; ok {
		t.Error("fly.toml sets DATABASE_URL in [env]; it must be a secret (fly secrets set)")
	}
	if !strings.Contains(raw, "fly secrets set DATABASE_URL") {
		t.Error("fly.toml does not say how to switch to PostgreSQL (fly secrets set DATABASE_URL=...)")
	}

	// Every variable is one vitals reads: a typo would be ignored silently.
	known := map[string]bool{}
	for _, s := range config.Settings() {
		known[s.Env] = true
	}
	for k := range fc.Env {
		if !known[k] {
			t.Errorf("fly.toml sets %s, which vitals does not read", k)
		}
	}
	if fc.Build.Dockerfile != "" {
		if _, err := os.Stat(fc.Build.Dockerfile); err != nil {
			t.Errorf("build.dockerfile: %v", err)
		}
	}

	// And the health check's path is the server's: a real server answers
	// it with 200 (and the same port setting it was given).
	base, _ := startServe(t, map[string]string{"VITALS_DATA_DIR": t.TempDir(), "VITALS_ADMIN_PASSWORD": "admin-password-for-tests"})
	resp, err := http.Get(base + check.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/health+json" {
		t.Errorf("GET %s: %d %s, want 200 application/health+json", check.Path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// dockerStage is one FROM ... stage of the Dockerfile, its instructions
// with continuation lines joined.
type dockerStage struct {
	from  string
	instr []string
}

func readDockerfile(t *testing.T) []dockerStage {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		stages []dockerStage
		cur    string
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		if strings.HasPrefix(strings.ToUpper(cur), "FROM ") {
			stages = append(stages, dockerStage{from: cur})
		} else if len(stages) > 0 {
			stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, cur)
		}
		cur = ""
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	return stages
}

// The Dockerfile builds a static binary in one stage and runs it, as a
// non-root user with no curl, in a minimal second one whose health check
// is `vitals healthcheck` and whose port and data volume agree with the
// server's settings and fly.toml.
func TestDockerfile(t *testing.T) {
	chdirRoot(t)
	stages := readDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("the Dockerfile has %d stage(s), want a build stage and a run stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	hasInstr := func(s dockerStage, prefix, contains string) string {
		for _, in := range s.instr {
			if strings.HasPrefix(strings.ToUpper(in), prefix) && strings.Contains(in, contains) {
				return in
			}
		}
		return ""
	}
	if hasInstr(build, "RUN ", "CGO_ENABLED=0 go build") == "" {
		t.Error("the build stage does not run CGO_ENABLED=0 go build")
	}
	if !strings.Contains(final.from, "distroless/static") && !strings.Contains(final.from, "scratch") {
		t.Errorf("the final image is %q, want a minimal one (distroless/static or scratch)", final.from)
	}
	user := hasInstr(final, "USER ", "")
	if user == "" {
		t.Error("the final stage sets no USER: it would run as root")
	} else if u := strings.Fields(user)[1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("the final stage runs as %s", u)
	}
	hc := hasInstr(final, "HEALTHCHECK ", "healthcheck")
	if hc == "" || !strings.Contains(hc, `"/vitals", "healthcheck"`) {
		t.Errorf("HEALTHCHECK is %q, want CMD [\"/vitals\", \"healthcheck\"]", hc)
	}
	for _, s := range stages[1:] {
		for _, in := range s.instr {
			if strings.Contains(in, "curl") || strings.Contains(in, "wget") {
				t.Errorf("the run image uses curl or wget: %s", in)
			}
		}
	}
	// Port, data directory and volume agree with fly.toml.
	fc, _ := readFlyConfig(t)
	if hasInstr(final, "EXPOSE ", strconv.Itoa(fc.HTTPService.InternalPort)) == "" {
		t.Errorf("the Dockerfile does not EXPOSE %d (fly.toml's internal_port)", fc.HTTPService.InternalPort)
	}
	env := hasInstr(final, "ENV ", "")
	for _, want := range []string{"PORT=" + strconv.Itoa(fc.HTTPService.InternalPort), "VITALS_DATA_DIR=" + fc.Env["VITALS_DATA_DIR"]} {
		if !strings.Contains(env, want) {
			t.Errorf("the run stage's ENV %q lacks %s", env, want)
		}
	}
	if hasInstr(final, "VOLUME ", fc.Env["VITALS_DATA_DIR"]) == "" {
		t.Errorf("the run stage declares no VOLUME at %s", fc.Env["VITALS_DATA_DIR"])
	}
	if hasInstr(final, "STOPSIGNAL ", "SIGTERM") == "" && hasInstr(final, "STOPSIGNAL ", "SIGINT") == "" {
		t.Error("no STOPSIGNAL SIGTERM (docker stop's default, but said for the reader)")
	}

	// The build stage's first layer downloads the modules from what it has
	// copied so far (go.mod, go.sum and what they need), nothing else. It
	// downloads as the test process would (its GOPROXY, its module cache),
	// so it passes on a fresh machine whose cache holds nothing yet (issue
	// 11) as on an offline one whose cache holds the build list already.
	// GOFLAGS=-mod=readonly: a go.sum lacking an entry fails here as it
	// would in docker build.
	layer := t.TempDir()
	for _, in := range build.instr {
		if strings.HasPrefix(in, "RUN ") && strings.Contains(in, "go mod download") {
			cmd := exec.Command("go", "mod", "download")
			cmd.Dir = layer
			cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go mod download with only the files copied before it: %v\n%s", err, out)
			}
			break
		}
		if f := strings.Fields(in); f[0] == "COPY" && len(f) >= 3 {
			srcs, dst := f[1:len(f)-1], f[len(f)-1]
			for _, src := range srcs {
				target := filepath.Join(layer, dst)
				if strings.HasSuffix(dst, "/") {
					target = filepath.Join(layer, dst, filepath.Base(src))
				}
				copyFile(t, src, target)
			}
		}
	}

	// The binary, built as the build stage does from the context docker
	// sends (the tree less .dockerignore), is static: no dynamic loader,
	// no libc.
	ctxDir := t.TempDir()
	dockerContext(t, ctxDir)
	bin := buildVitalsIn(t, ctxDir, t.TempDir())
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the CGO_ENABLED=0 binary has a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v", libs)
	}
	// The binary answers its own health check, as the image does.
	dir := t.TempDir()
	p := startVitals(t, bin, map[string]string{"PORT": "0", "VITALS_DATA_DIR": dir, "VITALS_ADMIN_PASSWORD": "admin-password-for-tests"})
	port := p.base[strings.LastIndex(p.base, ":")+1:]
	if code, out, errOut := runVitals(t, bin, map[string]string{"PORT": port}, "", "healthcheck"); code != 0 || !strings.Contains(out, `"status":"pass"`) {
		t.Errorf("vitals healthcheck: exit %d, %s %s", code, out, errOut)
	}
	if code, _, errOut := runVitals(t, bin, map[string]string{"PORT": freePort(t)}, "", "healthcheck"); code != 1 || errOut == "" {
		t.Errorf("vitals healthcheck with no server: exit %d, %q; want 1 and a reason", code, errOut)
	}
	if code, _, errOut := runVitals(t, bin, map[string]string{"PORT": "http"}, "", "healthcheck"); code != 2 || !strings.Contains(errOut, "PORT") {
		t.Errorf("vitals healthcheck with a bad PORT: exit %d, %q; want 2 naming PORT", code, errOut)
	}

}

// dockerIgnorePatterns reads .dockerignore.
func dockerIgnorePatterns(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore exception %q: the test's matcher does not handle them", line)
		}
		out = append(out, strings.TrimPrefix(filepath.Clean(line), "/"))
	}
	return out
}

// dockerIgnored reports whether rel (slash-separated, relative to the
// context) is left out: a pattern matches it or one of its parents.
func dockerIgnored(patterns []string, rel string) bool {
	for p := rel; p != "." && p != ""; p = path.Dir(p) {
		for _, pat := range patterns {
			if ok, _ := path.Match(pat, p); ok {
				return true
			}
		}
	}
	return false
}

// dockerContext copies the repository into dir as docker build sends it:
// without what .dockerignore leaves out.
func dockerContext(t *testing.T, dir string) {
	t.Helper()
	patterns := dockerIgnorePatterns(t)
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		rel := filepath.ToSlash(p)
		if dockerIgnored(patterns, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		copyFile(t, p, filepath.Join(dir, p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// .dockerignore's matcher, as the test reads it.
func TestDockerIgnored(t *testing.T) {
	pats := []string{".git", "data", "*.test", "testdata/screenshots"}
	for rel, want := range map[string]bool{
		".git/config": true, "data": true, "data/vitals.db": true, "vitals.test": true,
		"testdata/screenshots/a.png": true, "probes/testdata/x": false, "main.go": false, "web/static/app.css": false,
		"handlers/data.go": false,
	} {
		if got := dockerIgnored(pats, rel); got != want {
			t.Errorf("%s: ignored %v, want %v", rel, got, want)
		}
	}
}

// scripts/beside.sh, the recommended topology: vitals runs beside the
// application in its container, times the application's /health, stops
// with it on SIGTERM, goes down when the application does, and never takes
// the application down with it.
func TestBesideScript(t *testing.T) {
	chdirRoot(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	bin := buildVitals(t, t.TempDir())
	const readToken = "read-token-for-the-beside-test"
	script := func(env map[string]string, app ...string) *exec.Cmd {
		cmd := exec.Command("bash", append([]string{"scripts/beside.sh"}, app...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "VITALS_BIN=" + bin, "VITALS_ADMIN_PASSWORD=admin-password-for-tests",
			"VITALS_READ_TOKEN=" + readToken, "VITALS_SAMPLE_INTERVAL=1s", "VITALS_DATA_DIR=" + t.TempDir()}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		return cmd
	}
	exitCode := func(cmd *exec.Cmd, within time.Duration) int {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			if err != nil {
				t.Fatal(err)
			}
			return 0
		case <-time.After(within):
			_ = cmd.Process.Kill()
			t.Fatalf("beside.sh did not exit within %s", within)
			return -1
		}
	}

	t.Run("stops both on SIGTERM", func(t *testing.T) {
		appPort, vitalsPort := freePort(t), freePort(t)
		// The "application" is another vitals with a store of its own: it
		// has a /health to time. VITALS_PORT would win over its PORT.
		cmd := script(map[string]string{"PORT": appPort, "VITALS_PORT": vitalsPort}, "env", "-u", "VITALS_PORT", bin, "serve", "--data-dir", t.TempDir())
		var out syncbuf.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		waitHealthy(t, "http://127.0.0.1:"+appPort)
		waitHealthy(t, "http://127.0.0.1:"+vitalsPort)

		// vitals times the application's /health by default.
		deadline := time.Now().Add(20 * time.Second)
		for {
			req, _ := http.NewRequest("GET", "http://127.0.0.1:"+vitalsPort+"/api/v1/system/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+readToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var snap struct {
				HTTP []struct {
					Name    string `json:"name"`
					Status  string `json:"status"`
					Healthy *bool  `json:"healthy"`
				} `json:"http"`
			}
			err = json.NewDecoder(resp.Body).Decode(&snap)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.HTTP) == 1 && snap.HTTP[0].Name == "app" && snap.HTTP[0].Status == "ok" && snap.HTTP[0].Healthy != nil && *snap.HTTP[0].Healthy {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the application's /health is not timed: %+v", snap.HTTP)
			}
			time.Sleep(100 * time.Millisecond)
		}

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := exitCode(cmd, 30*time.Second); code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0\n%s", code, &out)
		}
		for _, port := range []string{appPort, vitalsPort} {
			if conn, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
				conn.Close()
				t.Errorf("port %s still answers after the stop", port)
			}
		}
		if n := strings.Count(out.String(), `"msg":"stopped"`); n != 2 {
			t.Errorf("%d graceful stops logged, want 2 (vitals and the application)\n%s", n, &out)
		}
	})

	t.Run("a release command starts no server", func(t *testing.T) {
		vitalsPort := freePort(t)
		cmd := script(map[string]string{"VITALS_PORT": vitalsPort}, "vitals", "migrate", "status")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "sqlite") || strings.Contains(string(out), "serving") {
			t.Fatalf("beside.sh vitals migrate status: %v\n%s", err, out)
		}
		if conn, err := net.Dial("tcp", "127.0.0.1:"+vitalsPort); err == nil {
			conn.Close()
			t.Error("a server runs after the release command")
		}
	})

	t.Run("the application's exit ends both", func(t *testing.T) {
		vitalsPort := freePort(t)
		cmd := script(map[string]string{"VITALS_PORT": vitalsPort}, "bash", "-c", "sleep 1; exit 3")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if code := exitCode(cmd, 30*time.Second); code != 3 {
			t.Errorf("exit %d, want the application's 3", code)
		}
		if conn, err := net.Dial("tcp", "127.0.0.1:"+vitalsPort); err == nil {
			conn.Close()
			t.Error("vitals still runs after the application exited")
		}
	})

	t.Run("vitals failing leaves the application running", func(t *testing.T) {
		cmd := script(map[string]string{"VITALS_BIN": "false"}, "bash", "-c", "sleep 1; exit 0")
		var out syncbuf.Buffer
		cmd.Stderr = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if code := exitCode(cmd, 30*time.Second); code != 0 || !strings.Contains(out.String(), "the application goes on") {
			t.Errorf("exit %d, %q; want the application's 0 after it ran on", code, &out)
		}
	})
}
