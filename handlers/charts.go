package handlers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/web"
)

// sparkTTL is how long a read of the sparklines' hour is reused: the card
// poll comes every few seconds, a sample every history interval (30 s by
// default), so a fresher read would mostly show the same line.
const sparkTTL = 10 * time.Second

// sparkReadTimeout bounds the sparklines' read within a card request.
const sparkReadTimeout = 500 * time.Millisecond

// sparkCache holds the last hour's points of each instance's sparkline
// series, per set of series asked (the cards' or a fleet row's).
type sparkCache struct {
	mu sync.Mutex
	by map[string]sparkEntry
}

type sparkEntry struct {
	at     time.Time
	points [][]history.Point
}

// lastHour reads series of instance over the last hour (one read for
// them all), or reuses a read within sparkTTL; the points are shared and
// read-only.
func (s *server) lastHour(ctx context.Context, instance string, series []string) ([][]history.Point, error) {
	if len(series) == 0 {
		return nil, nil
	}
	key := instance + "\x00" + strings.Join(series, "\x00")
	now := time.Now()
	s.sparks.mu.Lock()
	if e, ok := s.sparks.by[key]; ok && now.Sub(e.at) < sparkTTL {
		s.sparks.mu.Unlock()
		return e.points, nil
	}
	s.sparks.mu.Unlock()
	rng, _ := history.RangeNamed("1h")
	// The cards matter more than their lines: a store that hangs holds
	// the card poll sparkReadTimeout at most, once per sparkTTL, since a
	// failed read is kept (with the lines read before it, if any) like a
	// good one.
	rctx, cancel := context.WithTimeout(ctx, sparkReadTimeout)
	defer cancel()
	res, err := s.history.Query(rctx, instance, series, rng, now)
	s.sparks.mu.Lock()
	defer s.sparks.mu.Unlock()
	if s.sparks.by == nil {
		s.sparks.by = map[string]sparkEntry{}
	}
	if err != nil {
		old := s.sparks.by[key]
		s.sparks.by[key] = sparkEntry{at: now, points: old.points}
		return old.points, err
	}
	// Bounded by the fleet (7 days of instances) times the few sets of
	// series; entries past their time go as others are stored.
	for k, e := range s.sparks.by {
		if now.Sub(e.at) >= sparkTTL {
			delete(s.sparks.by, k)
		}
	}
	s.sparks.by[key] = sparkEntry{at: now, points: res.Series}
	return res.Series, nil
}

// cardSparks fills page's sparklines from its instance's last hour; a
// store that cannot be read leaves the cards without them (the cards
// themselves matter more).
func (s *server) cardSparks(ctx context.Context, page *web.Page) {
	cs := web.CardSeriesOf(page.Snapshot)
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Series
	}
	pts, err := s.lastHour(ctx, page.Snapshot.Instance.ID, names)
	if err != nil {
		s.log.Warn("dashboard: sparklines", "err", err)
	}
	if len(pts) != len(cs) {
		return
	}
	instance := ""
	if page.Viewing != nil {
		instance = page.Viewing.ID
	}
	page.Sparks = web.Sparks(page.Snapshot, page.Limits, instance, cs, pts)
}

// fleetSparks fills each fleet row's CPU and memory sparklines.
func (s *server) fleetSparks(ctx context.Context, rows []web.FleetRow) {
	for i := range rows {
		pts, err := s.lastHour(ctx, rows[i].ID, []string{"cpu.percent", "memory.percent"})
		if err != nil {
			s.log.Warn("dashboard: fleet sparklines", "err", err)
		}
		if len(pts) != 2 {
			continue
		}
		rows[i].CPU, rows[i].Memory = web.Sparkline(pts[0]), web.Sparkline(pts[1])
	}
}

