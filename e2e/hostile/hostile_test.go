package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
)

// TestHostileClients runs every case against the real binary on each
// backend: SQLite always, PostgreSQL in a schema of its own when
// VITALS_TEST_DATABASE_URL is set (and always under CI=true).
func TestHostileClients(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		attack(t, start(t, map[string]string{"VITALS_DATA_DIR": t.TempDir()}))
	})
	t.Run("postgres", func(t *testing.T) {
		dbURL, schema := postgrestest.Schema(t)
		attack(t, start(t, map[string]string{"VITALS_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL, "VITALS_PG_SCHEMA": schema}))
	})
}

// figure is one case's cost, for the summary.
type figure struct {
	name string
	usage
}

func attack(t *testing.T, tg *target) {
	var figures []figure
	record := func(name string, u usage) { figures = append(figures, figure{name, u}) }

	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			before := tg.newest(t)
			var a answer
			u := tg.measure(t, func() { a = tg.send(t, c.req, c.closes) })
			record(c.name, u)
			checkAnswer(t, c, a)
			checkUsage(t, u, 1)
			after := tg.newest(t)
			switch {
			case c.stores == 0 && after != before:
				t.Errorf("the store changed: newest event %d, was %d", after, before)
			case c.stores > 0 && len(tg.events(t, "limit=200")) > 0 && countAfter(tg.events(t, "limit=200"), before) != c.stores:
				t.Errorf("%d events stored, want %d", countAfter(tg.events(t, "limit=200"), before), c.stores)
			}
		})
	}

	t.Run("finding: HSTS over HTTPS", func(t *testing.T) {
		plain := tg.send(t, request("GET", "/health", nil, nil), false)
		viaProxy := tg.send(t, request("GET", "/health", []string{"X-Forwarded-Proto: https"}, nil), false)
		parseErr := tg.send(t, request("GET", "/health", []string{"X-Forwarded-Proto: https", "NoColon"}, nil), false)
		if plain.header.Get("Strict-Transport-Security") != "" {
			t.Errorf("HSTS over plain HTTP: %q", plain.header.Get("Strict-Transport-Security"))
		}
		if !strings.Contains(viaProxy.header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("no HSTS behind a trusted proxy saying https: %v", viaProxy.header)
		}
		checkSecurityHeaders(t, parseErr)
	})

	t.Run("finding: a duplicate key reads nothing back", func(t *testing.T) {
		first := tg.send(t, ingest(`{"type":"ok","message":"private message","user_email":"victim@example.com","details":{"card":"4242"},"idempotency_key":"hostile-dup"}`), false)
		if first.status != 201 {
			t.Fatalf("first post: %d %s", first.status, first.body)
		}
		before := tg.newest(t)
		var again answer
		u := tg.measure(t, func() {
			again = tg.send(t, ingest(`{"type":"ok","message":"guess","idempotency_key":"hostile-dup"}`), false)
		})
		record(t.Name(), u)
		checkUsage(t, u, 1)
		var got map[string]any
		if again.status != 200 || json.Unmarshal(again.body, &got) != nil {
			t.Fatalf("repeat: %d %s", again.status, again.body)
		}
		if len(got) != 3 || got["duplicate"] != true || got["id"] == nil || got["created_at"] == nil {
			t.Errorf("the duplicate answer %s carries more than id, created_at and duplicate", again.body)
		}
		for _, secret := range []string{"private message", "victim@example.com", "4242"} {
			if bytes.Contains(again.body, []byte(secret)) {
				t.Errorf("the duplicate answer reads back %q", secret)
			}
		}
		if tg.newest(t) != before {
			t.Error("the repeat stored an event")
		}
	})

	t.Run("finding: 100 parallel wrong passwords from one address", func(t *testing.T) {
		const addr = "203.0.113.66"
		c := newBrowser(tg, addr)
		csrf := c.formToken(t)
		checks0 := tg.passwordChecks()
		statuses := map[int]int{}
		var mu sync.Mutex
		u := tg.measure(t, func() {
			var wg sync.WaitGroup
			for range 100 {
				wg.Go(func() {
					status, _ := c.post(t, "/login", url.Values{"csrf": {csrf}, "username": {"admin"}, "password": {"wrong password"}})
					mu.Lock()
					statuses[status]++
					mu.Unlock()
				})
			}
			wg.Wait()
		})
		record(t.Name(), u)
		checkUsage(t, u, 100)
		checks := tg.passwordChecks() - checks0
		t.Logf("statuses %v, password checks %d, peak memory +%.1f MiB, CPU %s for 100 requests", statuses, checks, float64(u.growth)/(1<<20), u.cpu)
		if checks > 5 {
			t.Errorf("%d password checks ran, at most 5 may", checks)
		}
		if statuses[401]+statuses[429] != 100 || statuses[401] > 4 {
			t.Errorf("statuses %v: want at most 4 wrong-password answers and the rest locked out", statuses)
		}
		var locked, failed int
		for _, e := range tg.events(t, "type=admin.locked_out&limit=200") {
			if strings.Contains(e.Message, addr) {
				locked++
				if !bytes.Contains(e.Details, []byte(`"failures":5`)) {
					t.Errorf("the lock-out event does not carry the count: %s", e.Details)
				}
			}
		}
		failed = len(tg.events(t, "type=admin.sign_in_failed&limit=200"))
		if locked != 1 || failed != 0 {
			t.Errorf("feed: %d lock-out events (want 1), %d failed sign-ins (want none, one event per attempt floods the feed)", locked, failed)
		}
	})

	var admin *browser
	t.Run("finding: 72 bytes of the password and anything", func(t *testing.T) {
		c := newBrowser(tg, "203.0.113.72")
		csrf := c.formToken(t)
		checks0 := tg.passwordChecks()
		if status, _ := c.post(t, "/login", url.Values{"csrf": {csrf}, "username": {"admin"}, "password": {adminPassword + "anything"}}); status != 401 {
			t.Fatalf("the password's 72 bytes and more: %d, want 401", status)
		}
		if status, _ := c.post(t, "/login", url.Values{"csrf": {csrf}, "username": {"admin"}, "password": {adminPassword}}); status != 303 {
			t.Fatalf("the password itself: %d, want 303", status)
		}
		if n := tg.passwordChecks() - checks0; n != 2 {
			t.Errorf("%d password checks for two sign-ins", n)
		}
		admin = c
	})

	t.Run("finding: the details view is bounded", func(t *testing.T) {
		if admin == nil {
			t.Skip("no admin session")
		}
		// Depth 32 (the most allowed), about 16 KiB wide.
		item := strings.Repeat("[", 30) + strings.Repeat("]", 30)
		details := `{"a":[` + strings.Repeat(item+",", 265) + item + `]}`
		posted := tg.send(t, ingest(`{"type":"ok","message":"wide and deep","details":`+details+`}`), false)
		if posted.status != 201 {
			t.Fatalf("post: %d %s", posted.status, posted.body)
		}
		var ev storedEvent
		_ = json.Unmarshal(posted.body, &ev)
		var status int
		var body []byte
		u := tg.measure(t, func() {
			status, body = admin.get(t, fmt.Sprintf("/partials/events/details?c=%d-%d", ev.CreatedAt.UnixNano(), ev.ID))
		})
		record(t.Name(), u)
		checkUsage(t, u, 1)
		t.Logf("%d bytes of details render as %d bytes", len(details), len(body))
		if status != 200 || len(body) > 8*len(details)+4096 {
			t.Errorf("details view: %d, %d bytes for %d stored", status, len(body), len(details))
		}
	})

	sort.Slice(figures, func(i, j int) bool { return figures[i].growth > figures[j].growth })
	var maxCPU figure
	for _, f := range figures {
		if f.cpu > maxCPU.cpu {
			maxCPU = f
		}
	}
	if len(figures) > 0 {
		t.Logf("%d measured cases; peak memory growth at most %.1f MiB (%s); CPU at most %s (%s)",
			len(figures), float64(figures[0].growth)/(1<<20), figures[0].name, maxCPU.cpu, maxCPU.name)
	}
}

