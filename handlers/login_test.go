package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
	"github.com/vitalsdev/vitals/web"
)

// browser is a client that keeps cookies between requests, as a browser
// does, over the harness's real app.
type browser struct {
	h       *harness
	cookies map[string]*http.Cookie
	// header is sent with every request (Accept-Language, forwarded
	// headers).
	header http.Header
}

func (h *harness) browser() *browser {
	return &browser{h: h, cookies: map[string]*http.Cookie{}, header: http.Header{}}
}

func (b *browser) send(method, target string, form url.Values) (int, http.Header, string) {
	b.h.t.Helper()
	var body []byte
	ctype := ""
	if form != nil {
		body, ctype = []byte(form.Encode()), "application/x-www-form-urlencoded"
	}
	status, hdr, out := b.h.do(method, target, body, ctype, func(r *http.Request) {
		for k, v := range b.header {
			r.Header[k] = v
		}
		for _, c := range b.cookies {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	})
	for _, line := range hdr.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			b.h.t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return status, hdr, string(out)
}

func (b *browser) get(target string) (int, http.Header, string) { return b.send("GET", target, nil) }

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// token is the CSRF token of the first form on a page.
func token(t testing.TB, page string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(page)
	if m == nil || m[1] == "" {
		t.Fatalf("no CSRF token on the page: %.400s", page)
	}
	return m[1]
}

// signIn fills the sign-in form with password and returns the answer.
func (b *browser) signIn(password string) (int, http.Header, string) {
	b.h.t.Helper()
	_, _, page := b.get("/login")
	return b.send("POST", "/login", url.Values{"csrf": {token(b.h.t, page)}, "username": {handlers.AdminUser}, "password": {password}})
}

// eventsOf lists the stored events of one type.
func (h *harness) eventsOf(typ string) []storage.Event {
	h.t.Helper()
	evs, err := h.store.ListEvents(context.Background(), storage.EventFilter{Types: []string{typ}})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func TestSignInAndOut(t *testing.T) {
	h := newSQLiteHarness(t)
	b := h.browser()

	// Signed out, the dashboard sends the browser to the form.
	if status, hdr, _ := b.get("/"); status != 303 || hdr.Get("Location") != "/login" {
		t.Fatalf("GET / signed out: %d %q", status, hdr.Get("Location"))
	}
	status, hdr, page := b.get("/login")
	if status != 200 || !strings.Contains(page, `action="/login"`) || !strings.Contains(page, `autocomplete="current-password"`) {
		t.Fatalf("GET /login: %d %.300s", status, page)
	}
	if c := b.cookies["vitals_csrf"]; c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("CSRF cookie: %+v", c)
	}
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP of the form: %q", hdr.Get("Content-Security-Policy"))
	}

	status, hdr, _ = b.send("POST", "/login", url.Values{"csrf": {token(t, page)}, "username": {"admin"}, "password": {adminPassword}})
	if status != 303 || hdr.Get("Location") != "/" {
		t.Fatalf("sign-in: %d %q", status, hdr.Get("Location"))
	}
	sess := b.cookies[handlers.SessionCookieName]
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || sess.MaxAge != 12*3600 {
		t.Fatalf("session cookie: %+v", sess)
	}
	if b.cookies["vitals_csrf"] != nil {
		t.Error("the pre-session CSRF cookie outlived the sign-in")
	}
	status, _, dash := b.get("/")
	if status != 200 || !strings.Contains(dash, `id="cards"`) {
		t.Fatalf("dashboard after sign-in: %d", status)
	}
	// Signed in, the form sends the browser on to the dashboard.
	if status, hdr, _ := b.get("/login"); status != 303 || hdr.Get("Location") != "/" {
		t.Errorf("GET /login signed in: %d %q", status, hdr.Get("Location"))
	}

	// The sign-in is in the feed, with the address and never the password.
	in := h.eventsOf("admin.signed_in")
	if len(in) != 1 || !strings.Contains(string(in[0].Details), `"address":"0.0.0.0"`) {
		t.Fatalf("sign-in events: %+v", in)
	}
	for _, e := range h.stored() {
		if strings.Contains(e.Message+string(e.Details), adminPassword) {
			t.Fatalf("an event holds the password: %+v", e)
		}
	}

	// Sign out: the form needs the page's token, then the cookie is gone.
	if status, _, _ := b.send("POST", "/logout", url.Values{"csrf": {"forged"}}); status != 403 {
		t.Fatalf("sign-out with a forged token: %d", status)
	}
	if status, hdr, _ := b.send("POST", "/logout", url.Values{"csrf": {token(t, dash)}}); status != 303 || hdr.Get("Location") != "/login" {
		t.Fatalf("sign-out: %d %q", status, hdr.Get("Location"))
	}
	if b.cookies[handlers.SessionCookieName] != nil {
		t.Fatal("the session cookie survived sign-out")
	}
	if status, _, _ := b.get("/"); status != 303 {
		t.Fatalf("GET / after sign-out: %d", status)
	}
}

