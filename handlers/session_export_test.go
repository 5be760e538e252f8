package handlers

import (
	"time"
)

// SessionCookieName is the session cookie's name, for the external tests.
const SessionCookieName = sessionCookie

// SessionCookieForTest signs a session cookie value with key, as the
// sign-in form does, so that tests can act as the admin without recording
// a sign-in event in the feed they look at.
func SessionCookieForTest(key []byte, ttl time.Duration) string {
	s := newSessions(nil, key, ttl, nil)
	_, v := s.issue(s.keys.Load(), time.Now())
	return v
}
