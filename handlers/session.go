package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Cookie names. The session cookie is the admin's credential; the CSRF
// cookie carries the nonce the sign-in form's token is bound to before
// there is a session; the other two remember the admin's choices.
const (
	sessionCookie = "vitals_session"
	csrfCookie    = "vitals_csrf"
	langCookie    = "vitals_lang"
	themeCookie   = "vitals_theme"
)

// SessionKeySetting is the store setting that keeps the generated session
// signing key, so that sessions survive restarts and hold on every
// instance.
const SessionKeySetting = "session_key"

// MinSessionKeyLen is the shortest VITALS_SESSION_KEY accepted.
const MinSessionKeyLen = 32

// DefaultSessionTTL is how long a sign-in lasts unless configured.
const DefaultSessionTTL = 12 * time.Hour

// errNoSessionKey means the key lives in the store, which has not answered
// yet.
var errNoSessionKey = errors.New("the session key is kept in the store, which is not reachable yet")

// sessionKeys are the keys derived from the one secret, so that a CSRF
// token can never be replayed as a session, nor either as a cursor.
type sessionKeys struct {
	mac  []byte
	csrf []byte
	// cursor signs the API's next_cursor (events.go).
	cursor []byte
}

func deriveSessionKeys(secret []byte) *sessionKeys {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return &sessionKeys{mac: derive("vitals session v1"), csrf: derive("vitals csrf v1"), cursor: derive("vitals cursor v1")}
}

// sessions signs and checks the admin's session cookies. Sessions are
// stateless: the cookie carries its id and expiry under an HMAC, so checking
// one costs no query. Signing out clears the cookie in the browser.
type sessions struct {
	store sessionKeyStore
	ttl   time.Duration
	keys  *SessionKeys

	mu      sync.Mutex
	lastTry time.Time
}

// sessionKeyStore keeps the generated session signing key.
type sessionKeyStore interface {
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)
}

func newSessions(store sessionKeyStore, secret []byte, ttl time.Duration, keys *SessionKeys) *sessions {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	if keys == nil {
		keys = &SessionKeys{}
	}
	s := &sessions{store: store, ttl: ttl, keys: keys}
	if len(secret) > 0 {
		keys.Install(string(secret))
	}
	return s
}

// SessionKeys holds the secret that signs sessions, shared with whoever
// keeps it current: installing another secret (the admin password was
// changed) ends every session signed with the old one.
type SessionKeys struct {
	keys   atomic.Pointer[sessionKeys]
	secret atomic.Pointer[string]
}

// Install makes secret the signing secret and reports whether it differs
// from the one in use (false for the first one installed).
func (k *SessionKeys) Install(secret string) bool {
	old := k.secret.Swap(&secret)
	if old != nil && *old == secret {
		return false
	}
	k.keys.Store(deriveSessionKeys([]byte(secret)))
	return old != nil
}

// Load returns the keys in use, nil before a secret is installed.
func (k *SessionKeys) Load() *sessionKeys { return k.keys.Load() }

// key returns the signing keys. Without VITALS_SESSION_KEY the secret is
// generated once and kept in the store (the first instance to store one
// wins); until the store answers, at most one attempt a second is made.
func (s *sessions) key(ctx context.Context) (*sessionKeys, error) {
	if k := s.keys.Load(); k != nil {
		return k, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys.Load(); k != nil {
		return k, nil
	}
	if time.Since(s.lastTry) < time.Second {
		return nil, errNoSessionKey
	}
	s.lastTry = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stored, err := s.store.SetSettingIfAbsent(ctx, SessionKeySetting, rand.Text()+rand.Text())
	if err != nil {
		return nil, fmt.Errorf("session key: %w: %w", errNoSessionKey, err)
	}
	if len(stored) < MinSessionKeyLen {
		return nil, fmt.Errorf("session key: the stored %s is too short", SessionKeySetting)
	}
	s.keys.Install(stored)
	return s.keys.Load(), nil
}

// session is a signed-in admin: a random id and when it ends.
type session struct {
	id      [16]byte
	expires time.Time
}

const sessionVersion = 1

// sessionPayloadLen is version, id and expiry (Unix seconds).
const sessionPayloadLen = 1 + 16 + 8

// issue makes a new session and its cookie value.
func (s *sessions) issue(k *sessionKeys, now time.Time) (session, string) {
	var sess session
	_, _ = rand.Read(sess.id[:]) // never fails (crypto/rand)
	sess.expires = now.Add(s.ttl).Truncate(time.Second)
	buf := make([]byte, sessionPayloadLen, sessionPayloadLen+sha256.Size)
	buf[0] = sessionVersion
	copy(buf[1:17], sess.id[:])
	binary.BigEndian.PutUint64(buf[17:], uint64(sess.expires.Unix()))
	m := hmac.New(sha256.New, k.mac)
	m.Write(buf)
	return sess, base64.RawURLEncoding.EncodeToString(m.Sum(buf))
}

// verify checks a cookie value's signature and expiry.
func (s *sessions) verify(k *sessionKeys, value string, now time.Time) (session, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) != sessionPayloadLen+sha256.Size || raw[0] != sessionVersion {
		return session{}, false
	}
	m := hmac.New(sha256.New, k.mac)
	m.Write(raw[:sessionPayloadLen])
	if !hmac.Equal(m.Sum(nil), raw[sessionPayloadLen:]) {
		return session{}, false
	}
	var sess session
	copy(sess.id[:], raw[1:17])
	sess.expires = time.Unix(int64(binary.BigEndian.Uint64(raw[17:sessionPayloadLen])), 0)
	if !now.Before(sess.expires) {
		return session{}, false
	}
	return sess, true
}

