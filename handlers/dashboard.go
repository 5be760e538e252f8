package handlers

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/web"
)

// The activity feed's sizes.
const (
	// feedPage is how many events the page shows at first, each "load
	// more" adds, and a poll adds at most: more new events than that are
	// offered as "N new events" instead, so that none is skipped.
	feedPage = 50
	// feedNewMax is how many new events a poll counts at most before it
	// says "more than N".
	feedNewMax = 200
	// feedOverlap is how long a commit may land after its created_at
	// (PostgreSQL stamps a batch with its transaction's start; instances'
	// clocks differ a little): a poll looks that far before the time of
	// the read before it, when that is before the newest event shown, for
	// events that landed late. The page drops the ids it already shows.
	feedOverlap = 10 * time.Second
	// maxSearchRunes bounds the search text.
	maxSearchRunes = 200
)

// cookieChallenge is the WWW-Authenticate of a 401 for the browser routes:
// sign in with the form and carry the session cookie.
const cookieChallenge = `Cookie realm="vitals", form-action="/login", cookie-name="` + sessionCookie + `"`

// signedIn lets only the admin's session through to a page: a browser
// without one is sent to the sign-in form, a bearer token gets 403.
func (s *server) signedIn(c *fiber.Ctx) error {
	switch role, _ := c.Locals(roleKey).(Role); role {
	case RoleAdmin:
		return c.Next()
	case RoleNone:
		// Back to this view after signing in; a session cookie that no
		// longer holds means the session ended, which the form says.
		v := url.Values{}
		if next := localPath(c.OriginalURL()); c.Method() == fiber.MethodGet && next != "" && next != "/" {
			v.Set("next", next)
		}
		if c.Cookies(sessionCookie) != "" {
			v.Set("expired", "1")
		}
		if len(v) == 0 {
			return c.Redirect("/login", fiber.StatusSeeOther)
		}
		return c.Redirect("/login?"+v.Encode(), fiber.StatusSeeOther)
	default:
		return newProblem(fiber.StatusForbidden, "this credential may not open the dashboard")
	}
}

// feedQuery is what the feed shows: the type filter, the search text
// (matched by the store in the message or the email, ignoring case) and
// the person whose timeline it is (the whole address, ignoring case).
type feedQuery struct {
	types []string
	text  string
	user  string
}

func (q feedQuery) filtered() bool { return len(q.types) > 0 || q.text != "" || q.user != "" }

// filter is the store's filter for q.
func (q feedQuery) filter(limit int, before *storage.EventCursor) storage.EventFilter {
	return storage.EventFilter{Types: q.types, Search: q.text, UserEmail: q.user, Limit: limit, Before: before}
}

// values encodes the query for the feed's own URLs.
func (q feedQuery) values() url.Values {
	v := url.Values{}
	if len(q.types) > 0 {
		v.Set("type", strings.Join(q.types, ","))
	}
	if q.text != "" {
		v.Set("q", q.text)
	}
	if q.user != "" {
		v.Set("user", q.user)
	}
	return v
}

// parseFeedQuery reads type (repeated or comma-separated), q and user; a bad
// value is a 400 naming the field.
func parseFeedQuery(c *fiber.Ctx) (feedQuery, error) {
	var q feedQuery
	var errs []FieldError
	seen := map[string]bool{}
	for _, raw := range c.Context().QueryArgs().PeekMulti("type") {
		for _, t := range strings.Split(string(raw), ",") {
			t = strings.TrimSpace(t)
			switch {
			case t == "" || seen[t]:
			case len(t) > maxTypeLen || !typePattern.MatchString(t):
				errs = append(errs, FieldError{Field: "type", Message: fmt.Sprintf("%q is not an event type", t)})
			default:
				seen[t] = true
				q.types = append(q.types, t)
			}
		}
	}
	text := strings.TrimSpace(string(c.Context().QueryArgs().Peek("q")))
	switch {
	case !utf8.ValidString(text):
		errs = append(errs, FieldError{Field: "q", Message: "is not valid UTF-8"})
	case utf8.RuneCountInString(text) > maxSearchRunes:
		errs = append(errs, FieldError{Field: "q", Message: fmt.Sprintf("is longer than %d characters", maxSearchRunes)})
	default:
		q.text = text
	}
	// user is the API's user_email filter under a shorter name (every
	// address in the feed links to it), with the same check.
	if raw := strings.TrimSpace(string(c.Context().QueryArgs().Peek("user"))); raw != "" {
		if e, msg := checkEmail(raw); msg != "" {
			errs = append(errs, FieldError{Field: "user", Message: msg})
		} else {
			q.user = e
		}
	}
	if len(errs) > 0 {
		return q, &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query", Errors: errs}
	}
	return q, nil
}

