package handlers_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
	"github.com/vitalsdev/vitals/web"
)

// Tests of the integration surface (issue 4) over the real app: idempotent
// ingest, occurred_at, the list's filters and cursor, erasure, stored
// tokens and the ingest rate limit, on both backends.

// newConfiguredHarness is newHarness with changes to the app's Config.
func newConfiguredHarness(t testing.TB, store storage.Store, change func(*handlers.Config)) *harness {
	t.Helper()
	site, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	sampler := probes.NewSampler(probes.SamplerConfig{}, probes.HostProbes(probes.HostConfig{})...)
	sampler.Tick(t.Context())
	cfg := handlers.Config{
		Store:      store,
		Snapshots:  sampler,
		Creds:      handlers.NewCredentials(adminPassword, []string{readToken}, []string{ingestToken}),
		Site:       site,
		Health:     handlers.NewHealth("test", time.Second, time.Second),
		SessionKey: []byte(sessionKey),
	}
	if change != nil {
		change(&cfg)
	}
	return &harness{t: t, app: handlers.New(cfg), store: store}
}

// forEachStore runs fn on a fresh store of every backend whose retention
// keeps keep events.
func forEachStore(t *testing.T, keep int, fn func(t *testing.T, store storage.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqlitetest.Open(t, sqlite.Options{EventsKeep: keep})) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgrestest.Open(t, postgres.Options{EventsKeep: keep})) })
}

// forEachSharedStores is forEachStore with two stores on one database, as
// two vitals instances have.
func forEachSharedStores(t *testing.T, fn func(t *testing.T, a, b storage.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shared.db")
		fn(t, sqlitetest.OpenPath(t, path, sqlite.Options{}), sqlitetest.OpenPath(t, path, sqlite.Options{}))
	})
	t.Run("postgres", func(t *testing.T) {
		rawURL, schema := postgrestest.Schema(t)
		var stores [2]storage.Store
		for i := range stores {
			s, err := postgres.Open(t.Context(), rawURL, postgres.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if err := s.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			stores[i] = s
		}
		fn(t, stores[0], stores[1])
	})
}

type postedJSON struct {
	eventJSON
	Duplicate bool `json:"duplicate"`
}

type pageJSON struct {
	Events     []eventJSON `json:"events"`
	NextCursor *string     `json:"next_cursor"`
}

// post sends body to the running server at base with the token and returns
// status and body.
func post(t testing.TB, client *http.Client, base, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/events", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestBatchWithOneInvalidEventStoresNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		events := make([]string, 5)
		for i := range events {
			events[i] = fmt.Sprintf(`{"type":"ok","message":"m%d","idempotency_key":"batch-%d"}`, i, i)
		}
		events[3] = `{"type":"Bad Type","message":"m3"}`
		status, body := h.postJSON("["+strings.Join(events, ",")+"]", asIngest)
		if status != http.StatusBadRequest {
			t.Fatalf("status %d: %s", status, body)
		}
		p := decode[problemJSON](t, body)
		if len(p.Errors) != 1 || p.Errors[0].Index == nil || *p.Errors[0].Index != 3 || p.Errors[0].Field != "type" {
			t.Fatalf("errors = %+v, want one naming index 3, field type", p.Errors)
		}
		if n := len(h.stored()); n != 0 {
			t.Fatalf("%d events stored after a rejected batch", n)
		}
		// Its keys were not kept either: the good events go in now.
		events[3] = `{"type":"ok","message":"m3"}`
		if status, body := h.postJSON("["+strings.Join(events, ",")+"]", asIngest); status != http.StatusCreated {
			t.Fatalf("the corrected batch: %d %s", status, body)
		}
		if n := len(h.stored()); n != 5 {
			t.Fatalf("%d events stored, want 5", n)
		}
	})
}

