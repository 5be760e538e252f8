package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/web"
)

// Sign-in rate limit: after LoginMaxFailures wrong passwords from one
// address within LoginWindow, that address may not try again for
// LoginLockout. A right password resets the count.
const (
	LoginMaxFailures = 5
	LoginWindow      = 15 * time.Minute
	LoginLockout     = 15 * time.Minute
	// loginTracked bounds the memory the limiter holds.
	loginTracked = 10_000
)

// prefsMaxAge is how long the language and theme choices are remembered.
const prefsMaxAge = 365 * 24 * time.Hour

// maxPasswordChecks bounds the password checks (bcrypt) running at once,
// whatever the number of addresses asking: each takes a core for tens of
// milliseconds.
const maxPasswordChecks = 2

// passwordCheckWait is how long a sign-in waits for a free check before it
// is answered 503.
const passwordCheckWait = 3 * time.Second

// loginLimiter holds each client address's sign-in budget, in memory:
// each instance counts its own, which bounds guessing per instance. An
// attempt takes its place in the budget before the password is checked,
// so that a burst of parallel attempts gets no more checks than a
// sequence would.
type loginLimiter struct {
	mu     sync.Mutex
	byAddr map[string]*loginAttempts
	// checks is the semaphore bounding password checks at once.
	checks chan struct{}
}

type loginAttempts struct {
	tries    int       // attempts of the current window, in flight or done
	failures int       // of those, the ones that failed
	since    time.Time // first attempt of the current window
	until    time.Time // end of the lock-out, zero when not locked
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{byAddr: map[string]*loginAttempts{}, checks: make(chan struct{}, maxPasswordChecks)}
}

// limitKey groups IPv6 addresses by their /64, which one client usually
// holds whole.
func limitKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// reserve takes one attempt from addr's budget. It returns 0 when the
// attempt may check a password, else how long the address must wait.
func (l *loginLimiter) reserve(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := limitKey(addr)
	a := l.byAddr[key]
	if a != nil && now.Before(a.until) {
		return a.until.Sub(now)
	}
	if a == nil || now.Sub(a.since) > LoginWindow || !a.until.IsZero() {
		if a == nil && len(l.byAddr) >= loginTracked {
			l.sweep(now)
		}
		a = &loginAttempts{since: now}
		l.byAddr[key] = a
	}
	if a.tries >= LoginMaxFailures {
		// The budget is spent by attempts still being checked; when they
		// fail the address is locked, so it waits as if it were.
		return LoginLockout
	}
	a.tries++
	return 0
}

// release gives back a reserved attempt that checked no password.
func (l *loginLimiter) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.byAddr[limitKey(addr)]; a != nil && a.tries > 0 && a.until.IsZero() {
		a.tries--
	}
}

// fail records a wrong password from addr. When it locks the address out
// it returns the number of failures that did, else 0: the one lock-out is
// what the feed records, never each attempt.
func (l *loginLimiter) fail(addr string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddr[limitKey(addr)]
	if a == nil || !a.until.IsZero() {
		return 0
	}
	a.failures++
	if a.failures >= LoginMaxFailures {
		a.until = now.Add(LoginLockout)
		return a.failures
	}
	return 0
}

// succeed forgets addr's attempts.
func (l *loginLimiter) succeed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byAddr, limitKey(addr))
}

// sweep drops the entries that no longer matter; when every entry still
// does (a flood from many addresses), it drops an arbitrary one, so memory
// stays bounded.
func (l *loginLimiter) sweep(now time.Time) {
	for k, a := range l.byAddr {
		if now.Sub(a.since) > LoginWindow && !now.Before(a.until) {
			delete(l.byAddr, k)
		}
	}
	for k := range l.byAddr {
		if len(l.byAddr) < loginTracked {
			break
		}
		delete(l.byAddr, k)
	}
}

// checkPassword runs one password check under the global bound; ok false
// with a nil error means wrong. errBusy says no check was free in time.
func (s *server) checkPassword(ctx context.Context, password string) (bool, error) {
	t := time.NewTimer(passwordCheckWait)
	defer t.Stop()
	select {
	case s.limiter.checks <- struct{}{}:
	case <-t.C:
		return false, errBusy
	case <-ctx.Done():
		return false, errBusy
	}
	defer func() { <-s.limiter.checks }()
	return s.creds.checkAdmin(password)
}