// cursorParam reads a feed position parameter; absent is nil.
func cursorParam(c *fiber.Ctx, name string) (*storage.EventCursor, error) {
	raw := c.Query(name)
	if raw == "" {
		return nil, nil
	}
	cur, ok := web.ParseCursor(raw)
	if !ok {
		return nil, &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query",
			Errors: []FieldError{{Field: name, Message: "is not a feed position"}}}
	}
	return &cur, nil
}

// newer reports whether e comes before position p in the newest-first
// order, that is, whether it is newer.
func newer(e storage.Event, p storage.EventCursor) bool {
	return e.CreatedAt.After(p.CreatedAt) || e.CreatedAt.Equal(p.CreatedAt) && e.ID > p.ID
}

// position is e's place in the newest-first order.
func position(e storage.Event) *storage.EventCursor {
	return &storage.EventCursor{CreatedAt: e.CreatedAt, ID: e.ID}
}

// shows reports whether the feed shows e under q: vitals' own events
// (sign-ins, tokens, erasures) only when a type filter asks for them, so
// that the admin's own sign-ins do not fill the top of the feed.
func (q feedQuery) shows(e storage.Event) bool {
	return len(q.types) > 0 || e.Source != storage.SourceVitals
}

// feedSlice is one stretch of the feed.
type feedSlice struct {
	events []storage.Event
	// last is the position of the last event shown, from which the next
	// page starts; nil when there is none.
	last *storage.EventCursor
	// more is true when older events remain after last.
	more bool
}

// readFeed reads up to want events q shows, newest first, strictly older
// than before (nil: from the newest). The events hidden by default are
// skipped and reading goes on until the page is full: their own
// retention budget bounds how many reads that can take.
func (s *server) readFeed(ctx context.Context, q feedQuery, before *storage.EventCursor, want int) (feedSlice, error) {
	var out feedSlice
	for {
		f := q.filter(want+1, before)
		evs, err := s.store.ListEvents(ctx, f)
		if err != nil {
			return feedSlice{}, err
		}
		for _, e := range evs {
			before = position(e)
			if !q.shows(e) {
				continue
			}
			if len(out.events) == want {
				out.more = true
				return out, nil
			}
			out.events = append(out.events, e)
			out.last = position(e)
		}
		if len(evs) < f.Limit {
			return out, nil
		}
	}
}

// feedNews is what a poll found after the newest event the page shows.
type feedNews struct {
	// events are the new events and those of the overlap, newest first;
	// the page drops the ones it already shows.
	events []storage.Event
	// newest is the newest event known now (the anchor when none is new).
	newest *storage.EventCursor
	// count is how many events are newer than the anchor; capped says
	// that more may exist than were read.
	count  int
	capped bool
}