// Behind TLS, or a proxy that says the browser used https, cookies are
// Secure.
func TestSessionCookieSecureBehindTLS(t *testing.T) {
	h := newSQLiteHarness(t)
	b := h.browser()
	b.header.Set("X-Forwarded-Proto", "https")
	if status, _, _ := b.signIn(adminPassword); status != 303 {
		t.Fatalf("sign-in: %d", status)
	}
	if c := b.cookies[handlers.SessionCookieName]; c == nil || !c.Secure {
		t.Fatalf("session cookie behind https: %+v", c)
	}
}

// A form without its token, or with another browser's, changes nothing.
func TestFormsNeedTheirCSRFToken(t *testing.T) {
	h := newSQLiteHarness(t)
	victim, attacker := h.browser(), h.browser()
	_, _, page := attacker.get("/login")
	foreign := token(t, page)
	victim.get("/login")
	for name, form := range map[string]url.Values{
		"no token":      {"username": {"admin"}, "password": {adminPassword}},
		"foreign token": {"csrf": {foreign}, "username": {"admin"}, "password": {adminPassword}},
	} {
		status, _, body := victim.send("POST", "/login", form)
		if status != 403 || !strings.Contains(body, "The form had expired") {
			t.Errorf("%s: %d", name, status)
		}
		if victim.cookies[handlers.SessionCookieName] != nil {
			t.Fatalf("%s: signed in", name)
		}
	}
	// The language switch needs it too.
	victim.send("POST", "/prefs", url.Values{"lang": {"ru"}, "back": {"/login"}})
	if victim.cookies["vitals_lang"] != nil {
		t.Error("the language changed without a token")
	}
	if n := len(h.stored()); n != 0 {
		t.Fatalf("%d events recorded for refused forms", n)
	}
}

// Ten wrong passwords in a row from one address: after five the address is
// locked out with a clear message, and not even the right password gets in
// until the lock ends. The feed gets one event, the lock-out with the count,
// never one per failure (an unauthenticated client must not flood it).
func TestSignInRateLimit(t *testing.T) {
	h := newHarnessConfig(t, sqlitetest.Open(t, sqlite.Options{}), func(c *handlers.Config) { c.TrustProxy = true })
	b := h.browser()
	b.header.Set("Fly-Client-IP", "203.0.113.7")
	var statuses []int
	for range 10 {
		status, hdr, body := b.signIn("wrong password")
		statuses = append(statuses, status)
		if status == 429 {
			if !strings.Contains(body, "Too many failed sign-ins from your address. Try again in 15 minutes.") || hdr.Get("Retry-After") == "" {
				t.Fatalf("429 without the message or Retry-After: %q %.500s", hdr.Get("Retry-After"), body)
			}
		} else if status != 401 || !strings.Contains(body, "Wrong user name or password.") {
			t.Fatalf("attempt %d: %d", len(statuses), status)
		}
	}
	want := []int{401, 401, 401, 401, 429, 429, 429, 429, 429, 429}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
	if status, _, _ := b.signIn(adminPassword); status != 429 || b.cookies[handlers.SessionCookieName] != nil {
		t.Fatalf("right password while locked out: %d", status)
	}
	if n := len(h.eventsOf("admin.sign_in_failed")); n != 0 {
		t.Errorf("%d failed sign-ins recorded one by one, want none", n)
	}
	locked := h.eventsOf("admin.locked_out")
	if len(locked) != 1 || !strings.Contains(locked[0].Message, "203.0.113.7") || !strings.Contains(string(locked[0].Details), `"failures":5`) {
		t.Errorf("lock-outs: %+v", locked)
	}

	// Another address is not locked out.
	other := h.browser()
	other.header.Set("Fly-Client-IP", "198.51.100.1")
	if status, _, _ := other.signIn(adminPassword); status != 303 {
		t.Fatalf("another address: %d", status)
	}
}

