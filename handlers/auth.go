package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"
)

// Role is what a request's credential allows.
type Role int

// The roles, one per kind of credential (docs/architecture.md, "Security").
const (
	RoleNone Role = iota
	// RoleAdmin is the admin's password: the page and every read.
	RoleAdmin
	// RoleRead is a read token: the JSON API's GET routes and /metrics.
	RoleRead
	// RoleIngest is an ingest token: posting events, nothing else.
	RoleIngest
	// RoleAdminToken is a stored admin token: a script's credential for
	// the erasure route, which reads nothing and needs no CSRF token (a
	// browser never sends a bearer token by itself).
	RoleAdminToken
)

// AdminUser is the user name the admin signs in with.
const AdminUser = "admin"

// Credentials holds what requests are checked against, all in memory so
// that no request costs a query. It is safe for concurrent use.
type Credentials struct {
	// adminEnv is the SHA-256 of VITALS_ADMIN_PASSWORD, when set; it wins
	// over the stored hash and needs no database.
	adminEnv *[32]byte
	// adminHash is the bcrypt hash kept in the store, loaded once it is
	// reachable.
	adminHash atomic.Pointer[[]byte]
	// verified is the SHA-256 of the last password that matched adminHash,
	// so bcrypt runs once per password, not on every request.
	verified atomic.Pointer[[32]byte]
	read     [][32]byte
	ingest   [][32]byte
	// stored are the tokens made with `vitals token` (tokens.go), when
	// UseStoredTokens was called.
	stored atomic.Pointer[StoredTokens]
}

// NewCredentials makes the checker. adminPassword is VITALS_ADMIN_PASSWORD
// (empty when unset); readTokens and ingestTokens are the configured bearer
// tokens.
func NewCredentials(adminPassword string, readTokens, ingestTokens []string) *Credentials {
	c := &Credentials{}
	if adminPassword != "" {
		h := sha256.Sum256([]byte(adminPassword))
		c.adminEnv = &h
	}
	for _, t := range readTokens {
		c.read = append(c.read, sha256.Sum256([]byte(t)))
	}
	for _, t := range ingestTokens {
		c.ingest = append(c.ingest, sha256.Sum256([]byte(t)))
	}
	return c
}

// SetAdminHash installs the bcrypt hash of the admin password read from the
// store, and reports whether it replaced a different one. It is ignored
// when VITALS_ADMIN_PASSWORD is set.
func (c *Credentials) SetAdminHash(hash []byte) bool {
	h := append([]byte(nil), hash...)
	old := c.adminHash.Swap(&h)
	if old != nil && string(*old) == string(h) {
		return false
	}
	c.verified.Store(nil)
	return old != nil
}

// AdminFromEnv reports whether the admin password comes from the
// environment.
func (c *Credentials) AdminFromEnv() bool { return c.adminEnv != nil }

var errAdminNotLoaded = errors.New("admin password not loaded yet")

// maxBcryptPassword is the most bcrypt reads of a password.
const maxBcryptPassword = 72

// checkAdmin compares a password with the admin's in constant time.
func (c *Credentials) checkAdmin(password string) (bool, error) {
	sum := sha256.Sum256([]byte(password))
	if c.adminEnv != nil {
		return subtle.ConstantTimeCompare(sum[:], c.adminEnv[:]) == 1, nil
	}
	hash := c.adminHash.Load()
	if hash == nil {
		return false, errAdminNotLoaded
	}
	if v := c.verified.Load(); v != nil && subtle.ConstantTimeCompare(sum[:], v[:]) == 1 {
		return true, nil
	}
	// bcrypt reads only the first 72 bytes, so a longer password would
	// match on its prefix. A stored hash never holds a longer one (`vitals
	// admin set-password` and bcrypt.GenerateFromPassword refuse them), so
	// a longer password is simply wrong: compared in full, whatever its
	// length. bcrypt still runs, so the answer takes the same time.
	if len(password) > maxBcryptPassword {
		_ = bcrypt.CompareHashAndPassword(*hash, []byte(password[:maxBcryptPassword]))
		return false, nil
	}
	if bcrypt.CompareHashAndPassword(*hash, []byte(password)) != nil {
		return false, nil
	}
	c.verified.Store(&sum)
	return true, nil
}

// tokenRole finds the role of a bearer token. Every configured token is
// compared, so the time taken does not depend on which one matched.
func (c *Credentials) tokenRole(token string) Role {
	sum := sha256.Sum256([]byte(token))
	role := RoleNone
	for i := range c.read {
		if subtle.ConstantTimeCompare(sum[:], c.read[i][:]) == 1 {
			role = RoleRead
		}
	}
	for i := range c.ingest {
		if subtle.ConstantTimeCompare(sum[:], c.ingest[i][:]) == 1 {
			role = RoleIngest
		}
	}
	if st := c.stored.Load(); st != nil {
		if r := st.role(sum); r != RoleNone {
			role = r
		}
	}
	return role
}

const roleKey = "vitals.role"

// authenticate reads the request's credential, if any, and records its role.
// It rejects a credential that is present but wrong; a request with none
// goes on as RoleNone and the route's guard decides.
func (s *server) authenticate(c *fiber.Ctx) error {
	header := c.Get(fiber.HeaderAuthorization)
	var role Role
	switch {
	case header == "":
		// A browser: its credential is the session cookie, if any.
		r, err := s.sessionRole(c)
		if err != nil {
			return err
		}
		role = r
	case len(header) > 7 && strings.EqualFold(header[:7], "bearer "):
		role = s.creds.tokenRole(strings.TrimSpace(header[7:]))
		if role == RoleNone {
			return &Problem{Status: fiber.StatusUnauthorized, Detail: "the bearer token is not valid",
				Header: map[string]string{fiber.HeaderWWWAuthenticate: `Bearer realm="vitals", error="invalid_token"`}}
		}
	case len(header) > 6 && strings.EqualFold(header[:6], "basic "):
		// The admin signs in with the form now (session.go); Basic is
		// refused outright so that no script keeps sending the password.
		return newProblem(fiber.StatusUnauthorized, "HTTP Basic is not accepted; sign in at /login, or send a bearer token")
	default:
		return newProblem(fiber.StatusUnauthorized, "unsupported Authorization scheme; use Bearer")
	}
	c.Locals(roleKey, role)
	return c.Next()
}

// require lets a request through only with one of the given roles: 401
// without a credential, 403 with one of the wrong kind. what names the
// action for the 403's message ("read", "post events").
func require(what string, roles ...Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		role, _ := c.Locals(roleKey).(Role)
		for _, r := range roles {
			if role == r {
				return c.Next()
			}
		}
		if role == RoleNone {
			p := newProblem(fiber.StatusUnauthorized, "credentials are required")
			if isAPI(c.Path()) {
				p.Header = map[string]string{fiber.HeaderWWWAuthenticate: `Bearer realm="vitals"`}
			} else {
				p.Header = signInChallenge(c)
			}
			return p
		}
		return newProblem(fiber.StatusForbidden, "this credential may not "+what)
	}
}

func isAPI(path string) bool { return strings.HasPrefix(path, "/api/") || path == "/metrics" }
