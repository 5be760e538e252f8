package handlers_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/vitalsdev/vitals/probes"
)

// benchClient keeps enough idle connections for b.RunParallel's goroutines.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}, Timeout: 10 * time.Second}
}

func hammer(b *testing.B, client *http.Client, newReq func() *http.Request, want int) {
	b.Helper()
	b.ReportAllocs()
	// Ten clients per core, as wrk -c10 on a 2-core machine would be.
	b.SetParallelism(5)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(newReq())
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Errorf("status %d, want %d", resp.StatusCode, want)
				return
			}
		}
	})
}

// BenchmarkSystemMetrics compares GET /api/v1/system/metrics with a bare
// Fiber handler that returns the same bytes, over real loopback
// connections in the same run: the ratio is the cost of vitals' own path
// (authentication, headers, the snapshot's atomic load). It runs on every
// backend, though the route touches no store.
func BenchmarkSystemMetrics(b *testing.B) {
	for _, be := range benchBackends(b) {
		h := newHarness(b, be.open(b))
		_, _, snapshot := h.do("GET", "/api/v1/system/metrics", nil, "", asReader)
		b.Run(be.name+"/bare-fiber", func(b *testing.B) {
			bare := fiber.New(fiber.Config{DisableStartupMessage: true})
			bare.Get("/api/v1/system/metrics", func(c *fiber.Ctx) error {
				c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
				return c.Send(snapshot)
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go func() { _ = bare.Listener(ln) }()
			client := benchClient()
			// Without an idle timeout, Shutdown would wait for the client's
			// keep-alive connections for ever: close them first, and bound it.
			defer func() { client.CloseIdleConnections(); _ = bare.ShutdownWithTimeout(time.Second) }()
			url := "http://" + ln.Addr().String() + "/api/v1/system/metrics"
			hammer(b, client, func() *http.Request { r, _ := http.NewRequest("GET", url, nil); return r }, 200)
		})
		b.Run(be.name+"/vitals", func(b *testing.B) {
			url := h.serve() + "/api/v1/system/metrics"
			hammer(b, benchClient(), func() *http.Request {
				r, _ := http.NewRequest("GET", url, nil)
				asReader(r)
				return r
			}, 200)
		})
	}
}

// BenchmarkPostEvents posts single events and batches of 100 over HTTP on
// every backend; events/s is the figure to read.
func BenchmarkPostEvents(b *testing.B) {
	single := []byte(`{"type":"track_added","message":"Трек добавлен в плейлист","user_email":"dj@example.com","details":{"track_id":42,"title":"Ночь"}}`)
	var batch bytes.Buffer
	batch.WriteString("[")
	for i := range 100 {
		if i > 0 {
			batch.WriteString(",")
		}
		fmt.Fprintf(&batch, `{"type":"track_added","message":"track %d","details":{"n":%d}}`, i, i)
	}
	batch.WriteString("]")
	for _, be := range benchBackends(b) {
		for _, tc := range []struct {
			name   string
			body   []byte
			events int
		}{{"single", single, 1}, {"batch100", batch.Bytes(), 100}} {
			b.Run(be.name+"/"+tc.name, func(b *testing.B) {
				h := newHarness(b, be.open(b))
				url := h.serve() + "/api/v1/events"
				client := benchClient()
				start := time.Now()
				hammer(b, client, func() *http.Request {
					r, _ := http.NewRequest("POST", url, bytes.NewReader(tc.body))
					r.Header.Set("Content-Type", "application/json")
					asIngest(r)
					return r
				}, 201)
				b.ReportMetric(float64(b.N*tc.events)/time.Since(start).Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkLatencyMiddleware is the cost the API-latency middleware adds
// to a request: the same request through the app with and without it, in
// process (no network), so the difference is the middleware's.
func BenchmarkLatencyMiddleware(b *testing.B) {
	for _, withWindow := range []bool{false, true} {
		name := "without"
		if withWindow {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
			h := newSQLiteHarness(b)
			if withWindow {
				h = newHarnessWith(b, h.store, probes.NewLatencyWindow())
			}
			handler := h.app.Handler()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var ctx fasthttp.RequestCtx
				for pb.Next() {
					ctx.Request.Reset()
					ctx.Response.Reset()
					ctx.Request.SetRequestURI("/health")
					handler(&ctx)
				}
			})
		})
	}
}
