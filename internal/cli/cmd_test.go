package cli

import (
	"bytes"
	"encoding/json"
	"html/template"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"github.com/vitalsdev/vitals/internal/app"
	"github.com/vitalsdev/vitals/internal/config"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
)

// runCmd runs a command in-process with stdin and returns its exit code,
// stdout and stderr.
func runCmd(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runIO(args, envOf(env), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every command answers --help on stdout with its usage and exits 0;
// "vitals help CMD" is the same.
func TestCommandsHelp(t *testing.T) {
	for _, cmd := range []string{"serve", "migrate", "healthcheck", "event", "token", "admin", "demo", "version"} {
		t.Run(cmd, func(t *testing.T) {
			code, out, errOut := runCmd(t, nil, "", cmd, "--help")
			if code != 0 || !strings.Contains(out, "usage: vitals") || errOut != "" {
				t.Fatalf("%s --help: exit %d\nstdout: %s\nstderr: %s", cmd, code, out, errOut)
			}
			code2, out2, _ := runCmd(t, nil, "", "help", cmd)
			if code2 != 0 || out2 != out {
				t.Errorf("vitals help %s differs from %s --help", cmd, cmd)
			}
		})
	}
	code, out, _ := runCmd(t, nil, "", "--help")
	if code != 0 || !strings.Contains(out, "migrate") || !strings.Contains(out, "healthcheck") || !strings.Contains(out, "demo") {
		t.Fatalf("vitals --help: %d %s", code, out)
	}
	// serve's help lists every setting with its variable.
	_, out, _ = runCmd(t, nil, "", "serve", "--help")
	for _, s := range config.Settings() {
		if !strings.Contains(out, "--"+s.FlagName()) || !strings.Contains(out, s.Env) {
			t.Errorf("serve --help does not list --%s (%s)", s.FlagName(), s.Env)
		}
	}
	if code, _, errOut := runCmd(t, nil, "", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, out, _ := runCmd(t, nil, "", "version"); code != 0 || !strings.HasPrefix(out, "vitals ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// A bad value stops every command before it does anything, with exit
// status 2 and a message naming the variable (or flag) and what it accepts,
// and never echoing a secret.
func TestCommandsBadConfiguration(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"serve"}, map[string]string{"VITALS_SHUTDOWN_TIMEOUT": "0s"}, "VITALS_SHUTDOWN_TIMEOUT: must be a duration"},
		{[]string{"serve"}, map[string]string{"PORT": "eighty"}, "PORT: must be a whole number from 0 to 65535"},
		{[]string{"serve", "--events-keep", "5"}, nil, "--events-keep: must be a whole number from 10"},
		{[]string{"serve", "--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"serve", "extra"}, nil, `unexpected argument "extra"`},
		{[]string{"serve"}, map[string]string{"REDIS_URL": "redis://:hunter2@[::1"}, "REDIS_URL"},
		{[]string{"migrate", "status"}, map[string]string{"DATABASE_URL": "mysql://root:hunter2@db/app"}, "DATABASE_URL: must be a postgres://"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://u:hunter2@db/app?sslmode=bogus"}, "DATABASE_URL: must be a valid postgres://"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://u:hunter2@db/app?pool_max_conns=many"}, "pool_max_conns"},
		{[]string{"serve"}, map[string]string{"VITALS_MONITOR_DATABASE_URL": "postgres://u:hunter2@db:99999/app"}, "VITALS_MONITOR_DATABASE_URL: must be a valid postgres:// or postgresql:// URL: invalid port"},
		{[]string{"migrate", "sideways"}, nil, `unknown action "sideways"`},
		{[]string{"migrate"}, nil, "say up, down or status"},
		{[]string{"migrate", "down", "x"}, nil, "VERSION must be a whole number"},
		{[]string{"demo"}, map[string]string{"VITALS_PG_SCHEMA": "Bad-Schema"}, "VITALS_PG_SCHEMA"},
		{[]string{"demo", "--count", "0"}, nil, "--count must be from 1 to 5000"},
		{[]string{"demo"}, map[string]string{"DATABASE_URL": "postgres://u:hunter2@127.0.0.1:1/x"}, "add --force"},
		{[]string{"admin"}, nil, "say set-password"},
		{[]string{"admin", "set-password", "hunter2hunter2"}, nil, "never an argument"},
		{[]string{"healthcheck"}, map[string]string{"PORT": "0"}, "PORT is 0"},
		{[]string{"version", "extra"}, nil, "unexpected argument"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			if tc.env == nil {
				tc.env = map[string]string{}
			}
			tc.env["VITALS_DATA_DIR"] = filepath.Join(t.TempDir(), "never-created")
			code, out, errOut := runCmd(t, tc.env, "", tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not say %q", errOut, tc.want)
			}
			if strings.Contains(out+errOut, "hunter2") {
				t.Errorf("the message echoes a secret: %q", errOut)
			}
		})
	}
}

func TestBadConfigExitsWithTwo(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"serve"}, envOf(map[string]string{"DATABASE_URL": "sqlite://x"}), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "DATABASE_URL") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

// vitals migrate on both backends: status lists what is applied, down rolls
// back the newest (or down to a version), up applies them again.
func TestMigrateCommand(t *testing.T) {
	backends := map[string]func(t *testing.T) map[string]string{
		"sqlite": func(t *testing.T) map[string]string { return map[string]string{"VITALS_DATA_DIR": t.TempDir()} },
		"postgres": func(t *testing.T) map[string]string {
			url, schema := postgrestest.Schema(t)
			return map[string]string{"DATABASE_URL": url, "VITALS_PG_SCHEMA": schema}
		},
	}
	for name, envFor := range backends {
		t.Run(name, func(t *testing.T) {
			env := envFor(t)
			countState := func(out, state string) int { return strings.Count(out, " "+state) }

			code, out, errOut := runCmd(t, env, "", "migrate", "up")
			if code != 0 {
				t.Fatalf("migrate up: %d %s %s", code, out, errOut)
			}
			total := countState(out, "applied")
			if total < 2 || countState(out, "pending") != 0 || !strings.Contains(out, "store: "+name) {
				t.Fatalf("after up:\n%s", out)
			}
			code, out, errOut = runCmd(t, env, "", "migrate", "down")
			if code != 0 || countState(out, "applied") != total-1 || countState(out, "pending") != 1 {
				t.Fatalf("after down (%d):\n%s%s", code, out, errOut)
			}
			// status changes nothing, even with a migration pending.
			code, out, _ = runCmd(t, env, "", "migrate", "status")
			if code != 0 || countState(out, "pending") != 1 {
				t.Fatalf("status:\n%s", out)
			}
			code, out, errOut = runCmd(t, env, "", "migrate", "down", "0")
			if code != 0 || countState(out, "applied") != 0 || countState(out, "pending") != total {
				t.Fatalf("after down 0 (%d):\n%s%s", code, out, errOut)
			}
			// Flags may come before the action.
			args := []string{"migrate"}
			if name == "sqlite" {
				args = append(args, "--data-dir", env["VITALS_DATA_DIR"])
			} else {
				args = append(args, "--pg-schema", env["VITALS_PG_SCHEMA"])
			}
			code, out, errOut = runCmd(t, env, "", append(args, "up")...)
			if code != 0 || countState(out, "applied") != total {
				t.Fatalf("after up again (%d):\n%s%s", code, out, errOut)
			}
		})
	}
}

// vitals admin set-password replaces the stored hash: from a piped line, or
// generated and printed once; a short one changes nothing.
func TestAdminSetPassword(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"VITALS_DATA_DIR": dir}
	storedHash := func() string {
		s, err := sqlite.Open(t.Context(), filepath.Join(dir, "vitals.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		h, err := s.Setting(t.Context(), app.AdminHashKey)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	code, out, errOut := runCmd(t, env, "correct horse battery\n", "admin", "set-password")
	if code != 0 || strings.Contains(out+errOut, "correct horse") {
		t.Fatalf("set-password: %d %q %q", code, out, errOut)
	}
	if bcrypt.CompareHashAndPassword([]byte(storedHash()), []byte("correct horse battery")) != nil {
		t.Fatal("the stored hash is not the piped password's")
	}

	code, _, errOut = runCmd(t, env, "short\n", "admin", "set-password")
	if code != 2 || !strings.Contains(errOut, "at least 8") {
		t.Fatalf("short password: %d %q", code, errOut)
	}
	if bcrypt.CompareHashAndPassword([]byte(storedHash()), []byte("correct horse battery")) != nil {
		t.Fatal("a refused password changed the stored hash")
	}

	code, out, _ = runCmd(t, env, "", "admin", "set-password", "--generate")
	m := regexp.MustCompile(`password is\s+(\S+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("--generate: %d %q", code, out)
	}
	if bcrypt.CompareHashAndPassword([]byte(storedHash()), []byte(m[1])) != nil {
		t.Fatal("the stored hash is not the generated password's")
	}

	// A server started on that store afterwards uses the new password
	// and prints none of its own.
	sp := serveCaptured(t, map[string]string{"VITALS_DATA_DIR": dir})
	sp.stop()
	if strings.Contains(sp.stdout.String(), "admin password is") {
		t.Errorf("the server generated a password over the one set: %s", sp.stdout)
	}
}

// The demo's events are the seed's six types, in Russian and English, with
// plausible addresses and details, spread over the past day, and valid by
// the API's own rules; a server started on the store serves them.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCmd(t, map[string]string{"VITALS_DATA_DIR": dir}, "", "demo")
	if code != 0 || !strings.Contains(out, "Wrote 300 demo events") {
		t.Fatalf("demo: %d %q %q", code, out, errOut)
	}
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "vitals.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.ListEvents(t.Context(), storage.EventFilter{})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkDemoEvents(t, events, 300, 24*time.Hour)

	// `go run .` on that directory: the feed is populated.
	const readToken = "read-token-for-the-demo-test"
	sp := serveCaptured(t, map[string]string{"VITALS_DATA_DIR": dir, "VITALS_READ_TOKEN": readToken, "VITALS_ADMIN_PASSWORD": "admin-password-for-tests"})
	req, _ := http.NewRequest("GET", sp.base+"/api/v1/events?limit=200", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Events []storage.Event `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/events: %d %v", resp.StatusCode, err)
	}
	if len(page.Events) != 200 {
		t.Errorf("the server lists %d demo events, want 200 (a full page)", len(page.Events))
	}

	// And the dashboard, signed in through the form, shows the newest.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err = browser.Get(sp.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(form)
	if m == nil {
		t.Fatalf("no CSRF token on /login: %.300s", form)
	}
	resp, err = browser.PostForm(sp.base+"/login", url.Values{"csrf": {string(m[1])}, "username": {"admin"}, "password": {"admin-password-for-tests"}})
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	newest := template.HTMLEscapeString(page.Events[0].Message)
	if !strings.Contains(string(html), newest) {
		t.Errorf("the dashboard does not show the newest demo event %q", newest)
	}
}

func TestDemoPostgres(t *testing.T) {
	url, schema := postgrestest.Schema(t)
	env := map[string]string{"DATABASE_URL": url, "VITALS_PG_SCHEMA": schema}
	code, out, errOut := runCmd(t, env, "", "demo", "--force", "--count", "120", "--hours", "6")
	if code != 0 {
		t.Fatalf("demo: %d %q %q", code, out, errOut)
	}
	s, err := postgres.Open(t.Context(), url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	events, err := s.ListEvents(t.Context(), storage.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	checkDemoEvents(t, events, 120, 6*time.Hour)
}

var demoTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_.]*$`)

func checkDemoEvents(t *testing.T, events []storage.Event, n int, span time.Duration) {
	t.Helper()
	if len(events) != n {
		t.Fatalf("%d events stored, want %d", len(events), n)
	}
	types := map[string]int{}
	var russian, english int
	now := time.Now()
	oldest, newest := now, time.Time{}
	for _, e := range events {
		types[e.Type]++
		if !demoTypePattern.MatchString(e.Type) || len(e.Type) > 50 || e.Message == "" || len([]rune(e.Message)) > 2000 {
			t.Errorf("invalid event: %+v", e)
		}
		if e.UserEmail != nil {
			if a, err := mail.ParseAddress(*e.UserEmail); err != nil || a.Address != *e.UserEmail {
				t.Errorf("implausible email %q", *e.UserEmail)
			}
		}
		if e.Details != nil {
			var obj map[string]any
			if err := json.Unmarshal(e.Details, &obj); err != nil || len(obj) == 0 {
				t.Errorf("details are not a JSON object: %s", e.Details)
			}
		}
		if strings.IndexFunc(e.Message, func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }) >= 0 {
			russian++
		} else {
			english++
		}
		if e.CreatedAt.Before(oldest) {
			oldest = e.CreatedAt
		}
		if e.CreatedAt.After(newest) {
			newest = e.CreatedAt
		}
	}
	for _, typ := range []string{"user_registered", "user_approved", "user_rejected", "stream_started", "stream_stopped", "track_added"} {
		if types[typ] == 0 {
			t.Errorf("no %s event among %v", typ, types)
		}
	}
	if len(types) != 6 {
		t.Errorf("types %v, want the seed's six", types)
	}
	if russian < n/5 || english < n/5 {
		t.Errorf("%d Russian and %d English messages: want both", russian, english)
	}
	// Spread over the span: the oldest from its first half, none in the
	// future.
	if oldest.Before(now.Add(-span-time.Minute)) || oldest.After(now.Add(-span/2)) || newest.After(now) {
		t.Errorf("events from %s to %s, want them spread over the last %s", oldest, newest, span)
	}
}

// demoEvents is deterministic for a given source, sorted oldest first, and
// each registration is decided after it happened.
func TestDemoEventsStories(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	evs := demoEvents(newTestRand(), now, 24*time.Hour, 500)
	if len(evs) != 500 {
		t.Fatalf("%d events", len(evs))
	}
	registered := map[string]time.Time{}
	for i, e := range evs {
		if e.OccurredAt == nil || !e.OccurredAt.Before(now) || e.OccurredAt.Before(now.Add(-24*time.Hour)) {
			t.Fatalf("event %d occurred at %v", i, e.OccurredAt)
		}
		if i > 0 && e.OccurredAt.Before(*evs[i-1].OccurredAt) {
			t.Fatalf("not sorted at %d", i)
		}
		switch e.Type {
		case "user_registered":
			registered[*e.UserEmail] = *e.OccurredAt
		case "user_approved", "user_rejected":
			if at, ok := registered[*e.UserEmail]; ok && !at.Before(*e.OccurredAt) {
				t.Errorf("%s decided before registering", *e.UserEmail)
			}
		}
	}
}

// Every seed gives the six types and both languages, for n from 7 up,
// since no test may depend on the draw (issue 11).
func TestDemoEventsEverySeedHasEveryType(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for seed := range uint64(300) {
		for _, c := range []struct {
			n    int
			span time.Duration
		}{{7, time.Hour}, {12, 6 * time.Hour}, {120, 6 * time.Hour}, {1000, 24 * time.Hour}} {
			evs := demoEvents(rand.New(rand.NewPCG(seed, seed*7+1)), now, c.span, c.n)
			types := map[string]bool{}
			var ru, en int
			for _, e := range evs {
				types[e.Type] = true
				if strings.IndexFunc(e.Message, func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }) >= 0 {
					ru++
				} else {
					en++
				}
			}
			if len(evs) != c.n || len(types) != 6 {
				t.Fatalf("seed %d, n %d: %d events of types %v", seed, c.n, len(evs), types)
			}
			if c.n >= 100 && (ru < c.n/5 || en < c.n/5) {
				t.Fatalf("seed %d, n %d: %d Russian, %d English", seed, c.n, ru, en)
			}
		}
	}
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