// readNews reads the events q shows that are newer than after (every
// event when after is nil) and, when the read before this one (at read)
// was less than feedOverlap after the newest event it found, those
// created from feedOverlap before that read: one may have landed late.
func (s *server) readNews(ctx context.Context, q feedQuery, after *storage.EventCursor, read time.Time) (feedNews, error) {
	f := q.filter(feedNewMax+1, nil)
	lookback := false
	if after != nil {
		f.Since = after.CreatedAt
		if from := read.Add(-feedOverlap); from.Before(f.Since) {
			f.Since, lookback = from, true
		}
	}
	evs, err := s.store.ListEvents(ctx, f)
	if err != nil {
		return feedNews{}, err
	}
	n := feedNews{newest: after, capped: len(evs) == f.Limit}
	for _, e := range evs {
		if !q.shows(e) {
			continue
		}
		if after == nil || newer(e, *after) {
			n.count++
			if n.newest == nil || newer(e, *n.newest) {
				n.newest = position(e)
			}
		} else if !lookback || e.ID == after.ID {
			continue // on the page already
		}
		n.events = append(n.events, e)
	}
	return n, nil
}

// feed builds the whole feed: the newest page, the poll anchored at its
// newest event, and "load more" after its oldest. A store that is down
// leaves the feed marked unavailable rather than failing the page: the
// cards still matter.
func (s *server) feed(ctx context.Context, q feedQuery) web.Feed {
	f := web.Feed{Chips: web.Chips(q.types), Query: q.text, User: q.user, Filtered: q.filtered(),
		ShowURL: feedURL("/partials/feed", q, "", nil)}
	if q.user != "" {
		everyone := q
		everyone.user = ""
		f.EveryoneURL = feedURL("/", everyone, "", nil)
	}
	read := time.Now()
	sl, err := s.readFeed(ctx, q, nil, feedPage)
	if err != nil {
		s.log.Warn("dashboard: list events", "err", err)
		f.Unavailable = true
		f.NewURL = newsURL(q, nil, time.Time{})
		return f
	}
	f.Events = sl.events
	var newest *storage.EventCursor
	if len(sl.events) > 0 {
		newest = position(sl.events[0])
	}
	f.NewURL = newsURL(q, newest, read)
	if sl.more {
		f.OlderURL = feedURL("/partials/events/older", q, "before", sl.last)
	}
	return f
}

// news builds a poll's answer: the new events on top while they are at
// most a page, else only their count and a link that re-anchors the feed
// at the newest (every event stays reachable through "load more").
func (s *server) news(ctx context.Context, q feedQuery, after *storage.EventCursor, read time.Time) web.Feed {
	f := web.Feed{Query: q.text, Filtered: q.filtered(), ShowURL: feedURL("/partials/feed", q, "", nil)}
	now := time.Now()
	n, err := s.readNews(ctx, q, after, read)
	if err != nil {
		s.log.Warn("dashboard: poll events", "err", err)
		f.Unavailable = true
		f.NewURL = newsURL(q, after, read)
		return f
	}
	if n.count > feedPage {
		f.NewCount, f.NewCapped = n.count, n.capped
		if n.capped {
			// "More than N": N is what was surely counted.
			f.NewCount = min(n.count, feedNewMax)
		}
		f.NewURL = newsURL(q, after, read)
		return f
	}
	f.Events = n.events
	f.NewURL = newsURL(q, n.newest, now)
	return f
}

// newsURL is the feed's poll: after the newest event shown, with the time
// of the read that found it (none before the first read).
func newsURL(q feedQuery, after *storage.EventCursor, read time.Time) string {
	v := q.values()
	if after != nil {
		v.Set("after", web.FormatCursor(after.CreatedAt, after.ID))
	}
	if !read.IsZero() {
		v.Set("read", strconv.FormatInt(read.UnixMilli(), 10))
	}
	if len(v) == 0 {
		return "/partials/events"
	}
	return "/partials/events?" + v.Encode()
}