func TestIdempotencyAndOccurredAtValidation(t *testing.T) {
	h := newSQLiteHarness(t)
	now := time.Now().UTC()
	for _, tc := range []struct {
		body, field string
	}{
		{`{"type":"t","message":"m","idempotency_key":""}`, "idempotency_key"},
		{`{"type":"t","message":"m","idempotency_key":"` + strings.Repeat("k", 65) + `"}`, "idempotency_key"},
		{`{"type":"t","message":"m","idempotency_key":"tab\there"}`, "idempotency_key"},
		{`{"type":"t","message":"m","idempotency_key":42}`, "idempotency_key"},
		{`{"type":"t","message":"m","occurred_at":"yesterday"}`, "occurred_at"},
		{`{"type":"t","message":"m","occurred_at":"2026-01-02 03:04:05"}`, "occurred_at"},
		{`{"type":"t","message":"m","occurred_at":"` + now.Add(10*time.Minute).Format(time.RFC3339) + `"}`, "occurred_at"},
		{`{"type":"t","message":"m","occurred_at":"` + now.Add(-25*time.Hour).Format(time.RFC3339) + `"}`, "occurred_at"},
	} {
		status, body := h.postJSON(tc.body, asIngest)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.body, status)
			continue
		}
		if p := decode[problemJSON](t, body); len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
			t.Errorf("%s: errors %+v, want one naming %s", tc.body, p.Errors, tc.field)
		}
	}
	if n := len(h.stored()); n != 0 {
		t.Fatalf("%d events stored after rejected posts", n)
	}
	// 64 characters of Cyrillic are 128 bytes: the limit counts characters.
	if status, body := h.postJSON(`{"type":"t","message":"m","idempotency_key":"`+strings.Repeat("ж", 64)+`"}`, asIngest); status != http.StatusCreated {
		t.Errorf("a 64-character key: %d %s", status, body)
	}
}

func TestOccurredAtBecomesCreatedAt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		at := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
		status, body := h.postJSON(`{"type":"buffered","message":"happened earlier","occurred_at":"`+at.In(time.FixedZone("MSK", 3*3600)).Format(time.RFC3339Nano)+`"}`, asIngest)
		if status != http.StatusCreated {
			t.Fatalf("post: %d %s", status, body)
		}
		if got := decode[postedJSON](t, body); !got.CreatedAt.Equal(at) {
			t.Fatalf("created_at %s, want %s", got.CreatedAt, at)
		}
		// A clock a little ahead of the server's: taken as now.
		ahead := time.Now().Add(20 * time.Second).UTC().Format(time.RFC3339Nano)
		status, body = h.postJSON(`{"type":"skewed","message":"clock ahead","occurred_at":"`+ahead+`"}`, asIngest)
		if status != http.StatusCreated {
			t.Fatalf("post ahead: %d %s", status, body)
		}
		if got := decode[postedJSON](t, body); got.CreatedAt.After(time.Now()) {
			t.Fatalf("created_at %s is in the future", got.CreatedAt)
		}
		list := h.stored()
		if len(list) != 2 || list[1].Type != "buffered" || !list[1].CreatedAt.Equal(at) {
			t.Fatalf("listed %+v", list)
		}
	})
}

