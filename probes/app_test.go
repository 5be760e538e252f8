package probes

import (
	"fmt"
	"testing"
	"time"
)

// post is one client post of n requests of route, all taking d, errs of
// them answered 5xx.
func post(route string, n, errs uint64, d time.Duration) RouteTimings {
	return RouteTimings{Method: "GET", Route: route, Count: n, Errors: errs, Bins: [][2]uint64{{uint64(LatencyBin(d)), n}}}
}

func TestAppTimingsWindow(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	a := NewAppTimings()
	a.now = func() time.Time { return now }
	p := NewAppProbe(a, 30*time.Second)

	if r := p.readAt(now).(AppResult); r.App.Status != StatusNotConfigured || r.App.Reason == "" {
		t.Fatalf("before any post: %+v", r.App)
	}
	a.Add([]RouteTimings{post("/fast", 90, 0, 2*time.Millisecond), post("/slow", 5, 2, 800*time.Millisecond)})
	now = now.Add(30 * time.Second)
	a.Add([]RouteTimings{post("/fast", 90, 0, 2*time.Millisecond)}) // the next interval
	r := p.readAt(now).(AppResult)
	app := r.App
	if app.Status != StatusOK || *app.Requests != 185 || *app.ErrorPercent != 100*2.0/185 {
		t.Fatalf("app: %+v", app)
	}
	if got := *app.RatePerSecond; got != 185.0/300 {
		t.Errorf("rate %v, want %v", got, 185.0/300)
	}
	// 180 of 185 requests took 2 ms: p50 and p95 there; p99 is a slow one.
	within := func(got *float64, want float64) bool { return got != nil && *got >= want*0.87 && *got <= want*1.13 }
	if !within(app.P50MS, 2) || !within(app.P95MS, 2) || !within(app.P99MS, 800) {
		t.Errorf("percentiles %v %v %v", *app.P50MS, *app.P95MS, *app.P99MS)
	}
	if len(r.Routes) != 2 || r.Routes[0].Name != "GET /slow" || *r.Routes[0].ErrorPercent != 40 || !within(r.Routes[0].P95MS, 800) {
		t.Fatalf("routes, slowest first: %+v", r.Routes)
	}

	// Five minutes after the first post, it has left the window.
	now = now.Add(4*time.Minute + 35*time.Second)
	a.Add(nil) // the client's empty post of an idle interval
	r = p.readAt(now).(AppResult)
	if *r.App.Requests != 90 || len(r.Routes) != 1 || r.Routes[0].Route != "/fast" {
		t.Errorf("after the window moved: %d requests, routes %+v", *r.App.Requests, r.Routes)
	}

	// Silent for more than three intervals: unavailable, with why.
	now = now.Add(91 * time.Second)
	if r := p.readAt(now).(AppResult); r.App.Status != StatusUnavailable || r.App.Requests != nil {
		t.Errorf("silent application: %+v", r.App)
	}
}

// The snapshot names the slowest MaxAppRoutes routes and sums the rest as
// "other"; memory holds at most maxTrackedRoutes, whatever a client sends.
func TestAppRoutesBounded(t *testing.T) {
	a := NewAppTimings()
	p := NewAppProbe(a, 30*time.Second)
	var routes []RouteTimings
	for i := range maxTrackedRoutes + 50 {
		routes = append(routes, post(fmt.Sprintf("/r/%03d", i), 1, 0, time.Duration(i+1)*time.Millisecond))
	}
	a.Add(routes)
	if len(a.routes) != maxTrackedRoutes+1 {
		t.Errorf("%d routes kept, want %d and other", len(a.routes), maxTrackedRoutes)
	}
	r := p.readAt(time.Now()).(AppResult)
	if len(r.Routes) != MaxAppRoutes+1 {
		t.Fatalf("%d routes named, want %d and other", len(r.Routes), MaxAppRoutes)
	}
	// Bins are up to 12.5 % wide: the slowest route's p95 is near 200 ms.
	if *r.Routes[0].P95MS < 175 || r.Routes[MaxAppRoutes].Name != OtherRoute {
		t.Errorf("first %q, last %q", r.Routes[0].Name, r.Routes[MaxAppRoutes].Name)
	}
	var sum uint64
	for _, rt := range r.Routes {
		sum += *rt.Requests
	}
	if sum != *r.App.Requests || sum != maxTrackedRoutes+50 {
		t.Errorf("routes sum to %d, the app has %d, posted %d", sum, *r.App.Requests, maxTrackedRoutes+50)
	}
}

func TestLatencyBinLayout(t *testing.T) {
	// The layout the clients compute on their own: keep it as documented.
	for us, want := range map[int64]int{0: 0, 7: 7, 8: 8, 15: 15, 16: 16, 17: 16, 1000: 63, 1 << 40: 304, 1 << 50: numBins - 1} {
		if got := LatencyBin(time.Duration(us) * time.Microsecond); got != want {
			t.Errorf("LatencyBin(%d µs) = %d, want %d", us, got, want)
		}
	}
}