// feedURL is a feed route with the query and one position (none when at
// is nil).
func feedURL(path string, q feedQuery, key string, at *storage.EventCursor) string {
	v := q.values()
	if at != nil {
		v.Set(key, web.FormatCursor(at.CreatedAt, at.ID))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// pageData is what every dashboard template gets.
func (s *server) pageData(c *fiber.Ctx, lang web.Lang, feed web.Feed) web.Page {
	snap := s.Snapshots.Latest().Snapshot
	if snap.CPU.State == "" {
		// A snapshot not made by the sampler (a test's, an embedder's)
		// is judged here, so every card still has a state.
		snap.Assess(s.Thresholds)
	}
	now := time.Now()
	feed.Items = s.Site.Items(lang, now, s.Location, feed.Events)
	return web.Page{
		Lang:        lang,
		Snapshot:    &snap,
		Limits:      s.Thresholds,
		Feed:        feed,
		Now:         now,
		Location:    s.Location,
		PollSeconds: int(s.PollInterval / time.Second),
		Backend:     s.store.Backend(),
		Theme:       theme(c),
		Back:        orHome(localPath(c.OriginalURL())),
		Alerts:      s.pageAlerts(),
		Channels:    s.pageChannels(),
		Rules:       s.pageRules(),
	}
}

// pageChannels are the notification channels, by label, for their test
// buttons.
func (s *server) pageChannels() []web.Channel {
	out := make([]web.Channel, 0, len(s.ChannelLabels))
	for id, label := range s.ChannelLabels {
		out = append(out, web.Channel{ID: id, Label: label})
	}
	slices.SortFunc(out, func(a, b web.Channel) int { return strings.Compare(a.Label+a.ID, b.Label+b.ID) })
	return out
}

// pageRules are every rule with its alerts and its silence, for the
// alerts panel.
func (s *server) pageRules() []web.RuleRow {
	by := map[string][]web.Alert{}
	for _, a := range s.AlertRules.Alerts() {
		by[a.Rule] = append(by[a.Rule], pageAlert(a))
	}
	silences := s.AlertRules.Silences()
	var out []web.RuleRow
	for _, r := range s.AlertRules.Rules() {
		out = append(out, web.RuleRow{Name: r.Name, Condition: r.Text, Alerts: by[r.Name], SilencedUntil: silences[r.Name].Until})
	}
	return out
}

func pageAlert(a alerts.Alert) web.Alert {
	w := web.Alert{Rule: a.Rule, Series: a.Series, Phase: string(a.Phase), Since: a.Since, Level: a.Level}
	if a.Value != nil {
		w.Value = strconv.FormatFloat(*a.Value, 'g', 4, 64)
	}
	return w
}

// pageAlerts are the alerts pending or firing, firing first, for the strip
// above the cards.
func (s *server) pageAlerts() []web.Alert {
	var firing, pending []web.Alert
	for _, a := range s.AlertRules.Alerts() {
		w := pageAlert(a)
		switch a.Phase {
		case "firing":
			firing = append(firing, w)
		case "pending":
			pending = append(pending, w)
		}
	}
	return append(firing, pending...)
}

// renderHTML renders a template as an uncacheable HTML answer.
func (s *server) renderHTML(c *fiber.Ctx, lang web.Lang, name string, data web.Page) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentLanguage, string(lang))
	c.Vary(fiber.HeaderAcceptLanguage, fiber.HeaderCookie)
	return s.Site.Render(c, lang, name, data)
}

// page is the full dashboard: the layout around the same partials the page
// polls.
func (s *server) page(c *fiber.Ctx) error {
	q, err := parseFeedQuery(c)
	if err != nil {
		return err
	}
	lang := s.lang(c)
	data := s.pageData(c, lang, s.feed(c.UserContext(), q))
	if err := s.viewInstance(c, &data); err != nil {
		return err
	}
	data.CSRF = s.csrfFor(c)
	s.cardSparks(c.UserContext(), &data)
	return s.renderHTML(c, lang, "page", data)
}

// cardsPartial is the cards, polled; it reads the snapshot (another
// instance's, from the store, when the page shows one) and the cards'
// last hour for their sparklines, bounded and kept (charts.go).
func (s *server) cardsPartial(c *fiber.Ctx) error {
	lang := s.lang(c)
	data := s.pageData(c, lang, web.Feed{})
	if err := s.viewInstance(c, &data); err != nil {
		return err
	}
	data.Fragment = true
	s.cardSparks(c.UserContext(), &data)
	return s.renderHTML(c, lang, "cards", data)
}

