package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// openAPI is the embedded document with its schemas compiled, and a record
// of which documented answers the test has seen.
type openAPI struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
	seen     map[string]bool
}

const openAPIURL = "file:///openapi.json"

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(handlers.OpenAPIDocument(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi is %q, want 3.1.x", v)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(handlers.OpenAPIDocument()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	// OpenAPI 3.1's schemas are JSON Schema 2020-12.
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(openAPIURL, inst); err != nil {
		t.Fatal(err)
	}
	return &openAPI{doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}, seen: map[string]bool{}}
}

// pointerEscape escapes one JSON pointer token.
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// lookup follows a JSON pointer ("#/a/b") in the document.
func (o *openAPI) lookup(t *testing.T, ptr string) map[string]any {
	t.Helper()
	var cur any = o.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "#/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object at %q", ptr, tok)
		}
		cur = m[tok]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		t.Fatalf("%s: not in the document", ptr)
	}
	return m
}

// resolve follows a $ref, if the object is one.
func (o *openAPI) resolve(t *testing.T, ptr string, obj map[string]any) (string, map[string]any) {
	t.Helper()
	if ref, ok := obj["$ref"].(string); ok {
		return ref, o.lookup(t, ref)
	}
	return ptr, obj
}

func (o *openAPI) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	if s, ok := o.schemas[ptr]; ok {
		return s
	}
	s, err := o.compiler.Compile(openAPIURL + "#" + ptr)
	if err != nil {
		t.Fatalf("compile %s: %v", ptr, err)
	}
	o.schemas[ptr] = s
	return s
}

func validate(s *jsonschema.Schema, body []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(inst)
}

// check finds the documented answer for a real one and validates the real
// one against it: status, media type, required headers and body.
func (o *openAPI) check(t *testing.T, method, path string, status int, header http.Header, body []byte) {
	t.Helper()
	opPtr := "#/paths/" + pointerEscape(path) + "/" + strings.ToLower(method)
	op := o.lookup(t, opPtr)
	responses, _ := op["responses"].(map[string]any)
	raw, ok := responses[strconv.Itoa(status)].(map[string]any)
	if !ok {
		t.Fatalf("%s %s answered %d, which the document does not list: %s", method, path, status, body)
	}
	o.seen[method+" "+path+" "+strconv.Itoa(status)] = true
	respPtr, resp := o.resolve(t, opPtr+"/responses/"+strconv.Itoa(status), raw)

	if hs, ok := resp["headers"].(map[string]any); ok {
		for name, h := range hs {
			if req, _ := h.(map[string]any)["required"].(bool); req && header.Get(name) == "" {
				t.Fatalf("%s %s %d: no %s header, which the document requires", method, path, status, name)
			}
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) > 0 {
			t.Fatalf("%s %s %d: a body the document does not describe", method, path, status)
		}
		return
	}
	got, gotParams, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("%s %s %d: content type %q: %v", method, path, status, header.Get("Content-Type"), err)
	}
	for key := range content {
		want, wantParams, err := mime.ParseMediaType(key)
		if err != nil {
			t.Fatalf("document media type %q: %v", key, err)
		}
		if want != got {
			continue
		}
		for k, v := range wantParams {
			if gotParams[k] != v {
				t.Fatalf("%s %s %d: content type %q, want %q", method, path, status, header.Get("Content-Type"), key)
			}
		}
		if !strings.HasSuffix(got, "json") {
			return
		}
		s := o.schema(t, strings.TrimPrefix(respPtr, "#")+"/content/"+pointerEscape(key)+"/schema")
		if err := validate(s, body); err != nil {
			t.Fatalf("%s %s %d: the answer does not match the document: %v\n%s", method, path, status, err, body)
		}
		return
	}
	t.Fatalf("%s %s %d: content type %q is not one the document lists", method, path, status, got)
}

