package handlers

import (
	"encoding/base64"
	"time"
)

// CSRFTokenForTest is the CSRF token the page would give the browser that
// holds the session cookie value cookie (signed with key), for the external
// tests of state-changing API routes; empty when the cookie is not valid.
func CSRFTokenForTest(key []byte, cookie string) string {
	s := newSessions(nil, key, time.Hour, nil)
	k := s.keys.Load()
	sess, ok := s.verify(k, cookie, time.Now())
	if !ok {
		return ""
	}
	return csrfToken(k, "s:"+base64.RawURLEncoding.EncodeToString(sess.id[:]))
}
