package handlers_test

import (
	"html"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vitalsdev/vitals/handlers"
)

// BenchmarkDashboardRender is the server-side time of the full page and of
// each fragment the page polls, through the app's handler in process (no
// network), on SQLite with 120 events stored: ns/op is the mean, p50-ms and
// p99-ms the percentiles (the target is p99 < 5 ms).
func BenchmarkDashboardRender(b *testing.B) {
	h := newSQLiteHarness(b)
	h.insertEvents(120)
	head := html.UnescapeString(hxGet.FindStringSubmatch(h.page("/"))[1])
	// An idle page's poll: its read before came long after the newest
	// event, so nothing is looked at again (events-head is the poll just
	// after a burst, which sends the overlap's events again).
	idle, err := url.Parse(head)
	if err != nil {
		b.Fatal(err)
	}
	q := idle.Query()
	q.Set("read", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
	idle.RawQuery = q.Encode()
	cookie := handlers.SessionCookieForTest([]byte(sessionKey), time.Hour)
	handler := h.app.Handler()
	for _, tc := range []struct{ name, path string }{
		{"page", "/"},
		{"cards", "/partials/cards"},
		{"events-head", head},
		{"events-poll-idle", idle.String()},
		{"feed-filtered", "/partials/feed?type=track_added"},
		{"feed-search", "/partials/feed?q=user0"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			took := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.SetRequestURI(tc.path)
				ctx.Request.Header.SetCookie(handlers.SessionCookieName, cookie)
				start := time.Now()
				handler(&ctx)
				took = append(took, time.Since(start))
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("GET %s: %d %s", tc.path, ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(len(ctx.Response.Body())), "bytes")
		})
	}
}
