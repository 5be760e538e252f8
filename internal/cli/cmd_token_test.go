package cli

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
)

// tokenEnvs are the environments `vitals token` is tried in: SQLite in a
// data directory, and PostgreSQL in a fresh schema.
func tokenEnvs(t *testing.T, fn func(t *testing.T, env map[string]string, open func() storage.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, map[string]string{"VITALS_DATA_DIR": dir}, func() storage.Store {
			s, err := sqlite.Open(t.Context(), filepath.Join(dir, "vitals.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		rawURL, schema := postgrestest.Schema(t)
		fn(t, map[string]string{"DATABASE_URL": rawURL, "VITALS_PG_SCHEMA": schema}, func() storage.Store {
			s, err := postgres.Open(t.Context(), rawURL, postgres.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if err := s.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

var tokenShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestTokenCommand(t *testing.T) {
	tokenEnvs(t, func(t *testing.T, env map[string]string, open func() storage.Store) {
		code, out, errOut := runCmd(t, env, "", "token", "list")
		if code != 0 || out != "" || !strings.Contains(errOut, "No stored tokens") {
			t.Fatalf("list of none: %d %q %q", code, out, errOut)
		}
		code, out, errOut = runCmd(t, env, "", "token", "create", "--name", "ci", "--kind", "ingest")
		if code != 0 {
			t.Fatalf("create: %d %s %s", code, out, errOut)
		}
		token := strings.TrimSpace(out)
		if !tokenShape.MatchString(token) || strings.Count(out, "\n") != 1 {
			t.Fatalf("create printed %q, want the token alone on a line", out)
		}
		if strings.Contains(errOut, token) || !strings.Contains(errOut, "shown only this once") {
			t.Errorf("create's message %q", errOut)
		}
		if code, _, errOut := runCmd(t, env, "", "token", "create", "--name", "ci", "--kind", "read"); code != 1 || !strings.Contains(errOut, "exists") {
			t.Errorf("create with a live name: %d %q", code, errOut)
		}
		if code, out, _ := runCmd(t, env, "", "token", "create", "--kind", "read", "--name", "grafana"); code != 0 || !tokenShape.MatchString(strings.TrimSpace(out)) {
			t.Fatalf("create read: %d %q", code, out)
		}

		code, out, _ = runCmd(t, env, "", "token", "list")
		if code != 0 || strings.Contains(out, token) {
			t.Fatalf("list: %d %s", code, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.Contains(lines[0], "LAST USED") ||
			!regexp.MustCompile(`^1 +ci +ingest +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +never +-$`).MatchString(lines[1]) ||
			!strings.Contains(lines[2], "grafana") {
			t.Fatalf("list:\n%s", out)
		}

		// The stored hash is the token's SHA-256; the token is nowhere.
		s := open()
		list, err := s.Tokens(t.Context())
		if err != nil || len(list) != 2 || list[0].Hash != handlers.HashToken(token) {
			t.Fatalf("stored tokens %+v, %v", list, err)
		}

		if code, out, errOut := runCmd(t, env, "", "token", "revoke", "ci"); code != 0 || !strings.Contains(out, "revoked") {
			t.Fatalf("revoke by name: %d %q %q", code, out, errOut)
		}
		if code, _, errOut := runCmd(t, env, "", "token", "revoke", "ci"); code != 1 || !strings.Contains(errOut, "no live token") {
			t.Errorf("revoke a revoked name: %d %q", code, errOut)
		}
		if code, out, _ := runCmd(t, env, "", "token", "revoke", strconv.FormatInt(list[0].ID, 10)); code != 0 || !strings.Contains(out, "already revoked") {
			t.Errorf("revoke a revoked id: %d %q", code, out)
		}
		if code, out, errOut := runCmd(t, env, "", "token", "revoke", "--events-keep", "1000", strconv.FormatInt(list[1].ID, 10)); code != 0 || !strings.Contains(out, "grafana") {
			t.Errorf("revoke by id after a flag: %d %q %q", code, out, errOut)
		}
		// A revoked token frees its name.
		if code, _, errOut := runCmd(t, env, "", "token", "create", "--name", "ci", "--kind", "ingest"); code != 0 {
			t.Fatalf("create with a revoked token's name: %d %s", code, errOut)
		}

		// Every create and revoke is in the feed, never with the token.
		evs, err := s.ListEvents(t.Context(), storage.EventFilter{Types: []string{storage.TypeTokenCreated, storage.TypeTokenRevoked}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Type+" "+e.Message)
			if strings.Contains(e.Message+string(e.Details), token) {
				t.Errorf("event %q holds the token", e.Message)
			}
		}
		slices.Sort(got)
		want := []string{
			`token.created API token "ci" (ingest) created`,
			`token.created API token "ci" (ingest) created`,
			`token.created API token "grafana" (read) created`,
			`token.revoked API token "ci" (ingest) revoked`,
			`token.revoked API token "grafana" (read) revoked`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("feed: %q, want %q", got, want)
		}
	})
}

func TestTokenCommandUsage(t *testing.T) {
	env := map[string]string{"VITALS_DATA_DIR": filepath.Join(t.TempDir(), "never-created")}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "say create, list or revoke"},
		{[]string{"token", "mint"}, `unknown action "mint"`},
		{[]string{"token", "create", "--kind", "read"}, "--name must be"},
		{[]string{"token", "create", "--name", "1st", "--kind", "read"}, "--name must be"},
		{[]string{"token", "create", "--name", "ci", "--kind", "root"}, "--kind must be read, ingest or admin"},
		{[]string{"token", "create", "--name", "ci"}, "--kind must be read, ingest or admin"},
		{[]string{"token", "list", "--name", "ci"}, "--name and --kind are for create"},
		{[]string{"token", "revoke"}, "say which token"},
		{[]string{"token", "list", "extra"}, `unexpected argument "extra"`},
	} {
		code, out, errOut := runCmd(t, env, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want 2 and %q", tc.args, code, errOut, out, tc.want)
		}
	}
	code, out, _ := runCmd(t, env, "", "token", "--help")
	if code != 0 || !strings.Contains(out, "usage: vitals token") || !strings.Contains(out, "--kind") {
		t.Errorf("token --help: %d %s", code, out)
	}
}

// TestTokenCommandAgainstServer: a token made and revoked with the command
// is accepted, then refused, by a server already running on the same store,
// without a restart.
func TestTokenCommandAgainstServer(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"VITALS_DATA_DIR": dir, "VITALS_ADMIN_PASSWORD": "correct horse battery"}
	base, _ := startServe(t, env)
	code, out, errOut := runCmd(t, env, "", "token", "create", "--name", "reader", "--kind", "read")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	token := strings.TrimSpace(out)
	get := func() int {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(want int) time.Duration {
		start := time.Now()
		for get() != want {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("the server does not answer %d for the token", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitFor(http.StatusOK)
	if code, _, errOut := runCmd(t, env, "", "token", "revoke", "reader"); code != 0 {
		t.Fatalf("revoke: %d %s", code, errOut)
	}
	took := waitFor(http.StatusUnauthorized)
	t.Logf("the running server refused the revoked token after %s", took.Round(time.Millisecond))
}

// TestAdminTokenErases: a token made with --kind admin erases one person's
// events through the API with no session or CSRF token, on both backends,
// while read and ingest tokens are still refused there and the admin token
// itself reads nothing. A bad address changes nothing whoever sends it.
func TestAdminTokenErases(t *testing.T) {
	tokenEnvs(t, func(t *testing.T, env map[string]string, open func() storage.Store) {
		const ingest = "ingest-token-for-the-erasure-test"
		env["VITALS_ADMIN_PASSWORD"] = "correct horse battery"
		env["VITALS_INGEST_TOKEN"] = ingest
		if env["VITALS_DATA_DIR"] == "" {
			env["VITALS_DATA_DIR"] = t.TempDir()
		}
		mint := func(name, kind string) string {
			code, out, errOut := runCmd(t, env, "", "token", "create", "--name", name, "--kind", kind)
			if code != 0 {
				t.Fatalf("create %s: %d %s", kind, code, errOut)
			}
			return strings.TrimSpace(out)
		}
		admin, reader := mint("eraser", storage.TokenAdmin), mint("reader", storage.TokenRead)
		base, _ := startServe(t, env)
		// On PostgreSQL the store connects in the background.
		waitHealthy(t, base)
		do := func(method, target, token, body string) (int, string) {
			req, _ := http.NewRequestWithContext(t.Context(), method, base+target, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := do(http.MethodPost, "/api/v1/events", ingest,
			`[{"type":"user_registered","message":"Anna","user_email":"anna@example.com"},{"type":"user_registered","message":"Boris","user_email":"boris@example.com"}]`); code != http.StatusCreated {
			t.Fatalf("post: %d %s", code, body)
		}
		// The server picks stored tokens up within a second.
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, _ := do(http.MethodGet, "/api/v1/events", reader, "")
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stored read token is not accepted: %d", code)
			}
			time.Sleep(20 * time.Millisecond)
		}
		const target = "/api/v1/events?user_email=anna%40example.com"
		for _, tc := range []struct {
			name, method, target, token string
			want                        int
		}{
			{"read token may not erase", http.MethodDelete, target, reader, http.StatusForbidden},
			{"ingest token may not erase", http.MethodDelete, target, ingest, http.StatusForbidden},
			{"admin token reads nothing", http.MethodGet, "/api/v1/events", admin, http.StatusForbidden},
			{"admin token reads no metrics", http.MethodGet, "/api/v1/system/metrics", admin, http.StatusForbidden},
			{"admin token posts nothing", http.MethodPost, "/api/v1/events", admin, http.StatusForbidden},
			{"admin token, no address", http.MethodDelete, "/api/v1/events", admin, http.StatusBadRequest},
			{"admin token, not an address", http.MethodDelete, "/api/v1/events?user_email=anna", admin, http.StatusBadRequest},
		} {
			body := ""
			if tc.method == http.MethodPost {
				body = `{"type":"user_registered","message":"x"}`
			}
			if code, out := do(tc.method, tc.target, tc.token, body); code != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, code, out, tc.want)
			}
		}
		s := open()
		count := func(email string) int {
			evs, err := s.ListEvents(t.Context(), storage.EventFilter{Types: []string{"user_registered"}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range evs {
				if e.UserEmail != nil && *e.UserEmail == email {
					n++
				}
			}
			return n
		}
		if a, b := count("anna@example.com"), count("boris@example.com"); a != 1 || b != 1 {
			t.Fatalf("before the erasure: anna %d, boris %d events; want 1 and 1 (the refused requests changed something)", a, b)
		}
		code, body := do(http.MethodDelete, target, admin, "")
		if code != http.StatusOK || !strings.Contains(body, `"deleted":1`) {
			t.Fatalf("admin token erases: %d %s", code, body)
		}
		if a, b := count("anna@example.com"), count("boris@example.com"); a != 0 || b != 1 {
			t.Errorf("after the erasure: anna %d, boris %d events; want 0 and 1", a, b)
		}
	})
}
