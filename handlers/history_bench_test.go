package handlers_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/history/historytest"
	"github.com/vitalsdev/vitals/storage"
)

// seedFullHistory stores what a year-old instance has of series: 48 h of
// raw samples every 30 s (a chunk an hour), 30 days of 5-minute buckets (a
// chunk a day) and a year of hourly ones (a chunk a week), with both
// watermarks just behind now, as the Roller leaves them.
func seedFullHistory(tb testing.TB, st storage.Store, instance string, series []string, now time.Time) {
	tb.Helper()
	if err := historytest.SeedYear(tb.Context(), st, instance, series, now); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkHistoryAPI is the server-side time of GET /api/v1/history for
// each range, two series (a card's pair of sparklines or a chart with its
// neighbour) of an instance with a full year stored, through the app's
// handler in process, on every backend: ns/op is the mean, p50-ms and
// p99-ms the percentiles (the target is p99 < 5 ms for any range).
func BenchmarkHistoryAPI(b *testing.B) {
	for _, be := range benchBackends(b) {
		st := be.open(b)
		seedFullHistory(b, st, "bench", []string{"cpu.percent", "memory.percent"}, time.Now())
		h := newHarness(b, st)
		handler := h.app.Handler()
		for _, r := range history.Ranges() {
			b.Run(be.name+"/"+r.Name, func(b *testing.B) {
				uri := "/api/v1/history?series=cpu.percent,memory.percent&instance=bench&range=" + r.Name
				var ctx fasthttp.RequestCtx
				took := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					ctx.Request.Reset()
					ctx.Response.Reset()
					ctx.Request.SetRequestURI(uri)
					ctx.Request.Header.Set("Authorization", "Bearer "+readToken)
					start := time.Now()
					handler(&ctx)
					took = append(took, time.Since(start))
					if ctx.Response.StatusCode() != 200 {
						b.Fatalf("GET %s: %d %s", uri, ctx.Response.StatusCode(), ctx.Response.Body())
					}
				}
				b.StopTimer()
				// The seeded year fills every step but the newest few.
				if n := bytes.Count(ctx.Response.Body(), []byte("null")); n > 4 {
					b.Fatalf("%s: %d steps without a point", r.Name, n)
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(len(ctx.Response.Body())), "bytes")
			})
		}
	}
}

// BenchmarkChartFragment is the server-side time of GET /partials/chart
// (the larger chart a card opens, as htmx asks for it) for each range,
// of an instance with a full year stored and a day of events, on every
// backend; p50-ms and p99-ms as in BenchmarkHistoryAPI (target p99 < 5 ms).
func BenchmarkChartFragment(b *testing.B) {
	for _, be := range benchBackends(b) {
		st := be.open(b)
		h := newHarness(b, st)
		_, _, body := h.do("GET", "/api/v1/history?series=cpu.percent&range=1h", nil, "", asReader)
		var self struct {
			Instance string `json:"instance"`
		}
		if err := json.Unmarshal(body, &self); err != nil {
			b.Fatalf("own instance: %v %s", err, body)
		}
		now := time.Now()
		seedFullHistory(b, st, self.Instance, []string{"cpu.percent"}, now)
		var evs []storage.NewEvent
		for i := range 200 {
			at := now.Add(-time.Duration(i) * 7 * time.Minute)
			evs = append(evs, storage.NewEvent{Type: "stream_started", Message: "m", OccurredAt: &at})
		}
		if _, err := st.InsertEvents(b.Context(), evs); err != nil {
			b.Fatal(err)
		}
		handler := h.app.Handler()
		cookie := handlers.SessionCookieForTest([]byte(sessionKey), time.Hour)
		for _, r := range history.Ranges() {
			// warm is the route as a poll or a load test meets it, its read
			// kept for the range's TTL (charts.go); cold reads the store
			// every time (a new event type each request, so no event).
			for _, warm := range []bool{true, false} {
				name := be.name + "/" + r.Name + "/warm"
				if !warm {
					name = be.name + "/" + r.Name + "/cold"
				}
				b.Run(name, func(b *testing.B) {
					base := "/partials/chart?series=cpu.percent&range=" + r.Name
					var ctx fasthttp.RequestCtx
					took := make([]time.Duration, 0, b.N)
					b.ReportAllocs()
					b.ResetTimer()
					for i := range b.N {
						ctx.Request.Reset()
						ctx.Response.Reset()
						uri := base
						if !warm {
							uri += "&types=cold" + strconv.Itoa(i)
						}
						ctx.Request.SetRequestURI(uri)
						ctx.Request.Header.SetCookie(handlers.SessionCookieName, cookie)
						ctx.Request.Header.Set("HX-Request", "true")
						start := time.Now()
						handler(&ctx)
						took = append(took, time.Since(start))
						if ctx.Response.StatusCode() != 200 {
							b.Fatalf("GET %s: %d %s", uri, ctx.Response.StatusCode(), ctx.Response.Body())
						}
					}
					b.StopTimer()
					if !bytes.Contains(ctx.Response.Body(), []byte(`class="line" d="M`)) {
						b.Fatalf("%s: no line drawn", r.Name)
					}
					slices.Sort(took)
					b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
					b.ReportMetric(float64(len(ctx.Response.Body())), "bytes")
				})
			}
		}
	}
}
