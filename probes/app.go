package probes

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// The application's own request timings (POST /api/v1/timings): its
// clients' middleware times every request by route template, keeps a
// histogram per route in the same bins as LatencyWindow, and posts the
// histograms every interval. AppTimings keeps what was posted over the
// same 5-minute window, in 10-second slots, and the "app" and "app_routes"
// groups report it.
const (
	// MaxAppRoutes is how many routes the snapshot names; the rest are
	// summed as OtherRoute.
	MaxAppRoutes = 20
	// maxTrackedRoutes bounds the routes kept in memory, whatever a client
	// sends: a route past it is counted as OtherRoute from the start.
	maxTrackedRoutes = 200
	// OtherRoute names the routes past the slowest MaxAppRoutes.
	OtherRoute = "other"
	// AppLatencyBins is the number of histogram bins a client posts into.
	AppLatencyBins = numBins
)

// LatencyBin is the histogram bin of a request that took d: below 8 µs
// the microseconds themselves; above, 8 bins per power of two of
// microseconds (the layout both clients share, documented in OpenAPI).
func LatencyBin(d time.Duration) int { return binOf(d) }

// RouteTimings is one route's requests since a client's last post.
type RouteTimings struct {
	Method string
	Route  string
	Count  uint64
	Errors uint64 // answered with a 5xx status
	// Bins are [bin, count] pairs, bin < AppLatencyBins, the counts
	// summing to Count.
	Bins [][2]uint64
}

// AppTimings is the window of the application's posted timings. Posts are
// a few per interval, so a mutex is cheap here; the sampler reads it once
// a tick.
type AppTimings struct {
	mu     sync.Mutex
	now    func() time.Time
	routes map[string]*routeWindow
	// last is when the application last posted; zero before the first.
	last time.Time
}

type routeWindow struct {
	method, route string
	slots         [windowSlots]*appSlot
}

type appSlot struct {
	epoch         int64
	count, errors uint64
	bins          map[uint16]uint64
}

// NewAppTimings returns an empty window.
func NewAppTimings() *AppTimings {
	return &AppTimings{now: time.Now, routes: map[string]*routeWindow{}}
}

// Add records one post. The caller has checked every field (the handler's
// validation); Add only bounds what it keeps.
func (a *AppTimings) Add(routes []RouteTimings) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.last = now
	epoch := now.UnixNano() / int64(slotWidth)
	for _, r := range routes {
		key := r.Method + " " + r.Route
		w := a.routes[key]
		if w == nil {
			if len(a.routes) >= maxTrackedRoutes {
				key = OtherRoute
				if w = a.routes[key]; w == nil {
					w = &routeWindow{route: OtherRoute}
					a.routes[key] = w
				}
			} else {
				w = &routeWindow{method: r.Method, route: r.Route}
				a.routes[key] = w
			}
		}
		s := w.slots[epoch%windowSlots]
		if s == nil || s.epoch != epoch {
			s = &appSlot{epoch: epoch, bins: map[uint16]uint64{}}
			w.slots[epoch%windowSlots] = s
		}
		s.count += r.Count
		s.errors += r.Errors
		for _, b := range r.Bins {
			s.bins[uint16(b[0])] += b[1]
		}
	}
}

// appSum is one route's (or the whole application's) window.
type appSum struct {
	method, route string
	count, errors uint64
	bins          [numBins]uint64
	p50, p95, p99 time.Duration
}

func (s *appSum) add(o *appSum) {
	s.count += o.count
	s.errors += o.errors
	for i, n := range o.bins {
		s.bins[i] += n
	}
}

func (s *appSum) finish() {
	if s.count > 0 {
		s.p50 = quantile(&s.bins, s.count, 0.50)
		s.p95 = quantile(&s.bins, s.count, 0.95)
		s.p99 = quantile(&s.bins, s.count, 0.99)
	}
}

// read sums the window at now, dropping routes with nothing in it; it
// returns the whole, the routes slowest first (by p95, then name), and when
// the application last posted.
func (a *AppTimings) read(now time.Time) (total appSum, routes []*appSum, last time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	current := now.UnixNano() / int64(slotWidth)
	for key, w := range a.routes {
		r := &appSum{method: w.method, route: w.route}
		for _, s := range w.slots {
			if s == nil || s.epoch <= current-windowSlots || s.epoch > current {
				continue
			}
			r.count += s.count
			r.errors += s.errors
			for b, n := range s.bins {
				r.bins[b] += n
			}
		}
		if r.count == 0 {
			delete(a.routes, key) // nothing left in the window: forget it
			continue
		}
		r.finish()
		total.add(r)
		routes = append(routes, r)
	}
	total.finish()
	sort.Slice(routes, func(i, j int) bool {
		if routes[i].p95 != routes[j].p95 {
			return routes[i].p95 > routes[j].p95
		}
		return routes[i].method+routes[i].route < routes[j].method+routes[j].route
	})
	return total, routes, a.last
}