// TestIdempotentRetries: the same key posted 10 times at once over real
// connections is stored once, every answer names the same id (one 201, the
// rest 200), and a retry after retention pruned the event still stores
// nothing.
func TestIdempotentRetries(t *testing.T) {
	const keep = 10
	forEachStore(t, keep, func(t *testing.T, store storage.Store) {
		h := newHarness(t, store)
		base := h.serve()
		client := benchClient()
		body := `{"type":"payment.received","message":"Payment 42 received","user_email":"payer@example.com","idempotency_key":"payment-42"}`
		var (
			mu       sync.Mutex
			statuses = map[int]int{}
			ids      = map[int64]int{}
			wg       sync.WaitGroup
		)
		for range 10 {
			wg.Go(func() {
				status, out := post(t, client, base, ingestToken, body)
				var ev postedJSON
				if err := json.Unmarshal(out, &ev); err != nil {
					t.Errorf("answer %d %s: %v", status, out, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				statuses[status]++
				ids[ev.ID]++
				if ev.Duplicate != (status == http.StatusOK) {
					t.Errorf("status %d with duplicate %v", status, ev.Duplicate)
				}
			})
		}
		wg.Wait()
		if statuses[http.StatusCreated] != 1 || statuses[http.StatusOK] != 9 || len(ids) != 1 {
			t.Fatalf("statuses %v, ids %v; want one 201, nine 200, one id", statuses, ids)
		}
		var id int64
		for k := range ids {
			id = k
		}
		if n := len(h.stored()); n != 1 {
			t.Fatalf("%d events stored, want 1", n)
		}

		// Retention prunes the event; the key outlives it.
		var batch []string
		for i := range 2 * keep {
			batch = append(batch, fmt.Sprintf(`{"type":"filler","message":"f%d"}`, i))
		}
		if status, out := post(t, client, base, ingestToken, "["+strings.Join(batch, ",")+"]"); status != http.StatusCreated {
			t.Fatalf("filler batch: %d %s", status, out)
		}
		stored := h.stored()
		for _, e := range stored {
			if e.ID == id {
				t.Fatal("the keyed event survived retention; the case needs it pruned")
			}
		}
		status, out := post(t, client, base, ingestToken, body)
		if status != http.StatusOK {
			t.Fatalf("retry after the prune: %d %s", status, out)
		}
		if got := decode[postedJSON](t, out); got.ID != id || !got.Duplicate {
			t.Fatalf("retry after the prune answered %+v, want id %d, duplicate", got, id)
		}
		if n := len(h.stored()); n != len(stored) {
			t.Fatalf("%d events after the retry, want %d: it was stored again", n, len(stored))
		}

		// A batch: 201 if anything is new, with a result per event; 200 when
		// nothing is.
		mixed := `[{"type":"a","message":"new","idempotency_key":"b-1"},{"type":"a","message":"old","idempotency_key":"payment-42"}]`
		status, out = post(t, client, base, ingestToken, mixed)
		if status != http.StatusCreated {
			t.Fatalf("mixed batch: %d %s", status, out)
		}
		res := decode[struct{ Events []postedJSON }](t, out).Events
		if len(res) != 2 || res[0].Duplicate || !res[1].Duplicate || res[1].ID != id {
			t.Fatalf("mixed batch answered %+v", res)
		}
		status, out = post(t, client, base, ingestToken, mixed)
		if status != http.StatusOK {
			t.Fatalf("the same batch again: %d %s", status, out)
		}
		if res2 := decode[struct{ Events []postedJSON }](t, out).Events; !res2[0].Duplicate || res2[0].ID != res[0].ID {
			t.Fatalf("the same batch again answered %+v", res2)
		}
	})
}

// TestPaginationWhileInserting walks 1000 events with limit 37 while new
// ones keep arriving: every event there at the start is seen exactly once,
// newest first, and nothing twice.
func TestPaginationWhileInserting(t *testing.T) {
	forEachStore(t, 100_000, func(t *testing.T, store storage.Store) {
		h := newHarness(t, store)
		base := h.serve()
		client := benchClient()
		initial := map[int64]bool{}
		for b := range 10 {
			var evs []string
			for i := range 100 {
				evs = append(evs, fmt.Sprintf(`{"type":"initial","message":"i%d"}`, b*100+i))
			}
			status, out := post(t, client, base, ingestToken, "["+strings.Join(evs, ",")+"]")
			if status != http.StatusCreated {
				t.Fatalf("batch %d: %d %s", b, status, out)
			}
			for _, e := range decode[struct{ Events []postedJSON }](t, out).Events {
				initial[e.ID] = true
			}
		}

		// New events arrive throughout the walk, bounded in number.
		stop := make(chan struct{})
		var posted atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range 5000 {
				select {
				case <-stop:
					return
				default:
				}
				if status, out := post(t, client, base, ingestToken, fmt.Sprintf(`{"type":"arriving","message":"a%d"}`, i)); status != http.StatusCreated {
					t.Errorf("arriving %d: %d %s", i, status, out)
					return
				}
				posted.Add(1)
			}
		})

		seen := map[int64]int{}
		var walked []eventJSON
		next := "/api/v1/events?limit=37"
		pages := 0
		for ; next != ""; pages++ {
			if pages > 200 {
				t.Fatal("more than 200 pages")
			}
			// At least one new event between two pages, so that the walk
			// and the arrivals really interleave.
			n := posted.Load()
			eventually(t, 10*time.Second, "an event arrives", func() bool { return posted.Load() > n })
			status, _, body := h.do(http.MethodGet, next, nil, "", asReader)
			if status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", next, status, body)
			}
			page := decode[pageJSON](t, body)
			if len(page.Events) > 37 {
				t.Fatalf("page of %d events with limit 37", len(page.Events))
			}
			walked = append(walked, page.Events...)
			next = ""
			if page.NextCursor != nil {
				if *page.NextCursor == "" {
					t.Fatal("next_cursor present but empty")
				}
				next = "/api/v1/events?limit=37&cursor=" + url.QueryEscape(*page.NextCursor)
			}
		}
		close(stop)
		wg.Wait()
		if posted.Load() == 0 {
			t.Fatal("no event arrived during the walk")
		}
		for i, e := range walked {
			seen[e.ID]++
			if seen[e.ID] > 1 {
				t.Fatalf("event %d seen twice", e.ID)
			}
			if i > 0 {
				p := walked[i-1]
				if c := cmp.Or(e.CreatedAt.Compare(p.CreatedAt), cmp.Compare(e.ID, p.ID)); c >= 0 {
					t.Fatalf("events %d (%s) and %d (%s) are not newest first", p.ID, p.CreatedAt, e.ID, e.CreatedAt)
				}
			}
		}
		for id := range initial {
			if seen[id] != 1 {
				t.Fatalf("initial event %d seen %d times", id, seen[id])
			}
		}
		t.Logf("%d pages, %d events walked, %d arrived meanwhile", pages, len(walked), posted.Load())
	})
}