// eventsPartial is a poll of the feed: what arrived after the newest
// event the page shows (after).
func (s *server) eventsPartial(c *fiber.Ctx) error {
	q, err := parseFeedQuery(c)
	if err != nil {
		return err
	}
	after, err := cursorParam(c, "after")
	if err != nil {
		return err
	}
	// read is when the poll before read the feed; without it the poll
	// looks the whole overlap back.
	var read time.Time
	if raw := c.Query("read"); raw != "" {
		ms, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || ms <= 0 {
			return &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query",
				Errors: []FieldError{{Field: "read", Message: "is not a time in Unix milliseconds"}}}
		}
		read = time.UnixMilli(ms)
	} else if after != nil {
		read = after.CreatedAt
	}
	lang := s.lang(c)
	return s.renderHTML(c, lang, "news", s.pageData(c, lang, s.news(c.UserContext(), q, after, read)))
}

// feedPartial is the whole feed after the filter or the search changed.
func (s *server) feedPartial(c *fiber.Ctx) error {
	q, err := parseFeedQuery(c)
	if err != nil {
		return err
	}
	lang := s.lang(c)
	return s.renderHTML(c, lang, "feed", s.pageData(c, lang, s.feed(c.UserContext(), q)))
}

// olderPartial is the next page of the feed, for "load more".
func (s *server) olderPartial(c *fiber.Ctx) error {
	q, err := parseFeedQuery(c)
	if err != nil {
		return err
	}
	before, err := cursorParam(c, "before")
	if err != nil {
		return err
	}
	if before == nil {
		return &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query",
			Errors: []FieldError{{Field: "before", Message: "is required"}}}
	}
	f := web.Feed{Query: q.text, Filtered: q.filtered()}
	sl, err := s.readFeed(c.UserContext(), q, before, feedPage)
	if err != nil {
		s.log.Warn("dashboard: list older events", "err", err)
		f.Unavailable = true
		f.OlderURL = feedURL("/partials/events/older", q, "before", before)
	} else {
		f.Events = sl.events
		if sl.more {
			f.OlderURL = feedURL("/partials/events/older", q, "before", sl.last)
		}
	}
	lang := s.lang(c)
	return s.renderHTML(c, lang, "older", s.pageData(c, lang, f))
}

// detailsPartial is one event's details, fetched when the admin opens
// them so that the feed itself stays light. The event is found by its
// position: the one event at or just before it.
func (s *server) detailsPartial(c *fiber.Ctx) error {
	at, err := cursorParam(c, "c")
	if err != nil {
		return err
	}
	if at == nil {
		return &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query",
			Errors: []FieldError{{Field: "c", Message: "is required"}}}
	}
	evs, err := s.store.ListEvents(c.UserContext(), storage.EventFilter{Limit: 1,
		Before: &storage.EventCursor{CreatedAt: at.CreatedAt, ID: at.ID + 1}})
	if err != nil {
		return fmt.Errorf("event details: %w", err)
	}
	if len(evs) == 0 || evs[0].ID != at.ID {
		return newProblem(fiber.StatusNotFound, "no such event; it may have been pruned")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.Site.Render(c, s.lang(c), "details", evs[0].Details)
}

// ownTraffic is true for the requests vitals makes of itself or that only
// serve its own page: the dashboard and its polls, /health, /metrics, the
// sign-in (whose password hashing is slow on purpose) and the preference
// forms. The api group leaves them out, so its latency is that of the API
// clients call, not of the admin's open tab (issue 12, point 5).
func ownTraffic(path string) bool {
	switch path {
	case "/", "/health", "/metrics", "/login", "/logout", "/prefs", "/favicon.ico":
		return true
	}
	return strings.HasPrefix(path, "/partials/") || strings.HasPrefix(path, "/static/")
}
