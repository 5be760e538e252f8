package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
	"github.com/vitalsdev/vitals/web"
)

// seedTypes are the seed's six event types.
var seedTypes = []string{"user_registered", "user_approved", "user_rejected", "stream_started", "stream_stopped", "track_added"}

// insertEvents stores n events, oldest first, cycling through the seed's
// types; every third has an email and every fifth details.
func (h *harness) insertEvents(n int) {
	h.t.Helper()
	var evs []storage.NewEvent
	for i := range n {
		e := storage.NewEvent{Type: seedTypes[i%len(seedTypes)], Message: fmt.Sprintf("event %03d", i)}
		if i%3 == 0 {
			email := fmt.Sprintf("user%03d@example.com", i)
			e.UserEmail = &email
		}
		if i%5 == 0 {
			e.Details = []byte(fmt.Sprintf(`{"n":%d,"html":"<i>x</i>"}`, i))
		}
		evs = append(evs, e)
	}
	if _, err := h.store.InsertEvents(context.Background(), evs); err != nil {
		h.t.Fatal(err)
	}
}

var (
	itemID   = regexp.MustCompile(`<li id="e(\d+)"`)
	hxGet    = regexp.MustCompile(`id="feed-new" hx-get="([^"]+)"`)
	showGet  = regexp.MustCompile(`id="show-new" class="btn newbar" hx-get="([^"]+)"`)
	olderGet = regexp.MustCompile(`class="btn more" hx-get="([^"]+)"`)
	detailsC = regexp.MustCompile(`data-c="([^"]+)"`)
)