func TestListQuery(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		base := time.Now().Add(-5 * time.Hour).UTC().Truncate(time.Second)
		var evs []string
		for i, m := range []string{"Трек добавлен", "Stream started", "100% done", "user signed up", "Stream stopped"} {
			typ := []string{"track_added", "stream_started", "job", "user_registered", "stream_stopped"}[i]
			evs = append(evs, fmt.Sprintf(`{"type":%q,"message":%q,"user_email":"u%d@Example.com","occurred_at":%q}`,
				typ, m, i, base.Add(time.Duration(i)*time.Hour).Format(time.RFC3339)))
		}
		if status, body := h.postJSON("["+strings.Join(evs, ",")+"]", asIngest); status != http.StatusCreated {
			t.Fatalf("post: %d %s", status, body)
		}
		list := func(query string) []string {
			t.Helper()
			status, _, body := h.do(http.MethodGet, "/api/v1/events?"+query, nil, "", asReader)
			if status != http.StatusOK {
				t.Fatalf("GET ?%s: %d %s", query, status, body)
			}
			var out []string
			for _, e := range decode[pageJSON](t, body).Events {
				out = append(out, e.Message)
			}
			return out
		}
		at := func(h int) string {
			return url.QueryEscape(base.Add(time.Duration(h) * time.Hour).Format(time.RFC3339))
		}
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"type=stream_started,stream_stopped", []string{"Stream stopped", "Stream started"}},
			{"type=stream_started&type=job", []string{"100% done", "Stream started"}},
			{"since=" + at(3), []string{"Stream stopped", "user signed up"}},
			{"until=" + at(1), []string{"Трек добавлен"}},
			{"since=" + at(1) + "&until=" + at(3), []string{"100% done", "Stream started"}},
			{"since=" + strings.ReplaceAll(base.Add(3*time.Hour).In(time.FixedZone("", 3*3600)).Format(time.RFC3339), "+", "%2B"), []string{"Stream stopped", "user signed up"}},
			{"q=STREAM", []string{"Stream stopped", "Stream started"}},
			{"q=" + url.QueryEscape("трек"), []string{"Трек добавлен"}},
			{"q=" + url.QueryEscape("100%"), []string{"100% done"}},
			{"q=u3%40example", []string{"user signed up"}},
			{"q=stream&type=stream_started", []string{"Stream started"}},
			{"q=nothing", nil},
		} {
			if got := list(tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("?%s = %q, want %q", tc.query, got, tc.want)
			}
		}
		// The last page carries no cursor, even when it is full.
		status, _, body := h.do(http.MethodGet, "/api/v1/events?limit=5", nil, "", asReader)
		if status != 200 || bytes.Contains(body, []byte("next_cursor")) {
			t.Fatalf("a full last page: %d %s", status, body)
		}
		status, _, body = h.do(http.MethodGet, "/api/v1/events?limit=4", nil, "", asReader)
		page := decode[pageJSON](t, body)
		if status != 200 || page.NextCursor == nil || len(page.Events) != 4 {
			t.Fatalf("a page with more after it: %d %s", status, body)
		}
		status, _, body = h.do(http.MethodGet, "/api/v1/events?limit=4&cursor="+*page.NextCursor, nil, "", asReader)
		if last := decode[pageJSON](t, body); status != 200 || len(last.Events) != 1 || last.NextCursor != nil || last.Events[0].Message != "Трек добавлен" {
			t.Fatalf("the page after the cursor: %d %s", status, body)
		}

		for _, tc := range []struct{ query, field string }{
			{"cursor=not-a-cursor", "cursor"},
			{"cursor=" + strings.Repeat("A", 23), "cursor"},
			{"since=yesterday", "since"},
			{"until=2026-13-01T00:00:00Z", "until"},
			{"since=" + at(3) + "&until=" + at(1), "until"},
			{"q=" + strings.Repeat("x", 201), "q"},
			{"limit=201", "limit"},
			{"type=Bad", "type"},
		} {
			status, hdr, body := h.do(http.MethodGet, "/api/v1/events?"+tc.query, nil, "", asReader)
			if status != http.StatusBadRequest || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") {
				t.Errorf("?%s: %d %s", tc.query, status, body)
				continue
			}
			if p := decode[problemJSON](t, body); len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Errorf("?%s: errors %+v, want one naming %s", tc.query, p.Errors, tc.field)
			}
		}
	})
}