var errBusy = errors.New("too many sign-ins at once")

// loginPage shows the sign-in form; a signed-in admin goes to the
// dashboard. next is where to go after signing in (a local path, else the
// dashboard); expired=1 says the session ended, as the page's polls and
// the dashboard's redirect report it.
func (s *server) loginPage(c *fiber.Ctx) error {
	next := localPath(c.Query("next"))
	if _, ok, _ := s.currentSession(c); ok {
		return c.Redirect(orHome(next), fiber.StatusSeeOther)
	}
	cat := s.Site.Catalog(s.lang(c))
	msg, notice := "", ""
	if _, err := s.sess.key(c.UserContext()); err != nil {
		msg = cat.MustT("login.unavailable")
	} else if c.Query("expired") == "1" {
		notice = cat.MustT("login.session_ended")
	}
	return s.renderLogin(c, fiber.StatusOK, AdminUser, msg, notice, next)
}

func (s *server) renderLogin(c *fiber.Ctx, status int, user, msg, notice, next string) error {
	lang := s.lang(c)
	back := "/login"
	if next != "" {
		back += "?next=" + url.QueryEscape(next)
	}
	data := web.Page{
		Lang:  lang,
		CSRF:  s.csrfFor(c),
		Theme: theme(c),
		Back:  back,
		Login: web.LoginForm{User: user, Error: msg, Notice: notice, Next: next},
	}
	c.Status(status)
	return s.renderHTML(c, lang, "login", data)
}

// maxNextLen bounds the path kept across a sign-in.
const maxNextLen = 2000

// localPath is raw when it is a path on this server (with its query),
// else empty: never another host, a scheme, a protocol-relative "//" or a
// backslash that a browser reads as one, so that next is no open redirect.
func localPath(raw string) string {
	if len(raw) > maxNextLen || !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") ||
		strings.ContainsAny(raw, "\\") || strings.ContainsFunc(raw, unicode.IsControl) || !utf8.ValidString(raw) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return ""
	}
	return raw
}

// orHome is path, or the dashboard when path is empty.
func orHome(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

// login checks the sign-in form: CSRF token, a place in the address's
// budget, then the password (Credentials.checkAdmin, bcrypt cached, at most
// maxPasswordChecks at once). A sign-in and a lock-out are recorded in the
// activity feed, never the password; single failures are not, so that no
// client can flood the feed: the lock-out event carries their count.
func (s *server) login(c *fiber.Ctx) error {
	cat := s.Site.Catalog(s.lang(c))
	next := localPath(formValue(c, "next"))
	user := formValue(c, "username")
	if len(user) > 100 {
		user = user[:100]
	}
	k, err := s.sess.key(c.UserContext())
	if err != nil {
		s.log.Warn("sign-in: session key", "err", err)
		c.Set(fiber.HeaderRetryAfter, "5")
		return s.renderLogin(c, fiber.StatusServiceUnavailable, user, cat.MustT("login.unavailable"), "", next)
	}
	if !s.checkCSRF(c, k) {
		return s.renderLogin(c, fiber.StatusForbidden, user, cat.MustT("login.expired_form"), "", next)
	}
	addr := s.clientAddress(c)
	now := time.Now()
	if left := s.limiter.reserve(addr, now); left > 0 {
		return s.lockedOut(c, user, left)
	}
	ok, err := s.checkPassword(c.UserContext(), formValue(c, "password"))
	if err != nil {
		// Not loaded yet, or every check busy: no password was checked,
		// so the attempt gives its place back.
		s.limiter.release(addr)
		c.Set(fiber.HeaderRetryAfter, "5")
		return s.renderLogin(c, fiber.StatusServiceUnavailable, user, cat.MustT("login.unavailable"), "", next)
	}
	// One line per password check: the audit trail of guessing, and what
	// the hostile-client suite counts.
	s.log.Info("sign-in: password checked", "address", addr, "ok", ok)
	// The user name is compared after the password, so that both wrong
	// cases take the same time.
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(AdminUser)) != 1 {
		if failures := s.limiter.fail(addr, time.Now()); failures > 0 {
			s.recordSignIn(c.UserContext(), storage.TypeLockedOut,
				fmt.Sprintf("Sign-in from %s locked for %d minutes after %d failed attempts", addr, int(LoginLockout/time.Minute), failures),
				addr, map[string]any{"failures": failures, "locked_seconds": int(LoginLockout / time.Second), "locked_minutes": int(LoginLockout / time.Minute)})
			return s.lockedOut(c, user, LoginLockout)
		}
		c.Set(fiber.HeaderWWWAuthenticate, cookieChallenge)
		return s.renderLogin(c, fiber.StatusUnauthorized, user, cat.MustT("login.wrong"), "", next)
	}
	s.limiter.succeed(addr)
	_, value := s.sess.issue(k, now)
	s.setCookie(c, sessionCookie, value, s.sess.ttl)
	s.setCookie(c, csrfCookie, "", -1)
	s.recordSignIn(c.UserContext(), storage.TypeSignedIn, "The admin signed in from "+addr, addr, nil)
	return c.Redirect(orHome(next), fiber.StatusSeeOther)
}