// App is the application's own request latency over the window, as its
// clients' middleware posted it: what the seed calls API latency. It is
// not_configured until the first post, and unavailable when the
// application has not posted for three intervals (its middleware posts
// every interval, even without requests).
type App struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State         Level    `json:"state"`
	WindowSeconds *float64 `json:"window_seconds"`
	AppFigures
}

// AppFigures are the figures of requests over the window, the whole
// application's and each route's alike (embedded: the JSON is flat).
type AppFigures struct {
	Requests *uint64 `json:"requests"`
	// RatePerSecond is Requests over the window.
	RatePerSecond *float64 `json:"rate_per_second"`
	// ErrorPercent is the share of requests answered with a 5xx status.
	ErrorPercent *float64 `json:"error_percent"`
	P50MS        *float64 `json:"p50_ms"`
	P95MS        *float64 `json:"p95_ms"`
	P99MS        *float64 `json:"p99_ms"`
}

// AppRoute is one route's figures over the window.
type AppRoute struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Name is "METHOD /route/{template}", or OtherRoute.
	Name   string `json:"name"`
	Method string `json:"method"`
	Route  string `json:"route"`
	AppFigures
}

// AppResult is what the app probe reads: both groups at once, so that the
// routes and the totals always come from one reading. Routes are the
// slowest MaxAppRoutes by p95 and, when there are more, OtherRoute for the
// rest.
type AppResult struct {
	App    App
	Routes AppRoutes
}

// Group returns "app".
func (AppResult) Group() string { return "app" }

// Place sets s.App and s.AppRoutes.
func (r AppResult) Place(s *Snapshot) {
	s.App = r.App
	r.Routes.Place(s)
}

// AppRoutes is the app_routes group: one entry per route named.
type AppRoutes []AppRoute

// Group returns "app_routes".
func (AppRoutes) Group() string { return "app_routes" }

// Place sets s.AppRoutes, never to nil: no routes is an empty list.
func (r AppRoutes) Place(s *Snapshot) {
	if r == nil {
		r = AppRoutes{}
	}
	s.AppRoutes = r
}

// AppProbe reports AppTimings as the "app" and "app_routes" groups.
type AppProbe struct {
	timings  *AppTimings
	interval time.Duration
}

// NewAppProbe returns the probe over t; interval is the sampler's, which
// the application's clients post at.
func NewAppProbe(t *AppTimings, interval time.Duration) *AppProbe {
	return &AppProbe{timings: t, interval: interval}
}

// Name returns "app".
func (p *AppProbe) Name() string { return "app" }

// Read sums the window; it does no I/O.
func (p *AppProbe) Read(_ context.Context) Result {
	return p.readAt(p.timings.now())
}

func (p *AppProbe) readAt(now time.Time) Result {
	total, routes, last := p.timings.read(now)
	switch {
	case last.IsZero():
		return AppResult{App: App{Status: StatusNotConfigured,
			Reason: "no timings from the application yet: add the client's middleware (docs/events.md)"}}
	case now.Sub(last) > 3*p.interval:
		return AppResult{App: App{Status: StatusUnavailable,
			Reason: "the application has not posted timings for " + now.Sub(last).Round(time.Second).String()}}
	}
	window := (windowSlots * slotWidth).Seconds()
	app := App{Status: StatusOK, WindowSeconds: &window, AppFigures: figuresOf(&total, window)}
	var other *appSum
	var out AppRoutes
	for _, r := range routes {
		if len(out) == MaxAppRoutes || r.route == OtherRoute {
			if other == nil {
				other = &appSum{route: OtherRoute}
			}
			other.add(r)
			continue
		}
		out = append(out, routeOf(r, window))
	}
	if other != nil {
		other.finish()
		out = append(out, routeOf(other, window))
	}
	return AppResult{App: app, Routes: slices.Clip(out)}
}

func routeOf(r *appSum, window float64) AppRoute {
	name := OtherRoute
	if r.route != OtherRoute {
		name = r.method + " " + r.route
	}
	return AppRoute{Status: StatusOK, Name: name, Method: r.method, Route: r.route, AppFigures: figuresOf(r, window)}
}

// figuresOf is a sum's published figures; the percentiles and error share
// are null without requests.
func figuresOf(s *appSum, window float64) AppFigures {
	n := s.count
	r := float64(n) / window
	f := AppFigures{Requests: &n, RatePerSecond: &r}
	if n > 0 {
		e := 100 * float64(s.errors) / float64(n)
		a, b, c := ms(s.p50), ms(s.p95), ms(s.p99)
		f.ErrorPercent, f.P50MS, f.P95MS, f.P99MS = &e, &a, &b, &c
	}
	return f
}