func TestEraseEventsByEmail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		for i, email := range []string{"anna@example.com", "Anna@Example.com", "boris@example.com", "anna@example.com"} {
			if status, body := h.postJSON(fmt.Sprintf(`{"type":"user_registered","message":"m%d","user_email":%q}`, i, email), asIngest); status != 201 {
				t.Fatalf("post: %d %s", status, body)
			}
		}
		cookie := handlers.SessionCookieForTest([]byte(sessionKey), time.Hour)
		csrf := handlers.CSRFTokenForTest([]byte(sessionKey), cookie)
		withCSRF := func(token string) cred {
			return func(r *http.Request) {
				session(cookie)(r)
				r.Header.Set("X-CSRF-Token", token)
			}
		}
		target := "/api/v1/events?user_email=" + url.QueryEscape("ANNA@example.com")
		for _, tc := range []struct {
			name string
			c    cred
			want int
		}{
			{"no credential", anon, http.StatusUnauthorized},
			{"read token", asReader, http.StatusForbidden},
			{"ingest token", asIngest, http.StatusForbidden},
			{"session without CSRF token", asAdmin, http.StatusForbidden},
			{"session with a wrong CSRF token", withCSRF(strings.Repeat("x", len(csrf))), http.StatusForbidden},
		} {
			if status, _, body := h.do(http.MethodDelete, target, nil, "", tc.c); status != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.want)
			}
		}
		if n := len(h.stored()); n != 4 {
			t.Fatalf("%d events after refused erasures, want 4", n)
		}
		for _, q := range []string{"", "?user_email=", "?user_email=not-an-email"} {
			status, _, body := h.do(http.MethodDelete, "/api/v1/events"+q, nil, "", withCSRF(csrf))
			if status != http.StatusBadRequest || !strings.Contains(string(body), "user_email") {
				t.Errorf("DELETE %q: %d %s", q, status, body)
			}
		}

		status, _, body := h.do(http.MethodDelete, target, nil, "", withCSRF(csrf))
		if status != http.StatusOK {
			t.Fatalf("erase: %d %s", status, body)
		}
		if got := decode[struct{ Deleted int64 }](t, body); got.Deleted != 3 {
			t.Fatalf("deleted %d, want 3", got.Deleted)
		}
		left := h.stored()
		if len(left) != 2 || left[0].Type != storage.TypeEventsErased || left[1].Message != "m2" {
			t.Fatalf("left after erasure: %+v", left)
		}
		if strings.Contains(strings.ToLower(left[0].Message+string(left[0].Details)), "anna") {
			t.Errorf("the erasure's record names the person: %q %s", left[0].Message, left[0].Details)
		}
		// The form field works too, as for the page's forms.
		status, _, body = h.do(http.MethodDelete, target+"&csrf="+url.QueryEscape(csrf), nil, "", session(cookie))
		if status != http.StatusOK {
			t.Fatalf("erase with the csrf field: %d %s", status, body)
		}
	})
}