// checkRequest validates a request body the server took against the
// operation's request schema, so that the document accepts what vitals
// accepts.
func (o *openAPI) checkRequest(t *testing.T, method, path string, body []byte) {
	t.Helper()
	ptr := "/paths/" + pointerEscape(path) + "/" + strings.ToLower(method) + "/requestBody/content/application~1json/schema"
	if err := validate(o.schema(t, ptr), body); err != nil {
		t.Fatalf("%s %s: the document refuses a body vitals took: %v\n%s", method, path, err, body)
	}
}

// unseen lists the documented answers the test has not produced.
func (o *openAPI) unseen() []string {
	var out []string
	paths, _ := o.doc["paths"].(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			responses, _ := op.(map[string]any)["responses"].(map[string]any)
			for status := range responses {
				key := strings.ToUpper(method) + " " + path + " " + status
				if !o.seen[key] {
					out = append(out, key)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// unavailableStore is a store whose database is down: the one failure a
// real store cannot be made to show on demand inside one test.
type unavailableStore struct{ harnessStore }

// noSettings is a store whose settings cannot be read or written: the
// alerts' silences then cannot be kept.
type noSettings struct{ unavailableStore }

func (noSettings) Setting(context.Context, string) (string, error) {
	return "", fmt.Errorf("setting: %w", storage.ErrUnavailable)
}

func (noSettings) SetSetting(context.Context, string, string) error {
	return fmt.Errorf("set setting: %w", storage.ErrUnavailable)
}

func (noSettings) EnqueueNotifications(context.Context, []storage.Notification) error {
	return fmt.Errorf("enqueue notifications: %w", storage.ErrUnavailable)
}

func defaultRules(t *testing.T) []alerts.Rule {
	t.Helper()
	rules, err := alerts.Parse("")
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

type unavailableLog struct{}

func (unavailableLog) ListNotifications(context.Context, int) ([]storage.Notification, error) {
	return nil, fmt.Errorf("list notifications: %w", storage.ErrUnavailable)
}

func (unavailableLog) EnqueueNotifications(context.Context, []storage.Notification) error {
	return fmt.Errorf("enqueue notifications: %w", storage.ErrUnavailable)
}

func (unavailableStore) InsertEvents(context.Context, []storage.NewEvent) ([]storage.Event, error) {
	return nil, fmt.Errorf("insert: %w", storage.ErrUnavailable)
}

func (unavailableStore) ListEvents(context.Context, storage.EventFilter) ([]storage.Event, error) {
	return nil, fmt.Errorf("list: %w", storage.ErrUnavailable)
}

func (unavailableStore) DeleteEventsByEmail(context.Context, string) (int64, error) {
	return 0, fmt.Errorf("delete: %w", storage.ErrUnavailable)
}

// TestOpenAPIDescribesRealResponses sends real requests to every route the
// document lists, producing every answer it documents, and validates each
// answer against the document's schemas; a documented answer the test
// cannot produce fails it, as does an answer the document does not list.
func TestOpenAPIDescribesRealResponses(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { checkOpenAPI(t, sqlitetest.Open(t, sqlite.Options{})) })
	// postgrestest skips without VITALS_TEST_DATABASE_URL, and fails in CI:
	// the database group has its connection figures only there.
	t.Run("postgres", func(t *testing.T) { checkOpenAPI(t, postgrestest.Open(t, postgres.Options{})) })
}

func checkOpenAPI(t *testing.T, store storage.Store) {
	o := loadOpenAPI(t)
	// An HTTP target that answers, so that the http group has an entry.
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	h := newMetricsHarness(t, metricsOptions{store: store, extra: []probes.Probe{
		probes.NewRedisProbe(nil),
		probes.NewHTTPProbe([]probes.HTTPTargetConfig{{Name: "app", URL: target.URL}}),
	}, change: func(c *handlers.Config) {
		c.Notifications = store
		c.ChannelLabels = map[string]string{"webhook-ab12": "webhook https://hooks.example.com"}
		c.AlertRules = alerts.New(alerts.Config{Rules: defaultRules(t), Store: store})
	}})
	if err := store.EnqueueNotifications(t.Context(), []storage.Notification{{Key: "n-1", Channel: "webhook-ab12", Payload: "{}", CreatedMS: 1000, NextMS: 1000}}); err != nil {
		t.Fatal(err)
	}
	h.sampler.Tick(t.Context())
	limited := newMetricsHarness(t, metricsOptions{change: func(c *handlers.Config) { c.IngestRate, c.IngestBurst = 0.001, 1 }})
	down := newMetricsHarness(t, metricsOptions{store: unavailableStore{sqlitetest.Open(t, sqlite.Options{})}, change: func(c *handlers.Config) {
		c.Notifications = unavailableLog{}
		c.ChannelLabels = map[string]string{"webhook-ab12": "webhook https://hooks.example.com"}
		c.AlertRules = alerts.New(alerts.Config{Rules: defaultRules(t), Store: noSettings{unavailableStore{sqlitetest.Open(t, sqlite.Options{})}}})
		c.Health = handlers.NewHealth("test", time.Second, time.Second, handlers.HealthCheck{
			Name: "database:responseTime", ComponentType: "datastore", Critical: true,
			Check: func(context.Context) error { return errors.New("connection refused") },
		})
	}})

	cookie := handlers.SessionCookieForTest([]byte(sessionKey), time.Hour)
	csrf := handlers.CSRFTokenForTest([]byte(sessionKey), cookie)
	asAdminWithCSRF := func(r *http.Request) {
		session(cookie)(r)
		r.Header.Set("X-CSRF-Token", csrf)
	}
	recent := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	one := fmt.Sprintf(`{"type":"user_registered","message":"New user registered","user_email":"anna@example.com","details":{"plan":"free"},"idempotency_key":"oas-1","occurred_at":%q}`, recent)
	batch := `[{"type":"stream_started","message":"Stream started","idempotency_key":"oas-2"},{"type":"track_added","message":"Track added","user_email":"dj@example.com","details":{"track_id":42},"idempotency_key":"oas-3"}]`
	fresh := `[{"type":"stream_stopped","message":"Stream stopped"},{"type":"track_added","message":"Another track","idempotency_key":"oas-2"}]`

	type request struct {
		name        string
		h           *metricsHarness
		method      string
		target      string
		body        string
		contentType string
		cred        cred
		want        int
	}
	var cursor string
	run := func(rq request) []byte {
		t.Helper()
		if rq.h == nil {
			rq.h = h
		}
		if rq.cred == nil {
			rq.cred = anon
		}
		var body []byte
		if rq.body != "" {
			body = []byte(rq.body)
			if rq.contentType == "" {
				rq.contentType = "application/json"
			}
		}
		status, header, out := rq.h.with(t).do(rq.method, rq.target, body, rq.contentType, rq.cred)
		if status != rq.want {
			t.Fatalf("%s: %s %s answered %d, want %d: %s", rq.name, rq.method, rq.target, status, rq.want, out)
		}
		path, _, _ := strings.Cut(rq.target, "?")
		o.check(t, rq.method, path, status, header, out)
		if rq.method == http.MethodPost && status < 300 && body != nil {
			o.checkRequest(t, rq.method, path, body)
		}
		return out
	}

	for _, rq := range []request{
		{name: "health", method: "GET", target: "/health", want: 200},
		{name: "health, store down", h: down, method: "GET", target: "/health", want: 503},

		{name: "snapshot", method: "GET", target: "/api/v1/system/metrics", cred: asReader, want: 200},
		{name: "snapshot as admin", method: "GET", target: "/api/v1/system/metrics", cred: asAdmin, want: 200},
		{name: "snapshot, no credential", method: "GET", target: "/api/v1/system/metrics", want: 401},
		{name: "snapshot, ingest token", method: "GET", target: "/api/v1/system/metrics", cred: asIngest, want: 403},

		{name: "post one", method: "POST", target: "/api/v1/events", body: one, cred: asIngest, want: 201},
		{name: "post one again", method: "POST", target: "/api/v1/events", body: one, cred: asIngest, want: 200},
		{name: "post a batch", method: "POST", target: "/api/v1/events", body: batch, cred: asIngest, want: 201},
		{name: "post the batch again", method: "POST", target: "/api/v1/events", body: batch, cred: asIngest, want: 200},
		{name: "post a batch, one repeated", method: "POST", target: "/api/v1/events", body: fresh, cred: asIngest, want: 201},
		{name: "post an invalid event", method: "POST", target: "/api/v1/events", body: `[{"type":"Bad Type","message":""}]`, cred: asIngest, want: 400},
		{name: "post, no credential", method: "POST", target: "/api/v1/events", body: one, want: 401},
		{name: "post, read token", method: "POST", target: "/api/v1/events", body: one, cred: asReader, want: 403},
		{name: "post too large", method: "POST", target: "/api/v1/events", body: `{"type":"a","message":"` + strings.Repeat("x", 70<<10) + `"}`, cred: asIngest, want: 413},
		{name: "post not JSON", method: "POST", target: "/api/v1/events", body: "type=a", contentType: "text/plain", cred: asIngest, want: 415},
		{name: "post, allowed", h: limited, method: "POST", target: "/api/v1/events", body: `{"type":"a","message":"m"}`, cred: asIngest, want: 201},
		{name: "post, over the rate", h: limited, method: "POST", target: "/api/v1/events", body: `{"type":"a","message":"m"}`, cred: asIngest, want: 429},
		{name: "post, store down", h: down, method: "POST", target: "/api/v1/events", body: one, cred: asIngest, want: 503},

		{name: "timings", method: "POST", target: "/api/v1/timings", body: `{"routes": [{"method": "GET", "route": "/tracks/{id}", "count": 3, "errors": 1, "bins": [[100, 2], [180, 1]]}]}`, cred: asIngest, want: 204},
		{name: "timings, idle", method: "POST", target: "/api/v1/timings", body: `{"routes": []}`, cred: asIngest, want: 204},
		{name: "timings, invalid", method: "POST", target: "/api/v1/timings", body: `{"routes": [{"method": "GET", "route": "/a", "count": 2, "bins": []}]}`, cred: asIngest, want: 400},
		{name: "timings, no credential", method: "POST", target: "/api/v1/timings", body: `{"routes": []}`, want: 401},
		{name: "timings, read token", method: "POST", target: "/api/v1/timings", body: `{"routes": []}`, cred: asReader, want: 403},
		{name: "alerts", method: "GET", target: "/api/v1/alerts", cred: asReader, want: 200},
		{name: "alerts, no credential", method: "GET", target: "/api/v1/alerts", want: 401},
		{name: "notifications", method: "GET", target: "/api/v1/notifications", cred: asReader, want: 200},
		{name: "notifications, no credential", method: "GET", target: "/api/v1/notifications", want: 401},
		{name: "notifications, ingest token", method: "GET", target: "/api/v1/notifications", cred: asIngest, want: 403},
		{name: "test notification", method: "POST", target: "/api/v1/notifications/test?channel=webhook-ab12", cred: asAdminWithCSRF, want: 202},
		{name: "test notification, no such channel", method: "POST", target: "/api/v1/notifications/test?channel=nope", cred: asAdminWithCSRF, want: 400},
		{name: "test notification, no credential", method: "POST", target: "/api/v1/notifications/test?channel=webhook-ab12", want: 401},
		{name: "test notification, read token", method: "POST", target: "/api/v1/notifications/test?channel=webhook-ab12", cred: asReader, want: 403},
		{name: "test notification, store down", h: down, method: "POST", target: "/api/v1/notifications/test?channel=webhook-ab12", cred: asAdminWithCSRF, want: 503},
		{name: "notifications, store down", h: down, method: "GET", target: "/api/v1/notifications", cred: asReader, want: 503},
		{name: "alerts, ingest token", method: "GET", target: "/api/v1/alerts", cred: asIngest, want: 403},
		{name: "silence", method: "POST", target: "/api/v1/alerts/silence?rule=cpu_high&for=4h", cred: asAdminWithCSRF, want: 200},
		{name: "alerts, one silenced", method: "GET", target: "/api/v1/alerts", cred: asReader, want: 200},
		{name: "unsilence", method: "POST", target: "/api/v1/alerts/silence?rule=cpu_high&for=0", cred: asAdminWithCSRF, want: 200},
		{name: "silence, no such rule", method: "POST", target: "/api/v1/alerts/silence?rule=nope&for=1h", cred: asAdminWithCSRF, want: 400},
		{name: "silence, bad length", method: "POST", target: "/api/v1/alerts/silence?rule=cpu_high&for=30d", cred: asAdminWithCSRF, want: 400},
		{name: "silence, no credential", method: "POST", target: "/api/v1/alerts/silence?rule=cpu_high&for=1h", want: 401},
		{name: "silence, read token", method: "POST", target: "/api/v1/alerts/silence?rule=cpu_high&for=1h", cred: asReader, want: 403},
		{name: "silence, store down", h: down, method: "POST", target: "/api/v1/alerts/silence?rule=cpu_high&for=1h", cred: asAdminWithCSRF, want: 503},
		{name: "timings, not JSON", method: "POST", target: "/api/v1/timings", body: "routes=", contentType: "text/plain", cred: asIngest, want: 415},
	} {
		run(rq)
	}

	// Pages: the first page has a cursor, the last none.
	var page struct {
		Events     []json.RawMessage `json:"events"`
		NextCursor string            `json:"next_cursor"`
	}
	_ = json.Unmarshal(run(request{name: "list, first page", method: "GET", target: "/api/v1/events?limit=2", cred: asReader, want: 200}), &page)
	if cursor = page.NextCursor; cursor == "" || len(page.Events) != 2 {
		t.Fatalf("first page: %d events, cursor %q", len(page.Events), cursor)
	}
	page.NextCursor = ""
	_ = json.Unmarshal(run(request{name: "list, next page", method: "GET", target: "/api/v1/events?limit=200&cursor=" + url.QueryEscape(cursor), cred: asReader, want: 200}), &page)
	if page.NextCursor != "" {
		t.Fatalf("last page has a cursor")
	}
	seedHistory(t, store, "oas")
	since := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	for _, rq := range []request{
		{name: "list, filtered", method: "GET", target: "/api/v1/events?type=user_registered,track_added&type=stream_started&q=ANNA&since=" + since, cred: asAdmin, want: 200},
		{name: "list, bad limit", method: "GET", target: "/api/v1/events?limit=0", cred: asReader, want: 400},
		{name: "list, no credential", method: "GET", target: "/api/v1/events", want: 401},
		{name: "list, ingest token", method: "GET", target: "/api/v1/events", cred: asIngest, want: 403},
		{name: "list, store down", h: down, method: "GET", target: "/api/v1/events", cred: asReader, want: 503},

		{name: "list, one person", method: "GET", target: "/api/v1/events?user_email=ANNA%40example.com", cred: asReader, want: 200},

		{name: "export csv", method: "GET", target: "/api/v1/events/export?format=csv&q=anna", cred: asReader, want: 200},
		{name: "export jsonl", method: "GET", target: "/api/v1/events/export?format=jsonl&user_email=anna%40example.com", cred: asAdmin, want: 200},
		{name: "export, no format", method: "GET", target: "/api/v1/events/export", cred: asReader, want: 400},
		{name: "export, no credential", method: "GET", target: "/api/v1/events/export?format=csv", want: 401},
		{name: "export, ingest token", method: "GET", target: "/api/v1/events/export?format=csv", cred: asIngest, want: 403},
		{name: "export, store down", h: down, method: "GET", target: "/api/v1/events/export?format=csv", cred: asReader, want: 503},

		{name: "erase", method: "DELETE", target: "/api/v1/events?user_email=anna%40example.com", cred: asAdminWithCSRF, want: 200},
		{name: "erase, no address", method: "DELETE", target: "/api/v1/events", cred: asAdminWithCSRF, want: 400},
		{name: "erase, no credential", method: "DELETE", target: "/api/v1/events?user_email=anna%40example.com", want: 401},
		{name: "erase, read token", method: "DELETE", target: "/api/v1/events?user_email=anna%40example.com", cred: asReader, want: 403},
		{name: "erase, store down", h: down, method: "DELETE", target: "/api/v1/events?user_email=anna%40example.com", cred: asAdminWithCSRF, want: 503},

		{name: "history", method: "GET", target: "/api/v1/history?series=cpu.percent,disk%5B%2F%5D.percent&range=1h&instance=oas&types=stream_started", cred: asReader, want: 200},
		{name: "history, bad range", method: "GET", target: "/api/v1/history?series=cpu.percent&range=2h", cred: asReader, want: 400},
		{name: "history, no credential", method: "GET", target: "/api/v1/history?series=cpu.percent&range=1h", want: 401},
		{name: "history, ingest token", method: "GET", target: "/api/v1/history?series=cpu.percent&range=1h", cred: asIngest, want: 403},
		{name: "history, store down", h: down, method: "GET", target: "/api/v1/history?series=cpu.percent&range=1h", cred: asReader, want: 503},
		{name: "instances", method: "GET", target: "/api/v1/instances", cred: asAdmin, want: 200},
		{name: "instances, no credential", method: "GET", target: "/api/v1/instances", want: 401},
		{name: "instances, ingest token", method: "GET", target: "/api/v1/instances", cred: asIngest, want: 403},
		{name: "instances, store down", h: down, method: "GET", target: "/api/v1/instances", cred: asReader, want: 503},

		{name: "document", method: "GET", target: "/api/v1/openapi.json", cred: asIngest, want: 200},
		{name: "document, no credential", method: "GET", target: "/api/v1/openapi.json", want: 401},

		{name: "metrics", method: "GET", target: "/metrics", cred: asReader, want: 200},
		{name: "metrics, no credential", method: "GET", target: "/metrics", want: 401},
		{name: "metrics, ingest token", method: "GET", target: "/metrics", cred: asIngest, want: 403},
	} {
		run(rq)
	}

	if missing := o.unseen(); len(missing) > 0 {
		t.Fatalf("documented answers no request produced:\n%s", strings.Join(missing, "\n"))
	}

	// The document's own request examples are valid requests.
	op := o.lookup(t, "#/paths/~1api~1v1~1events/post/requestBody/content/application~1json")
	for name, ex := range op["examples"].(map[string]any) {
		b, _ := json.Marshal(ex.(map[string]any)["value"])
		if err := validate(o.schema(t, "/paths/~1api~1v1~1events/post/requestBody/content/application~1json/schema"), b); err != nil {
			t.Errorf("example %s: %v", name, err)
		}
	}
}

// TestOpenAPIServedAsEmbedded: the route serves the embedded bytes.
func TestOpenAPIServedAsEmbedded(t *testing.T) {
	h := newSQLiteHarness(t)
	status, header, body := h.do("GET", "/api/v1/openapi.json", nil, "", asReader)
	if status != 200 || !bytes.Equal(body, handlers.OpenAPIDocument()) || header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s: %d bytes", status, header.Get("Content-Type"), len(body))
	}
}