// chartPartial is the larger chart of one series (GET
// /partials/chart?series=NAME&range=R[&instance=ID][&types=a,b]): the
// range's points at its step, the card's limits and the range's events.
// Without htmx (a link opened in a new tab) it is a page of its own.
func (s *server) chartPartial(c *fiber.Ctx) error {
	if c.Query("close") == "1" {
		// The chart's close button: the empty place the next card opens
		// a chart into.
		lang := s.lang(c)
		return s.renderHTML(c, lang, "chart", s.pageData(c, lang, web.Feed{}))
	}
	q, err := s.parseHistoryQuery(c)
	if err != nil {
		return err
	}
	if len(q.series) != 1 {
		return &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query",
			Errors: []FieldError{{Field: "series", Message: "names more than one series; a chart draws one"}}}
	}
	lang := s.lang(c)
	data := s.pageData(c, lang, web.Feed{})
	if err := s.viewInstance(c, &data); err != nil {
		return err
	}
	read, err := s.chartRead(c.UserContext(), q)
	if err != nil {
		return err
	}
	instance := ""
	if data.Viewing != nil {
		instance = data.Viewing.ID
	}
	data.Chart = web.NewChart(q.series[0], q.rng, instance, s.Thresholds, read.points, read.events, q.types)
	if c.Get("HX-Request") == "" {
		data.CSRF = s.csrfFor(c)
		return s.renderHTML(c, lang, "chartpage", data)
	}
	return s.renderHTML(c, lang, "chart", data)
}

// chartTTL is how long a chart's read is reused: a tenth of its range's
// step, from 2 s to a minute. The newest step of a long range changes
// with every sample, but by a fraction its chart cannot show; an admin
// switching ranges or several tabs open then cost one read, not one each.
func chartTTL(r history.Range) time.Duration {
	return min(max(r.Step/10, 2*time.Second), time.Minute)
}

// chartCache holds the charts read recently, by instance, series, range
// and event types.
type chartCache struct {
	mu sync.Mutex
	by map[string]chartEntry
}

type chartEntry struct {
	at     time.Time
	points []history.Point
	events []storage.Event
}

// chartRead reads q's one series over its range and the range's events
// (the application's only, unless q chooses types), or reuses a read
// within chartTTL; what it returns is shared and read-only.
func (s *server) chartRead(ctx context.Context, q historyQuery) (chartEntry, error) {
	key := q.instance + "\x00" + q.series[0] + "\x00" + q.rng.Name + "\x00" + strings.Join(q.types, ",")
	now := time.Now()
	ttl := chartTTL(q.rng)
	s.charts.mu.Lock()
	if e, ok := s.charts.by[key]; ok && now.Sub(e.at) < ttl {
		s.charts.mu.Unlock()
		return e, nil
	}
	s.charts.mu.Unlock()
	res, err := s.history.Query(ctx, q.instance, q.series, q.rng, now)
	if err != nil {
		return chartEntry{}, fmt.Errorf("chart: %w", err)
	}
	events, err := s.store.ListEvents(ctx, storage.EventFilter{Types: q.types, Limit: maxHistoryEvents,
		Since: time.UnixMilli(res.StartMS), Until: now.Add(time.Millisecond)})
	if err != nil {
		return chartEntry{}, fmt.Errorf("chart: events: %w", err)
	}
	if len(q.types) == 0 {
		// As in the feed: vitals' own events (sign-ins, tokens) only when
		// a chip asks for them.
		app := events[:0:0]
		for _, e := range events {
			if e.Source != storage.SourceVitals {
				app = append(app, e)
			}
		}
		events = app
	}
	e := chartEntry{at: now, points: res.Series[0], events: events}
	s.charts.mu.Lock()
	defer s.charts.mu.Unlock()
	if s.charts.by == nil {
		s.charts.by = map[string]chartEntry{}
	}
	// Entries past the longest TTL go as others are stored; the types a
	// URL may name are unbounded, so the cache is also capped.
	for k, old := range s.charts.by {
		if now.Sub(old.at) >= time.Minute || len(s.charts.by) >= maxChartEntries {
			delete(s.charts.by, k)
		}
	}
	s.charts.by[key] = e
	return e, nil
}

// maxChartEntries bounds the chart cache: past it, entries are dropped
// (in no order) until the new one fits.
const maxChartEntries = 256