// storedTokensHarness is a harness whose credentials include the stored
// tokens, kept current by the refresher running until the test ends.
func storedTokensHarness(t *testing.T, store storage.Store, change func(*handlers.Config)) (*harness, *handlers.StoredTokens) {
	t.Helper()
	tokens := handlers.NewStoredTokens(store, nil)
	h := newConfiguredHarness(t, store, func(c *handlers.Config) {
		c.Creds.UseStoredTokens(tokens)
		if change != nil {
			change(c)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tokens.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h, tokens
}

func createToken(t *testing.T, store storage.Store, name, kind string) (string, storage.Token) {
	t.Helper()
	token, hash := handlers.NewToken()
	st, err := store.CreateToken(t.Context(), storage.NewToken{Name: name, Kind: kind, Hash: hash})
	if err != nil {
		t.Fatal(err)
	}
	return token, st
}

// eventually polls cond every 10 ms until it holds, failing after limit;
// it returns how long that took.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestStoredTokens(t *testing.T) {
	forEachStore(t, storage.DefaultEventsKeep, func(t *testing.T, store storage.Store) {
		h, _ := storedTokensHarness(t, store, nil)
		read, _ := createToken(t, store, "grafana", storage.TokenRead)
		ingest, ingestRow := createToken(t, store, "backend", storage.TokenIngest)
		eventually(t, 10*time.Second, "new tokens accepted", func() bool {
			status, _ := h.postJSON(`{"type":"t","message":"m"}`, bearer(ingest))
			return status == http.StatusCreated
		})
		for _, tc := range []struct {
			name, method, path string
			c                  cred
			want               int
		}{
			{"stored read token reads", "GET", "/api/v1/events", bearer(read), 200},
			{"stored read token cannot post", "POST", "/api/v1/events", bearer(read), 403},
			{"stored ingest token cannot read", "GET", "/api/v1/events", bearer(ingest), 403},
			{"stored ingest token cannot read metrics", "GET", "/api/v1/system/metrics", bearer(ingest), 403},
			{"stored ingest token posts", "POST", "/api/v1/events", bearer(ingest), 201},
			{"environment tokens still work", "GET", "/api/v1/events", asReader, 200},
			{"a hash is not a token", "GET", "/api/v1/events", bearer(handlers.HashToken(read)), 401},
		} {
			var body []byte
			if tc.method == "POST" {
				body = []byte(`{"type":"t","message":"m"}`)
			}
			if status, _, out := h.do(tc.method, tc.path, body, "application/json", tc.c); status != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, status, out, tc.want)
			}
		}
		// Revoking one token leaves the other working.
		if _, err := store.RevokeToken(t.Context(), ingestRow.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "revoked token refused", func() bool {
			status, _ := h.postJSON(`{"type":"t","message":"m"}`, bearer(ingest))
			return status == http.StatusUnauthorized
		})
		if status, _, out := h.do("GET", "/api/v1/events", nil, "", bearer(read)); status != 200 {
			t.Errorf("the read token after another's revocation: %d %s", status, out)
		}
	})
}

