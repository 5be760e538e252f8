package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
	"github.com/vitalsdev/vitals/web"
)

const (
	adminPassword = "correct horse battery"
	readToken     = "read-token-0123456789abcdef"
	ingestToken   = "ingest-token-0123456789abcdef"
	// sessionKey is every harness's VITALS_SESSION_KEY, so that one signed
	// cookie (asAdmin) holds for all of them.
	sessionKey = "test-session-key-0123456789abcdefghijklmnop"
)

// harness is the real Fiber app over a real store and a real sampler.
type harness struct {
	t     testing.TB
	app   *fiber.App
	store harnessStore
}

// harnessStore is what the harness needs of a store: the HTTP surface's
// slice, and Ping for the database probe and /health. Fakes embed it.
type harnessStore interface {
	handlers.Store
	Ping(ctx context.Context) error
}

func newHarness(t testing.TB, store harnessStore) *harness {
	t.Helper()
	return newHarnessWith(t, store, nil)
}

// newHarnessWith is newHarness with the API-latency window wired in.
func newHarnessWith(t testing.TB, store harnessStore, latency *probes.LatencyWindow) *harness {
	t.Helper()
	return newHarnessConfig(t, store, func(c *handlers.Config) { c.Latency = latency })
}

// newHarnessConfig is newHarness with the configuration changed by edit
// before the app is built (a session key from the store, a trusted proxy).
func newHarnessConfig(t testing.TB, store harnessStore, edit func(*handlers.Config)) *harness {
	t.Helper()
	site, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	ps := probes.HostProbes(probes.HostConfig{})
	ps = append(ps, probes.NewDatabaseProbe(store.Backend(), store.Ping, poolOf(store)))
	sampler := probes.NewSampler(probes.SamplerConfig{}, ps...)
	// Two ticks, as the sampler's loop does at start, so that CPU has its
	// delta; the loop itself is not needed here.
	sampler.Tick(t.Context())
	time.Sleep(20 * time.Millisecond)
	sampler.Tick(t.Context())
	health := handlers.NewHealth("test", time.Second, time.Second, handlers.HealthCheck{
		Name: "database:responseTime", ComponentType: "datastore", Critical: true, Check: store.Ping,
	})
	cfg := handlers.Config{
		Store:      store,
		Snapshots:  sampler,
		Creds:      handlers.NewCredentials(adminPassword, []string{readToken}, []string{ingestToken}),
		Site:       site,
		Health:     health,
		SessionKey: []byte(sessionKey),
	}
	if edit != nil {
		edit(&cfg)
	}
	app := handlers.New(cfg)
	return &harness{t: t, app: app, store: store}
}

// with returns the harness reporting failures to t, for subtests.
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

func newSQLiteHarness(t testing.TB) *harness {
	return newHarness(t, sqlitetest.Open(t, sqlite.Options{}))
}

type cred func(*http.Request)

func bearer(token string) cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func basic(user, pass string) cred {
	return func(r *http.Request) {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
}

// session sends a session cookie, as a signed-in browser does.
func session(value string) cred {
	return func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: handlers.SessionCookieName, Value: value})
	}
}

var (
	// asAdmin is a signed-in browser: a session cookie signed with
	// sessionKey, made without the form so that no sign-in event lands in
	// the feed under test (login_test.go drives the form itself).
	asAdmin  = session(handlers.SessionCookieForTest([]byte(sessionKey), time.Hour))
	asReader = bearer(readToken)
	asIngest = bearer(ingestToken)
	anon     = cred(func(*http.Request) {})
)

// do sends one request through the real app and returns status, headers
// and body.
func (h *harness) do(method, target string, body []byte, contentType string, c cred) (int, http.Header, []byte) {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c(req)
	resp, err := h.app.Test(req, 10_000)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

func (h *harness) postJSON(body string, c cred) (int, []byte) {
	h.t.Helper()
	status, _, out := h.do(http.MethodPost, "/api/v1/events", []byte(body), "application/json", c)
	return status, out
}

// stored lists every event in the store, bypassing HTTP.
func (h *harness) stored() []storage.Event {
	h.t.Helper()
	evs, err := h.store.ListEvents(context.Background(), storage.EventFilter{Limit: 10000})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// serve runs the app on a real loopback listener until the test ends and
// returns its base URL, for what app.Test cannot show (connection-level
// limits) and for benchmarks.
func (h *harness) serve() string {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	go func() { _ = h.app.Listener(ln) }()
	h.t.Cleanup(func() { _ = h.app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String()
}