func countAfter(evs []storedEvent, id int64) int {
	n := 0
	for _, e := range evs {
		if e.ID > id {
			n++
		}
	}
	return n
}

func checkUsage(t *testing.T, u usage, requests int) {
	t.Helper()
	if u.growth >= maxGrowth {
		t.Errorf("peak memory grew by %.1f MiB, more than %d MiB", float64(u.growth)/(1<<20), maxGrowth>>20)
	}
	if u.cpu > time.Duration(requests)*maxCPUPerReq {
		t.Errorf("the server spent %s of CPU on %d requests", u.cpu, requests)
	}
}

func checkAnswer(t *testing.T, c kase, a answer) {
	t.Helper()
	if a.status != c.status {
		t.Fatalf("status %d, want %d: %.300s", a.status, c.status, a.body)
	}
	if c.head {
		checkSecurityHeaders(t, a)
		return
	}
	if c.says != "" && !bytes.Contains(a.body, []byte(c.says)) {
		t.Errorf("the answer does not say %q: %.300s", c.says, a.body)
	}
	if c.closes && !a.closed {
		t.Error("the connection stayed open")
	}
	if c.status >= 400 && !c.html {
		var p struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type %q, want application/problem+json", ct)
		}
		if json.Unmarshal(a.body, &p) != nil || p.Status != c.status || p.Detail == "" {
			t.Errorf("not a problem document with a message: %.300s", a.body)
		}
	}
	for _, s := range []string{secretBearer, secretCookie} {
		if bytes.Contains(a.body, []byte(s)) {
			t.Errorf("the answer quotes the request's credentials: %.300s", a.body)
		}
	}
	checkSecurityHeaders(t, a)
}