// TestRevokedTokenRefusedOnEveryInstance: two instances on one database;
// after a revocation both refuse the token. The limit checked is generous
// (no timed assertions on a noisy machine); the refresher polls every
// 250 ms, and the time taken is logged.
func TestRevokedTokenRefusedOnEveryInstance(t *testing.T) {
	forEachSharedStores(t, func(t *testing.T, a, b storage.Store) {
		ha, _ := storedTokensHarness(t, a, nil)
		hb, _ := storedTokensHarness(t, b, nil)
		token, row := createToken(t, a, "rotating", storage.TokenRead)
		accepts := func(h *harness) bool {
			status, _, _ := h.do("GET", "/api/v1/events", nil, "", bearer(token))
			return status == http.StatusOK
		}
		eventually(t, 10*time.Second, "instance a accepts the new token", func() bool { return accepts(ha) })
		eventually(t, 10*time.Second, "instance b accepts the new token", func() bool { return accepts(hb) })

		if _, err := b.RevokeToken(t.Context(), row.ID); err != nil {
			t.Fatal(err)
		}
		took := eventually(t, 5*time.Second, "both instances refuse the revoked token", func() bool {
			return !accepts(ha) && !accepts(hb)
		})
		t.Logf("revoked token refused on both instances after %s", took.Round(time.Millisecond))
		status, hdr, body := ha.do("GET", "/api/v1/events", nil, "", bearer(token))
		if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("revoked token: %d %s %s", status, hdr.Get("WWW-Authenticate"), body)
		}
	})
}

func TestStoredTokenLastUsed(t *testing.T) {
	store := sqlitetest.Open(t, sqlite.Options{})
	tokens := handlers.NewStoredTokens(store, nil)
	tokens.Flush = 50 * time.Millisecond
	h := newConfiguredHarness(t, store, func(c *handlers.Config) { c.Creds.UseStoredTokens(tokens) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tokens.Run(ctx) }()
	defer func() { cancel(); <-done }()

	token, row := createToken(t, store, "used", storage.TokenIngest)
	before := time.Now().Add(-time.Second)
	eventually(t, 10*time.Second, "token accepted", func() bool {
		status, _ := h.postJSON(`{"type":"t","message":"m"}`, bearer(token))
		return status == http.StatusCreated
	})
	eventually(t, 10*time.Second, "last use recorded", func() bool {
		list, err := store.Tokens(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return list[0].ID == row.ID && list[0].LastUsedAt != nil && !list[0].LastUsedAt.Before(before.Truncate(time.Second))
	})
}

func TestIngestRateLimit(t *testing.T) {
	// One request per 100 s after a burst of 2: the third request in a row
	// is refused however slow the machine.
	h := newConfiguredHarness(t, sqlitetest.Open(t, sqlite.Options{}), func(c *handlers.Config) {
		c.IngestRate, c.IngestBurst = 0.01, 2
		c.Creds = handlers.NewCredentials(adminPassword, []string{readToken}, []string{ingestToken, "second-ingest-token-0123456789"})
	})
	for i := range 2 {
		if status, body := h.postJSON(`[{"type":"t","message":"a"},{"type":"t","message":"b"}]`, asIngest); status != http.StatusCreated {
			t.Fatalf("request %d within the burst: %d %s", i+1, status, body)
		}
	}
	status, hdr, body := h.do(http.MethodPost, "/api/v1/events", []byte(`{"type":"t","message":"c"}`), "application/json", asIngest)
	if status != http.StatusTooManyRequests {
		t.Fatalf("request past the burst: %d %s", status, body)
	}
	if !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") {
		t.Errorf("Content-Type %q", hdr.Get("Content-Type"))
	}
	if s, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || s < 1 || s > 100 {
		t.Errorf("Retry-After %q, want 1..100 seconds", hdr.Get("Retry-After"))
	}
	if n := len(h.stored()); n != 4 {
		t.Errorf("%d events stored, want the 4 of the allowed requests", n)
	}
	// The bucket is the token's: another token posts on.
	if status, body := h.postJSON(`{"type":"t","message":"d"}`, bearer("second-ingest-token-0123456789")); status != http.StatusCreated {
		t.Fatalf("another token: %d %s", status, body)
	}
	// Reads are not limited.
	for range 3 {
		if status, _, body := h.do(http.MethodGet, "/api/v1/events", nil, "", asReader); status != 200 {
			t.Fatalf("read: %d %s", status, body)
		}
	}
}