// Without VITALS_TRUST_PROXY the forwarded headers are ignored: changing
// them does not escape the limit.
func TestSignInRateLimitIgnoresUntrustedHeaders(t *testing.T) {
	h := newSQLiteHarness(t)
	b := h.browser()
	for i := range 6 {
		b.header.Set("Fly-Client-IP", "192.0.2."+strconv.Itoa(i+1))
		b.header.Set("X-Forwarded-For", "192.0.2."+strconv.Itoa(i+1))
		b.signIn("wrong password")
	}
	if status, _, _ := b.signIn(adminPassword); status != 429 {
		t.Fatalf("spoofed headers escaped the limit: %d", status)
	}
}

// Without VITALS_SESSION_KEY the key is generated once and kept in the
// store: a second app on the same store (a restart, another instance)
// accepts the first one's session.
func TestSessionKeyKeptInTheStore(t *testing.T) {
	store := sqlitetest.Open(t, sqlite.Options{})
	noKey := func(c *handlers.Config) { c.SessionKey = nil }
	first := newHarnessConfig(t, store, noKey)
	b := first.browser()
	if status, _, _ := b.signIn(adminPassword); status != 303 {
		t.Fatalf("sign-in: %d", status)
	}
	key, err := store.Setting(context.Background(), handlers.SessionKeySetting)
	if err != nil || len(key) < handlers.MinSessionKeyLen {
		t.Fatalf("stored key: %d characters, %v", len(key), err)
	}
	second := newHarnessConfig(t, store, noKey)
	b.h = second
	if status, _, _ := b.get("/"); status != 200 {
		t.Fatalf("the second instance refused the session: %d", status)
	}
	// The harness's own key signs differently: its cookie is refused here.
	if status, _, _ := second.do("GET", "/", nil, "", asAdmin); status != 303 {
		t.Fatalf("a cookie signed with another key: %d", status)
	}
}

// htmx's polls get a 401 that sends the page to the form once the session
// has ended, never a Basic dialog.
func TestPollAfterSessionEnded(t *testing.T) {
	h := newSQLiteHarness(t)
	for _, path := range []string{"/partials/cards", "/partials/events"} {
		status, hdr, _ := h.do("GET", path, nil, "", func(r *http.Request) {
			r.Header.Set("HX-Request", "true")
			r.Header.Set("HX-Current-URL", "http://vitals.example/?type=track_added&q=anna")
		})
		want := "/login?expired=1&next=" + url.QueryEscape("/?type=track_added&q=anna")
		if status != 401 || hdr.Get("HX-Redirect") != want || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Cookie ") {
			t.Errorf("%s: %d %q %q", path, status, hdr.Get("HX-Redirect"), hdr.Get("WWW-Authenticate"))
		}
	}
	// A current URL that is not a path here is not kept.
	_, hdr, _ := h.do("GET", "/partials/cards", nil, "", func(r *http.Request) {
		r.Header.Set("HX-Request", "true")
		r.Header.Set("HX-Current-URL", "http://vitals.example//evil.example/x")
	})
	if hdr.Get("HX-Redirect") != "/login?expired=1" {
		t.Errorf("foreign current URL: %q", hdr.Get("HX-Redirect"))
	}
}