// lockedOut answers 429 with the minutes left, rounded up.
func (s *server) lockedOut(c *fiber.Ctx, user string, left time.Duration) error {
	mins := int(math.Ceil(left.Minutes()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(left.Seconds()))))
	return s.renderLogin(c, fiber.StatusTooManyRequests, user, s.Site.Catalog(s.lang(c)).MustN("login.locked", mins), "", localPath(formValue(c, "next")))
}

// recordSignIn stores a sign-in event. The sign-in does not wait long for
// a slow store, and does not fail with it: the event is logged instead.
// Its details carry the message key and the parameters the page words it
// from in the reader's language; message is the English wording for the
// API and the logs.
func (s *server) recordSignIn(ctx context.Context, typ, message, addr string, extra map[string]any) {
	d := map[string]any{"message_key": "event." + typ, "address": addr}
	for k, v := range extra {
		d[k] = v
	}
	details, _ := json.Marshal(d) // a map of strings and ints always encodes
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.store.InsertEvents(ctx, []storage.NewEvent{{Type: typ, Message: message, Details: details, Source: storage.SourceVitals}}); err != nil {
		s.log.Warn("sign-in: record event", "type", typ, "address", addr, "err", err)
	}
}

// logout ends the session in this browser.
func (s *server) logout(c *fiber.Ctx) error {
	k, err := s.sess.key(c.UserContext())
	if err != nil {
		return fmt.Errorf("sign out: %w", storage.ErrUnavailable)
	}
	if !s.checkCSRF(c, k) {
		return newProblem(fiber.StatusForbidden, "the form's csrf token is missing or wrong; reload the page and try again")
	}
	s.setCookie(c, sessionCookie, "", -1)
	return c.Redirect("/login", fiber.StatusSeeOther)
}

// setPrefs remembers the language and the theme chosen with the page's
// switches, then goes back to the page the form was on.
func (s *server) setPrefs(c *fiber.Ctx) error {
	back := orHome(localPath(formValue(c, "back"))) // never another site: no open redirect
	k, err := s.sess.key(c.UserContext())
	if err != nil || !s.checkCSRF(c, k) {
		return c.Redirect(back, fiber.StatusSeeOther)
	}
	if v := formValue(c, "lang"); v != "" {
		if l, ok := web.ParseLang(v); ok {
			s.setCookie(c, langCookie, string(l), prefsMaxAge)
		}
	}
	switch formValue(c, "theme") {
	case "light", "dark":
		s.setCookie(c, themeCookie, formValue(c, "theme"), prefsMaxAge)
	case "system":
		s.setCookie(c, themeCookie, "", -1)
	}
	return c.Redirect(back, fiber.StatusSeeOther)
}

// theme is the admin's chosen theme, empty to follow the system.
func theme(c *fiber.Ctx) string {
	switch t := c.Cookies(themeCookie); t {
	case "light", "dark":
		return t
	}
	return ""
}