// csrfToken binds a form to the session (or, before sign-in, to the CSRF
// cookie's nonce): a page on another site can neither read it nor make it.
func csrfToken(k *sessionKeys, binding string) string {
	m := hmac.New(sha256.New, k.csrf)
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

const sessionLocal = "vitals.session"

// currentSession returns the request's valid session, if any. The result
// is kept on the request, so the cookie is checked once.
func (s *server) currentSession(c *fiber.Ctx) (session, bool, error) {
	if sess, ok := c.Locals(sessionLocal).(session); ok {
		return sess, true, nil
	}
	value := c.Cookies(sessionCookie)
	if value == "" {
		return session{}, false, nil
	}
	k, err := s.sess.key(c.UserContext())
	if err != nil {
		return session{}, false, err
	}
	sess, ok := s.sess.verify(k, value, time.Now())
	if ok {
		c.Locals(sessionLocal, sess)
	}
	return sess, ok, nil
}

// csrfBinding is what the request's CSRF token is bound to: the session,
// or the CSRF cookie's nonce. With create set a missing nonce is made and
// its cookie set, for pages that render a form.
func (s *server) csrfBinding(c *fiber.Ctx, create bool) (string, bool) {
	if sess, ok, _ := s.currentSession(c); ok {
		return "s:" + base64.RawURLEncoding.EncodeToString(sess.id[:]), true
	}
	nonce := c.Cookies(csrfCookie)
	if len(nonce) < 20 || len(nonce) > 64 {
		if !create {
			return "", false
		}
		nonce = rand.Text()
		s.setCookie(c, csrfCookie, nonce, 0)
	}
	return "p:" + nonce, true
}

// csrfFor returns the token the page's forms carry, empty when the key is
// not loaded yet (the forms are then refused, and the page says why).
func (s *server) csrfFor(c *fiber.Ctx) string {
	k, err := s.sess.key(c.UserContext())
	if err != nil {
		return ""
	}
	b, _ := s.csrfBinding(c, true)
	return csrfToken(k, b)
}

// checkCSRF reports whether the submitted form carries the token bound to
// this browser.
func (s *server) checkCSRF(c *fiber.Ctx, k *sessionKeys) bool {
	b, ok := s.csrfBinding(c, false)
	if !ok {
		return false
	}
	got := formValue(c, "csrf")
	want := csrfToken(k, b)
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// secure reports whether the browser reached vitals over TLS, directly or
// through a proxy that says so; cookies are then marked Secure. A forged
// header only makes the client's own cookies stricter.
func secure(c *fiber.Ctx) bool {
	return c.Context().IsTLS() || strings.EqualFold(c.Get(fiber.HeaderXForwardedProto), "https")
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for the whole site.
// maxAge 0 makes a browser-session cookie; below 0 deletes the cookie.
func (s *server) setCookie(c *fiber.Ctx, name, value string, maxAge time.Duration) {
	ck := &fiber.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
		Secure:   secure(c),
	}
	switch {
	case maxAge > 0:
		ck.MaxAge = int(maxAge / time.Second)
		ck.Expires = time.Now().Add(maxAge)
	case maxAge < 0:
		ck.Value = ""
		ck.MaxAge = -1
		ck.Expires = time.Unix(0, 0)
	}
	c.Cookie(ck)
}

// clientAddress is the address a request came from (docs/architecture.md, "Security"):
// behind a trusted proxy (VITALS_TRUST_PROXY) Fly-Client-IP, else the
// nearest hop of X-Forwarded-For; otherwise the connection's peer, whatever
// the headers say, since anyone can send them.
func (s *server) clientAddress(c *fiber.Ctx) string {
	if s.TrustProxy {
		if ip := net.ParseIP(strings.TrimSpace(c.Get("Fly-Client-IP"))); ip != nil {
			return ip.String()
		}
		if xff := c.Get(fiber.HeaderXForwardedFor); xff != "" {
			hops := strings.Split(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(hops[len(hops)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	return c.Context().RemoteIP().String()
}

// sessionRole is the role of a request without an Authorization header:
// admin with a valid session cookie. A cookie that cannot be checked yet
// (the key is in the store, which is down) is a 503, not a sign-out.
func (s *server) sessionRole(c *fiber.Ctx) (Role, error) {
	_, ok, err := s.currentSession(c)
	if err != nil {
		s.log.Warn("session: cannot check the cookie", "err", err)
		p := newProblem(fiber.StatusServiceUnavailable, "sessions cannot be checked until the store is reachable; try again shortly")
		p.Header = map[string]string{fiber.HeaderRetryAfter: "5"}
		return RoleNone, p
	}
	if ok {
		return RoleAdmin, nil
	}
	return RoleNone, nil
}

// signInChallenge is the 401's headers for a browser route: the form to
// sign in with, and for htmx's polls the page to go to: the form saying
// the session ended, which then returns to the view the poll came from
// (HX-Current-URL, kept only as a local path: no open redirect).
func signInChallenge(c *fiber.Ctx) map[string]string {
	h := map[string]string{fiber.HeaderWWWAuthenticate: cookieChallenge}
	if c.Get("HX-Request") == "true" {
		v := url.Values{"expired": {"1"}}
		if u, err := url.Parse(c.Get("HX-Current-URL")); err == nil {
			if next := localPath(u.RequestURI()); next != "" && next != "/" {
				v.Set("next", next)
			}
		}
		h["HX-Redirect"] = "/login?" + v.Encode()
	}
	return h
}