// An ended session lands on the form, which says so, and signing in goes
// back to the same view, filters and search included; next is only ever
// a path on this server.
func TestSignInReturnsToTheView(t *testing.T) {
	h := newSQLiteHarness(t)
	b := h.browser()
	b.cookies[handlers.SessionCookieName] = &http.Cookie{Name: handlers.SessionCookieName, Value: "ended"}
	view := "/?type=track_added&q=anna"
	status, hdr, _ := b.get(view)
	loc := hdr.Get("Location")
	if status != 303 || loc != "/login?expired=1&next="+url.QueryEscape(view) {
		t.Fatalf("GET %s with an ended session: %d %q", view, status, loc)
	}
	delete(b.cookies, handlers.SessionCookieName)
	_, _, form := b.get(loc)
	if !strings.Contains(form, "Your session has ended") || !strings.Contains(form, `name="next" value="/?type=track_added&amp;q=anna"`) {
		t.Fatalf("the form: %.2000s", form)
	}
	status, hdr, _ = b.send("POST", "/login", url.Values{"csrf": {token(t, form)}, "username": {"admin"}, "password": {adminPassword}, "next": {view}})
	if status != 303 || hdr.Get("Location") != view {
		t.Fatalf("sign-in: %d %q", status, hdr.Get("Location"))
	}
	if _, _, page := b.get(hdr.Get("Location")); !strings.Contains(page, `value="track_added" checked`) || !strings.Contains(page, `value="anna"`) {
		t.Fatal("the view lost its filter")
	}

	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "evil", "/\x00"} {
		c := h.browser()
		_, _, form := c.get("/login?next=" + url.QueryEscape(next))
		if strings.Contains(form, `name="next"`) {
			t.Errorf("next=%q is kept on the form", next)
		}
		status, hdr, _ := c.send("POST", "/login", url.Values{"csrf": {token(t, form)}, "username": {"admin"}, "password": {adminPassword}, "next": {next}})
		if status != 303 || hdr.Get("Location") != "/" {
			t.Errorf("next=%q: %d %q", next, status, hdr.Get("Location"))
		}
	}
}

// The language comes from Accept-Language until the switch picks one, which
// is remembered; the theme switch likewise.
func TestLanguageAndThemeSwitches(t *testing.T) {
	h := newSQLiteHarness(t)
	b := h.browser()
	b.header.Set("Accept-Language", "ru-RU,ru;q=0.9,en;q=0.8")
	_, hdr, page := b.get("/login")
	if !strings.Contains(page, `<html lang="ru">`) || !strings.Contains(page, "Войти") || hdr.Get("Content-Language") != "ru" {
		t.Fatalf("Russian form: %.300s", page)
	}
	b.signIn(adminPassword)
	_, _, dash := b.get("/")
	for _, want := range []string{"Процессор", "Подключения к базе", "Неприменимо", "События", "Сам vitals"} {
		if !strings.Contains(dash, want) {
			t.Errorf("Russian dashboard lacks %q", want)
		}
	}
	// The sign-in is vitals' own event: shown with its chip, in Russian.
	own := "/?type=" + url.QueryEscape(web.OwnChip())
	if _, _, p := b.get(own); !strings.Contains(p, "Вход администратора") || !strings.Contains(p, "Администратор вошёл с адреса 0.0.0.0") {
		t.Errorf("Russian own events: the sign-in is not worded in Russian")
	}
	status, hdr, _ := b.send("POST", "/prefs", url.Values{"csrf": {token(t, dash)}, "lang": {"en"}, "theme": {"dark"}, "back": {"/"}})
	if status != 303 || hdr.Get("Location") != "/" {
		t.Fatalf("prefs: %d %q", status, hdr.Get("Location"))
	}
	if c := b.cookies["vitals_lang"]; c == nil || c.Value != "en" || c.MaxAge < 30*24*3600 {
		t.Fatalf("language cookie: %+v", c)
	}
	_, _, dash = b.get(own)
	if !strings.Contains(dash, `<html lang="en" data-theme="dark">`) || !strings.Contains(dash, "Admin signed in") || !strings.Contains(dash, "The admin signed in from 0.0.0.0") {
		t.Fatalf("after the switch: %.200s", dash)
	}
	// Back to following the system; the back target cannot leave the site.
	_, hdr, _ = b.send("POST", "/prefs", url.Values{"csrf": {token(t, dash)}, "theme": {"system"}, "back": {"https://evil.example/"}})
	if hdr.Get("Location") != "/" || b.cookies["vitals_theme"] != nil {
		t.Fatalf("theme system: %q %+v", hdr.Get("Location"), b.cookies["vitals_theme"])
	}
}

