package faults

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Restarted while PostgreSQL is down, vitals still signs its admin in and
// keeps the sessions it signed: the session key and the password hash are
// copied to the data directory (0600) once read from the store.
func TestSignInDuringOutage(t *testing.T) {
	serial(t)
	pg := startPostgres(t)
	env := baseEnv(t)
	delete(env, "VITALS_ADMIN_PASSWORD") // the stored password, as in production
	env["DATABASE_URL"] = pg.url(pg.port)
	const password = "password-kept-through-an-outage"
	setPassword(t, env, password)

	v := startVitals(t, env)
	waitHealth(t, v.base, 200, 30*time.Second)
	old := newAdminBrowser(t, v.base)
	if code := old.signIn(t, password); code != http.StatusSeeOther {
		t.Fatalf("sign-in with the store up: %d, want 303", code)
	}
	cache := filepath.Join(env["VITALS_DATA_DIR"], "secrets.json")
	st, err := os.Stat(cache)
	if err != nil {
		t.Fatalf("no copy of the secrets in the data directory: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %o, want 0600", cache, st.Mode().Perm())
	}
	b, _ := os.ReadFile(cache)
	if !strings.Contains(string(b), "admin_password_hash") || !strings.Contains(string(b), "session_key") {
		t.Errorf("%s lacks the hash or the session key: %d bytes", cache, len(b))
	}

	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	v.exited(t, time.Now(), 15*time.Second)
	pg.stop()

	v2 := startVitals(t, env)
	if code, body := health(v2.base); code != 503 {
		t.Errorf("/health with PostgreSQL stopped: %d %s, want 503", code, body)
	}
	old.base = v2.base
	if code := old.get(t, "/"); code != http.StatusOK {
		t.Errorf("GET / with a session signed before the outage: %d, want 200", code)
	}
	fresh := newAdminBrowser(t, v2.base)
	if code := fresh.signIn(t, password); code != http.StatusSeeOther {
		t.Errorf("sign-in during the outage: %d, want 303", code)
	}
	if code := fresh.get(t, "/"); code != http.StatusOK {
		t.Errorf("GET / signed in during the outage: %d, want 200", code)
	}
	t.Logf("PostgreSQL stopped: the old session and a new sign-in both answer 200")
}

// setPassword runs `vitals admin set-password` with the password on stdin.
func setPassword(t *testing.T, env map[string]string, password string) {
	t.Helper()
	cmd := exec.Command(binary, "admin", "set-password")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vitals admin set-password: %v %s", err, out)
	}
}

// adminBrowser signs in through the form, as a browser does.
type adminBrowser struct {
	base   string
	client *http.Client
}

func newAdminBrowser(t *testing.T, base string) *adminBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &adminBrowser{base: base, client: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *adminBrowser) signIn(t *testing.T, password string) int {
	t.Helper()
	resp, err := b.client.Get(b.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("GET /login %d: no csrf field in %.300s", resp.StatusCode, page)
	}
	form := url.Values{"csrf": {string(m[1])}, "username": {"admin"}, "password": {password}}
	resp, err = b.client.PostForm(b.base+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (b *adminBrowser) get(t *testing.T, path string) int {
	t.Helper()
	resp, err := b.client.Get(b.base + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// `vitals admin set-password` on a running server's store: the old
// password and every session signed before it stop working within a
// sample interval or two, with no restart, and the new password signs in.
func TestPasswordChangeEndsSessions(t *testing.T) {
	serial(t)
	env := baseEnv(t)
	delete(env, "VITALS_ADMIN_PASSWORD")
	setPassword(t, env, "the-first-password")
	v := startVitals(t, env)
	waitHealth(t, v.base, 200, 30*time.Second)
	old := newAdminBrowser(t, v.base)
	if code := old.signIn(t, "the-first-password"); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d, want 303", code)
	}
	setPassword(t, env, "the-second-password")
	start := time.Now()
	for old.get(t, "/") == http.StatusOK {
		if time.Since(start) > 10*time.Second {
			t.Fatal("a session signed before the password change still works 10 s after it")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the old session ended %s after the password change", time.Since(start).Round(time.Millisecond))
	if code := newAdminBrowser(t, v.base).signIn(t, "the-first-password"); code == http.StatusSeeOther {
		t.Error("the old password still signs in after the change")
	}
	if code := newAdminBrowser(t, v.base).signIn(t, "the-second-password"); code != http.StatusSeeOther {
		t.Errorf("sign-in with the new password: %d, want 303", code)
	}
}