func checkSecurityHeaders(t *testing.T, a answer) {
	t.Helper()
	for h, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
	} {
		if !strings.Contains(a.header.Get(h), want) {
			t.Errorf("%s: %q, want %q", h, a.header.Get(h), want)
		}
	}
}

// browser is a client with cookies, from one address (Fly-Client-IP, which
// the server trusts here).
type browser struct {
	tg      *target
	addr    string
	client  *http.Client
	mu      sync.Mutex
	cookies map[string]string
}

func newBrowser(tg *target, addr string) *browser {
	return &browser{tg: tg, addr: addr, cookies: map[string]string{},
		client: &http.Client{
			Timeout:       60 * time.Second,
			Transport:     &http.Transport{MaxConnsPerHost: 100, MaxIdleConnsPerHost: 100},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

func (b *browser) do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	req.Header.Set("Fly-Client-IP", b.addr)
	b.mu.Lock()
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	b.mu.Unlock()
	resp, err := b.client.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.mu.Lock()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	b.mu.Unlock()
	return resp.StatusCode, body
}

func (b *browser) get(t *testing.T, path string) (int, []byte) {
	req, _ := http.NewRequest("GET", "http://"+b.tg.addr+path, nil)
	return b.do(t, req)
}

func (b *browser) post(t *testing.T, path string, form url.Values) (int, []byte) {
	req, _ := http.NewRequest("POST", "http://"+b.tg.addr+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(t, req)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// formToken opens the sign-in form and returns its CSRF token.
func (b *browser) formToken(t *testing.T) string {
	t.Helper()
	for range 50 {
		status, page := b.get(t, "/login")
		if m := csrfInput.FindSubmatch(page); status == 200 && m != nil && len(m[1]) > 0 {
			return string(m[1])
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the sign-in form has no CSRF token")
	return ""
}