// Behind a trusted proxy the address is Fly-Client-IP, else the hop the
// proxy added last to X-Forwarded-For (the ones before it are the
// client's to forge).
func TestClientAddressBehindTrustedProxy(t *testing.T) {
	h := newHarnessConfig(t, sqlitetest.Open(t, sqlite.Options{}), func(c *handlers.Config) { c.TrustProxy = true })
	for _, tc := range []struct{ fly, xff, want string }{
		{"203.0.113.9", "198.51.100.1", "203.0.113.9"},
		{"", "198.51.100.1, 203.0.113.5", "203.0.113.5"},
		{"not an address", "garbage", "0.0.0.0"},
	} {
		b := h.browser()
		if tc.fly != "" {
			b.header.Set("Fly-Client-IP", tc.fly)
		}
		b.header.Set("X-Forwarded-For", tc.xff)
		b.signIn(adminPassword)
		in := h.eventsOf("admin.signed_in")
		if got := string(in[0].Details); !strings.Contains(got, `"address":"`+tc.want+`"`) {
			t.Errorf("Fly-Client-IP %q, X-Forwarded-For %q: %s, want %s", tc.fly, tc.xff, got, tc.want)
		}
	}
}

// bcrypt reads 72 bytes of a password; the stored password's first 72
// bytes followed by anything must not sign in.
func TestSignInComparesLongPasswordsInFull(t *testing.T) {
	long := strings.Repeat("p", 72)
	hash, err := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	creds := handlers.NewCredentials("", nil, nil)
	creds.SetAdminHash(hash)
	h := newHarnessConfig(t, sqlitetest.Open(t, sqlite.Options{}), func(c *handlers.Config) { c.Creds = creds })
	if status, _, _ := h.browser().signIn(long + "anything"); status != 401 {
		t.Fatalf("72 bytes of the password and more: %d, want 401", status)
	}
	if status, _, _ := h.browser().signIn(long); status != 303 {
		t.Fatalf("the password itself: %d, want 303", status)
	}
}

// A burst of parallel wrong passwords from one address gets at most the
// budget's checks, and the feed one event.
func TestSignInBurstIsBudgeted(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	creds := handlers.NewCredentials("", nil, nil)
	creds.SetAdminHash(hash)
	h := newHarnessConfig(t, sqlitetest.Open(t, sqlite.Options{}), func(c *handlers.Config) { c.Creds = creds })
	b := h.browser()
	_, _, page := b.get("/login")
	form := url.Values{"csrf": {token(t, page)}, "username": {handlers.AdminUser}, "password": {"wrong"}}.Encode()
	statuses := make(chan int, 40)
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			status, _, _ := h.do("POST", "/login", []byte(form), "application/x-www-form-urlencoded", func(r *http.Request) {
				for _, c := range b.cookies {
					r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
				}
			})
			statuses <- status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[401]+count[429] != 40 || count[401] > handlers.LoginMaxFailures-1 {
		t.Fatalf("statuses %v: at most %d wrong-password answers before the lock-out", count, handlers.LoginMaxFailures-1)
	}
	if n := len(h.eventsOf("admin.locked_out")); n != 1 {
		t.Fatalf("%d lock-out events, want 1", n)
	}
}

// The form routes take a small url-encoded form only, and refuse anything
// else before parsing it.
func TestFormRoutesTakeSmallFormsOnly(t *testing.T) {
	h := newSQLiteHarness(t)
	for _, path := range []string{"/login", "/prefs"} {
		for _, tc := range []struct {
			ctype string
			body  []byte
			want  int
		}{
			{"multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n"), 415},
			{"application/json", []byte(`{}`), 415},
			{"text/plain", []byte("a=b"), 415},
			{"application/x-www-form-urlencoded; charset=latin1", []byte("a=b"), 415},
			{"application/x-www-form-urlencoded", []byte("a=" + strings.Repeat("b", 5000)), 413},
			{"application/x-www-form-urlencoded", []byte("a=%zz"), 400},
		} {
			status, _, body := h.do("POST", path, tc.body, tc.ctype, anon)
			if status != tc.want || !strings.Contains(string(body), `"detail"`) {
				t.Errorf("POST %s as %s: %d %s, want %d", path, tc.ctype, status, body, tc.want)
			}
		}
	}
}