func ids(page string) []string {
	var out []string
	for _, m := range itemID.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

func (h *harness) page(path string) string {
	h.t.Helper()
	status, _, body := h.do("GET", path, nil, "", asAdmin)
	if status != 200 {
		h.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return string(body)
}

// The feed shows the newest 50; "load more" pages on by cursor with no gap
// and no repeat; the polled head keeps the events it shows and adds new
// ones on top.
func TestFeedPagesByCursor(t *testing.T) {
	h := newSQLiteHarness(t)
	h.insertEvents(120)
	page := h.page("/")
	first := ids(page)
	if len(first) != 50 || first[0] != "120" || first[49] != "71" {
		t.Fatalf("first page: %d events, %v", len(first), first)
	}
	all := append([]string(nil), first...)
	next := olderGet.FindStringSubmatch(page)
	for next != nil {
		more := h.page(html.UnescapeString(next[1]))
		all = append(all, ids(more)...)
		next = olderGet.FindStringSubmatch(more)
	}
	if len(all) != 120 || all[119] != "1" {
		t.Fatalf("paged through %d events, last %s", len(all), all[len(all)-1])
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("event %s shown twice", id)
		}
		seen[id] = true
	}

	head := html.UnescapeString(hxGet.FindStringSubmatch(page)[1])
	h.insertEvents(2)
	polled := h.page(head)
	// The poll brings the two new events and, looking back feedOverlap for
	// late commits, events the page shows already (it drops those).
	if got := ids(polled); len(got) < 2 || got[0] != "122" || got[1] != "121" {
		t.Fatalf("poll: %v", got)
	}
	// Anchored at the newest now: the next poll brings nothing newer
	// (within the overlap, only events the page shows already).
	again := h.page(html.UnescapeString(hxGet.FindStringSubmatch(polled)[1]))
	for _, id := range ids(again) {
		if n, _ := strconv.Atoi(id); n >= 122 {
			t.Fatalf("second poll brings %s again or anew: %v", id, ids(again))
		}
	}
	// A poll whose read before came later than the overlap after the
	// newest event looks back no further than it: an idle page is sent
	// nothing again.
	u, err := url.Parse(html.UnescapeString(hxGet.FindStringSubmatch(polled)[1]))
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query()
	v.Set("read", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
	if got := ids(h.page(u.Path + "?" + v.Encode())); len(got) != 0 {
		t.Fatalf("idle poll: %v", got)
	}
}

// More new events than a poll adds are counted and offered, never dropped:
// "show" re-anchors the feed at the newest and "load more" then reaches
// every event, the ones shown before included, each once.
func TestFeedPollNeverSkips(t *testing.T) {
	forEachBackend(t, testFeedPollNeverSkips)
}

func testFeedPollNeverSkips(t *testing.T, h *harness) {
	h.insertEvents(30)
	page := h.page("/")
	head := html.UnescapeString(hxGet.FindStringSubmatch(page)[1])
	h.insertEvents(120)
	polled := h.page(head)
	if n := len(ids(polled)); n != 0 {
		t.Fatalf("a poll of 120 new events added %d of them", n)
	}
	if !strings.Contains(polled, "120 new events — show") {
		t.Fatalf("no count of the new events: %.600s", polled)
	}
	// The poll keeps its anchor, so the count stays true.
	if again := h.page(html.UnescapeString(hxGet.FindStringSubmatch(polled)[1])); !strings.Contains(again, "120 new events") {
		t.Fatalf("second poll: %.600s", again)
	}
	h.insertEvents(200)
	if capped := h.page(head); !strings.Contains(capped, "More than 200 new events — show") {
		t.Fatalf("capped count: %.600s", capped)
	}
	feed := h.page(html.UnescapeString(showGet.FindStringSubmatch(polled)[1]))
	all := ids(feed)
	next := olderGet.FindStringSubmatch(feed)
	for next != nil {
		more := h.page(html.UnescapeString(next[1]))
		all = append(all, ids(more)...)
		next = olderGet.FindStringSubmatch(more)
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("event %s shown twice", id)
		}
		seen[id] = true
	}
	if len(all) != 350 || all[0] != "350" || all[349] != "1" {
		t.Fatalf("reached %d events, %s..%s", len(all), all[0], all[len(all)-1])
	}
}

// vitals' own events (sign-ins, tokens, erasures) stay out of the feed
// until their chip is on; pages are still full and contiguous around them.
func TestFeedHidesOwnEvents(t *testing.T) {
	forEachBackend(t, testFeedHidesOwnEvents)
}

func testFeedHidesOwnEvents(t *testing.T, h *harness) {
	ctx := context.Background()
	for i := range 60 {
		evs := []storage.NewEvent{{Type: "user_registered", Message: fmt.Sprintf("app %d", i)}}
		if i%2 == 0 {
			evs = append(evs, storage.NewEvent{Type: storage.TypeSignedIn, Message: "The admin signed in from 10.0.0.1",
				Details: []byte(`{"address":"10.0.0.1"}`), Source: storage.SourceVitals})
		}
		if _, err := h.store.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	page := h.page("/")
	if n := len(ids(page)); n != 50 || strings.Contains(page, "The admin signed in") {
		t.Fatalf("default feed: %d events, sign-ins shown: %v", n, strings.Contains(page, "The admin signed in"))
	}
	more := h.page(html.UnescapeString(olderGet.FindStringSubmatch(page)[1]))
	if n := len(ids(more)); n != 10 || strings.Contains(more, "signed in") {
		t.Fatalf("second page: %d events", n)
	}
	own := h.page("/partials/feed?type=" + url.QueryEscape(web.OwnChip()))
	if n := len(ids(own)); n != 30 || !strings.Contains(own, "The admin signed in from 10.0.0.1") {
		t.Fatalf("own chip: %d events", n)
	}
	// The stored English is worded again in the reader's language.
	ru := h.pageLang("/partials/feed?type="+url.QueryEscape(web.OwnChip()), "ru")
	if !strings.Contains(ru, "Администратор вошёл с адреса 10.0.0.1") || strings.Contains(ru, "The admin signed in") {
		t.Fatalf("Russian own events: %.1500s", ru)
	}
}

// The type chips and the search narrow the feed; search matches the
// message or the email, ignoring case.
func TestFeedFilterAndSearch(t *testing.T) {
	h := newSQLiteHarness(t)
	h.insertEvents(60)
	email := "Anna@Example.com"
	if _, err := h.store.InsertEvents(context.Background(), []storage.NewEvent{
		{Type: "track_added", Message: "Трек «Ночь» добавлен в плейлист", UserEmail: &email},
	}); err != nil {
		t.Fatal(err)
	}
	feed := h.page("/partials/feed?type=track_added")
	if n := len(ids(feed)); n != 11 || strings.Contains(feed, ">Registered<") || !strings.Contains(feed, ">Track added<") {
		t.Fatalf("type filter: %d events", n)
	}
	feed = h.page("/partials/feed?type=track_added,user_registered")
	if n := len(ids(feed)); n != 21 {
		t.Fatalf("two types: %d events", n)
	}
	for q, want := range map[string]int{"anna@": 1, "НОЧЬ": 1, "event 05": 10, "user00": 4, "nothing like this": 0} {
		feed = h.page("/partials/feed?q=" + strings.ReplaceAll(q, " ", "+"))
		if n := len(ids(feed)); n != want {
			t.Errorf("q=%q: %d events, want %d", q, n, want)
		}
		if want == 0 && !strings.Contains(feed, "No events match.") {
			t.Errorf("q=%q: no empty message", q)
		}
	}
	// The full page keeps the filter for a reload (no script needed).
	page := h.page("/?type=user_approved&q=event")
	if n := len(ids(page)); n != 10 || !strings.Contains(page, `value="event"`) || !strings.Contains(page, `value="user_approved" checked`) {
		t.Fatalf("page with filter: %d", n)
	}
}

// Every address in the feed links to that person's timeline: the feed
// filtered to the whole address (ignoring case), whose polls, pages and
// filter form keep the person, with a way back to everyone.
func TestFeedPersonTimeline(t *testing.T) {
	h := newSQLiteHarness(t)
	h.insertEvents(30)
	anna, other := "Anna@Example.com", "anna@example.com.evil"
	var evs []storage.NewEvent
	for i, typ := range []string{"user_registered", "user_approved", "stream_started"} {
		evs = append(evs, storage.NewEvent{Type: typ, Message: fmt.Sprintf("anna %d", i), UserEmail: &anna},
			storage.NewEvent{Type: typ, Message: "not anna", UserEmail: &other})
	}
	if _, err := h.store.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	feed := h.page("/")
	if !strings.Contains(feed, `<a class="u" href="?user=Anna%40Example.com">Anna@Example.com</a>`) {
		t.Fatal("the feed's addresses do not link to their timelines")
	}
	page := h.page("/?user=anna%40example.COM")
	if n := len(ids(page)); n != 3 || strings.Contains(page, "not anna") {
		t.Fatalf("timeline: %d events, want Anna's 3", n)
	}
	for _, want := range []string{"Timeline of anna@example.COM", `name="user" value="anna@example.COM"`, `href="/">Show everyone</a>`, "user=anna%40example.COM"} {
		if !strings.Contains(page, want) {
			t.Errorf("timeline page lacks %q", want)
		}
	}
	if n := len(ids(h.page("/partials/feed?user=anna%40example.com&type=stream_started"))); n != 1 {
		t.Errorf("timeline with a type filter: %d events, want 1", n)
	}
	ru := h.pageLang("/?user=anna%40example.com", "ru")
	if !strings.Contains(ru, "События anna@example.com") || !strings.Contains(ru, "Показать всех") {
		t.Error("the Russian page does not word the timeline")
	}
}

// Bad parameters are a 400 naming the field, as on the API.
func TestFeedBadQuery(t *testing.T) {
	h := newSQLiteHarness(t)
	for path, field := range map[string]string{
		"/partials/feed?type=Bad!":                     `"field":"type"`,
		"/partials/feed?q=" + strings.Repeat("x", 201): `"field":"q"`,
		"/partials/events?after=yesterday":             `"field":"after"`,
		"/partials/events?read=-5":                     `"field":"read"`,
		"/partials/events/older":                       `"field":"before"`,
		"/partials/events/details?c=1":                 `"field":"c"`,
		"/?user=not-an-address":                        `"field":"user"`,
	} {
		status, _, body := h.do("GET", path, nil, "", asAdmin)
		if status != 400 || !strings.Contains(string(body), field) {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
}

// Details are fetched when opened, escaped; a pruned event is a 404.
func TestFeedDetails(t *testing.T) {
	h := newSQLiteHarness(t)
	h.insertEvents(6)
	page := h.page("/")
	m := detailsC.FindAllStringSubmatch(page, -1)
	if len(m) != 2 { // events 0 and 5 have details
		t.Fatalf("%d events with details", len(m))
	}
	det := h.page("/partials/events/details?c=" + m[0][1])
	if !strings.Contains(det, "&#34;n&#34;: 5") || strings.Contains(det, "<i>x") {
		t.Fatalf("details: %s", det)
	}
	cur := strings.Split(m[0][1], "-")
	if status, _, _ := h.do("GET", "/partials/events/details?c="+cur[0]+"-999", nil, "", asAdmin); status != 404 {
		t.Fatalf("unknown event: %d", status)
	}
}

// A store that cannot be read leaves the cards up and says why the feed is
// empty.
func TestFeedWithStoreDown(t *testing.T) {
	h := newHarness(t, failingStore{sqlitetest.Open(t, sqlite.Options{})})
	page := h.page("/")
	if !strings.Contains(page, `id="card-cpu"`) || !strings.Contains(page, "The activity feed is unavailable") {
		t.Fatalf("page with the store down: %.2000s", page)
	}
}

// failingStore is a store whose reads fail as an unreachable PostgreSQL's
// do; the real one cannot be made to fail on demand inside a unit test
// (the browser test stops a real one).
type failingStore struct{ harnessStore }

func (failingStore) ListEvents(context.Context, storage.EventFilter) ([]storage.Event, error) {
	return nil, storage.ErrUnavailable
}

// Text answers for browsers are compressed; the JSON API is not (its hot
// path stays a copy of pre-rendered bytes).
func TestCompression(t *testing.T) {
	h := newSQLiteHarness(t)
	h.insertEvents(50)
	page := h.page("/")
	css := regexp.MustCompile(`/static/app\.[0-9a-f]+\.css`).FindString(page)
	for path, want := range map[string]string{"/": "br", "/partials/cards": "br", "/login": "br", css: "br", "/api/v1/system/metrics": ""} {
		c := asAdmin
		if path == "/login" {
			c = anon
		}
		status, hdr, _ := h.do("GET", path, nil, "", func(r *http.Request) {
			c(r)
			r.Header.Set("Accept-Encoding", "br, gzip")
		})
		if status != 200 || hdr.Get("Content-Encoding") != want {
			t.Errorf("%s: %d, Content-Encoding %q, want %q", path, status, hdr.Get("Content-Encoding"), want)
		}
	}
}

// Every browser answer carries the strict policy: no inline script or
// style, no framing.
func TestSecurityHeaders(t *testing.T) {
	h := newSQLiteHarness(t)
	for _, path := range []string{"/", "/login", "/partials/cards"} {
		_, hdr, _ := h.do("GET", path, nil, "", asAdmin)
		csp := hdr.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: CSP allows unsafe sources: %q", path, csp)
		}
		if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", path, hdr)
		}
	}
}

// The page with its assets and the fragments it loads stays within 150 KB
// before compression and 50 KB as sent, with a full feed of events such as
// the seed's.
func TestPageWeight(t *testing.T) {
	h := newSQLiteHarness(t)
	var evs []storage.NewEvent
	messages := []string{"Новый пользователь зарегистрировался", "Пользователь одобрен администратором", "Пользователь отклонён",
		"Эфир начат", "Эфир остановлен", "Трек добавлен в плейлист"}
	for i := range 60 {
		email := fmt.Sprintf("listener%02d@example.com", i)
		evs = append(evs, storage.NewEvent{Type: seedTypes[i%6], Message: messages[i%6], UserEmail: &email,
			Details: []byte(fmt.Sprintf(`{"track_id":%d,"title":"Ночь"}`, i))})
	}
	if _, err := h.store.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	seedLastHour(t, h)
	total, parts := pageWeight(t, h, "/")
	if n := strings.Count(h.page("/"), `class="sparkl"`); n < 3 {
		t.Fatalf("the page weighed has %d sparklines", n)
	}
	// The fragments the page loads after itself count too.
	for _, frag := range lazyFragments.FindAllStringSubmatch(h.page("/"), -1) {
		body := h.page(frag[1])
		parts[frag[1]] = len(body)
		total += len(body)
	}
	t.Logf("page weight: %d bytes (%.1f KB): %v", total, float64(total)/1024, parts)
	// DESIGN.md, "History": with its charts and strips, at most 150 KB
	// before compression and 50 KB as sent.
	if total > 150*1024 {
		t.Fatalf("page and assets weigh %d bytes, over 150 KB: %v", total, parts)
	}
	sent := 0
	for path := range parts {
		admin := !strings.HasPrefix(path, "/static/")
		_, hdr, body := h.do("GET", path, nil, "", func(r *http.Request) {
			if admin {
				asAdmin(r)
			}
			r.Header.Set("Accept-Encoding", "br, gzip")
		})
		if hdr.Get("Content-Encoding") == "" && len(body) > 1024 {
			t.Errorf("%s is sent uncompressed", path)
		}
		sent += len(body)
	}
	t.Logf("as sent (compressed): %d bytes (%.1f KB)", sent, float64(sent)/1024)
	if sent > 50*1024 {
		t.Fatalf("page and assets as sent weigh %d bytes, over 50 KB", sent)
	}
}

// seedLastHour records an hour of every figure of h's snapshot, each
// moving, so that every card with a series weighs with its sparkline.
func seedLastHour(t *testing.T, h *harness) {
	t.Helper()
	_, _, body := h.do("GET", "/api/v1/system/metrics", nil, "", asReader)
	var snap probes.Snapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		t.Fatal(err)
	}
	rec := history.NewRecorder(h.store.(history.Store), snap.Instance.ID, history.DefaultTiers()[0])
	now := time.Now()
	for k := range 120 {
		at := now.Add(-time.Duration(120-k) * 30 * time.Second)
		snap.Each(func(rd probes.Reading) {
			if rd.Value != nil {
				rec.Add(at, rd.Series, *rd.Value*(1+0.3*math.Sin(float64(k)/7))+float64(k%3))
			}
		})
	}
	if err := rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// lazyFragments finds the fragments a page loads once it is shown.
var lazyFragments = regexp.MustCompile(`hx-get="(/partials/[a-z]+)" hx-trigger="load`)

var assetRef = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)

// pageWeight is the uncompressed size of a page and of every asset it
// references.
func pageWeight(t testing.TB, h *harness, path string) (int, map[string]int) {
	t.Helper()
	status, _, body := h.do("GET", path, nil, "", asAdmin)
	if status != 200 {
		t.Fatalf("GET %s: %d", path, status)
	}
	parts := map[string]int{path: len(body)}
	total := len(body)
	for _, m := range assetRef.FindAllStringSubmatch(string(body), -1) {
		if _, ok := parts[m[1]]; ok {
			continue
		}
		status, _, asset := h.do("GET", m[1], nil, "", anon)
		if status != 200 {
			t.Fatalf("GET %s: %d", m[1], status)
		}
		parts[m[1]] = len(asset)
		total += len(asset)
	}
	if len(parts) < 5 {
		t.Fatalf("only %d parts: %v", len(parts), parts)
	}
	return total, parts
}

// pageLang is page with the browser asking for lang.
func (h *harness) pageLang(path, lang string) string {
	h.t.Helper()
	withLang := func(r *http.Request) { asAdmin(r); r.Header.Set("Accept-Language", lang) }
	status, _, body := h.do("GET", path, nil, "", withLang)
	if status != 200 {
		h.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return string(body)
}

// A commit that began before the newest event shown and landed after the
// page read the feed (a slow transaction, another instance's clock) is
// still brought by the next poll.
func TestFeedPollFindsLateCommits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.insertEvents(5)
		head := html.UnescapeString(hxGet.FindStringSubmatch(h.page("/"))[1])
		at := time.Now().Add(-3 * time.Second)
		if _, err := h.store.InsertEvents(context.Background(), []storage.NewEvent{{Type: "user_approved", Message: "late commit", OccurredAt: &at}}); err != nil {
			t.Fatal(err)
		}
		if polled := h.page(head); !strings.Contains(polled, "late commit") {
			t.Fatalf("the poll missed the late commit: %.1500s", polled)
		}
	})
}

// The feed's chip of vitals' own events names the alert engine's types as
// the engine writes them (web cannot import alerts to share the names).
func TestOwnChipNamesAlertTypes(t *testing.T) {
	own := "," + web.OwnChip() + ","
	for _, typ := range []string{alerts.TypeFiring, alerts.TypeResolved} {
		if !strings.Contains(own, ","+typ+",") {
			t.Errorf("the own chip lacks %s: %s", typ, web.OwnChip())
		}
	}
}
