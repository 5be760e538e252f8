package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/handlers"
)

// Every route the app has, and a few it has not, answers 401 without
// credentials, or for the pages a redirect to the sign-in form; only
// /health, the sign-in form with its language and theme switches, and
// static files are public.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	h := newSQLiteHarness(t)
	public := map[string]bool{"/health": true, "/login": true, "/prefs": true}
	pages := map[string]bool{"GET /": true, "POST /logout": true}
	seen := map[string]bool{}
	for _, r := range h.app.GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == http.MethodTrace || r.Method == http.MethodConnect {
			continue
		}
		path := strings.TrimSuffix(r.Path, "*")
		if public[path] || strings.HasPrefix(path, "/static/") || r.Path == "/" && r.Method == "USE" {
			continue
		}
		key := r.Method + " " + path
		if seen[key] || r.Method == "USE" {
			continue
		}
		seen[key] = true
		t.Run(key, func(t *testing.T) {
			status, hdr, body := h.do(r.Method, path, []byte(`{}`), "application/json", anon)
			if pages[key] {
				if status != http.StatusSeeOther || hdr.Get("Location") != "/login" {
					t.Fatalf("%s %s without a session: %d to %q, want 303 to /login", r.Method, path, status, hdr.Get("Location"))
				}
				return
			}
			if status != http.StatusUnauthorized {
				t.Fatalf("%s %s without credentials: %d %s", r.Method, path, status, body)
			}
			if hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without a WWW-Authenticate challenge", r.Method, path)
			}
		})
	}
	if len(seen) < 6 {
		t.Fatalf("only %d routes checked: %v", len(seen), seen)
	}
	for _, path := range []string{"/nope", "/api/v1/nope", "/metrics", "/partials/nope", "/.env"} {
		if status, _, _ := h.do(http.MethodGet, path, nil, "", anon); status != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", path, status)
		}
	}
	if status, _, _ := h.do(http.MethodGet, "/health", nil, "", anon); status != http.StatusOK {
		t.Errorf("GET /health: %d, want 200", status)
	}
}

func TestStaticAssetsArePublicAndCached(t *testing.T) {
	h := newSQLiteHarness(t)
	_, _, page := h.do(http.MethodGet, "/", nil, "", asAdmin)
	i := strings.Index(string(page), "/static/vendor/htmx.min.")
	if i < 0 {
		t.Fatalf("page does not link htmx: %s", page)
	}
	url := string(page[i:])
	url = url[:strings.IndexByte(url, '"')]
	status, hdr, body := h.do(http.MethodGet, url, nil, "", anon)
	if status != http.StatusOK || len(body) < 10000 {
		t.Fatalf("GET %s: %d, %d bytes", url, status, len(body))
	}
	if !strings.Contains(hdr.Get("Cache-Control"), "immutable") {
		t.Errorf("Cache-Control = %q", hdr.Get("Cache-Control"))
	}
	if !strings.HasPrefix(hdr.Get("Content-Type"), "text/javascript") && !strings.HasPrefix(hdr.Get("Content-Type"), "application/javascript") {
		t.Errorf("Content-Type = %q", hdr.Get("Content-Type"))
	}
}

func TestCredentialKinds(t *testing.T) {
	h := newSQLiteHarness(t)
	cases := []struct {
		name   string
		method string
		path   string
		c      cred
		want   int
	}{
		{"admin reads the page", "GET", "/", asAdmin, 200},
		{"admin reads metrics", "GET", "/api/v1/system/metrics", asAdmin, 200},
		{"admin reads events", "GET", "/api/v1/events", asAdmin, 200},
		{"admin session cannot post", "POST", "/api/v1/events", asAdmin, 403},
		{"read token reads metrics", "GET", "/api/v1/system/metrics", asReader, 200},
		{"read token reads events", "GET", "/api/v1/events", asReader, 200},
		{"read token cannot post", "POST", "/api/v1/events", asReader, 403},
		{"read token cannot open the page", "GET", "/", asReader, 403},
		{"ingest token posts", "POST", "/api/v1/events", asIngest, 201},
		{"ingest token cannot read events", "GET", "/api/v1/events", asIngest, 403},
		{"ingest token cannot read metrics", "GET", "/api/v1/system/metrics", asIngest, 403},
		{"ingest token cannot open the page", "GET", "/", asIngest, 403},
		{"Basic is refused even with the right password", "GET", "/", basic("admin", adminPassword), 401},
		{"Basic is refused on the API", "GET", "/api/v1/events", basic("admin", adminPassword), 401},
		{"session signed with another key", "GET", "/", session(handlers.SessionCookieForTest([]byte("another-key-0123456789abcdefghijklmnop"), time.Hour)), 303},
		{"expired session", "GET", "/", session(handlers.SessionCookieForTest([]byte(sessionKey), time.Nanosecond)), 303},
		{"forged session", "GET", "/api/v1/events", session("AQIDBAUGBwgJCgsMDQ4PEAAAAAB_____" + strings.Repeat("A", 43)), 401},
		{"unknown token", "GET", "/api/v1/events", bearer("not-a-token-0123456789"), 401},
		{"token as session", "GET", "/", session(readToken), 303},
		{"other scheme", "GET", "/api/v1/events", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.method == "POST" {
				body = []byte(`{"type":"user_registered","message":"hi"}`)
			}
			status, _, out := h.do(tc.method, tc.path, body, "application/json", tc.c)
			if status != tc.want {
				t.Fatalf("%s %s: %d, want %d: %s", tc.method, tc.path, status, tc.want, out)
			}
		})
	}
	// Only the one post by the ingest token was stored.
	if n := len(h.stored()); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}
