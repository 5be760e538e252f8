package handlers

import (
	"compress/gzip"
	"context"
	"io"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/vitalsdev/vitals/probes"
)

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                       false,
		"gzip":                   true,
		"GZIP":                   true,
		"deflate, gzip;q=1.0":    true,
		"gzip;q=0":               false,
		"gzip; q=0.000":          false,
		"identity":               false,
		"br, deflate":            false,
		"gzip;q=0.5, identity":   true,
		"x-gzip":                 false,
		"deflate,gzip, identity": true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// BenchmarkRenderExposition is what a scrape costs once per sampler tick
// (or per second at most): gather, encode, gzip.
func BenchmarkRenderExposition(b *testing.B) {
	sampler := probes.NewSampler(probes.SamplerConfig{}, probes.HostProbes(probes.HostConfig{})...)
	sampler.Tick(context.Background())
	time.Sleep(20 * time.Millisecond)
	r := sampler.Tick(context.Background())
	m := NewMetrics("bench")
	for code := range 5 {
		m.ObserveRequest(time.Millisecond, 100*(code+1))
	}
	zw := gzip.NewWriter(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := renderExposition(r, m, zw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLatencyMiddlewareCost is what recordLatency adds to a request
// (clock reads, the 5-minute window, the cumulative histogram and Fiber's
// extra handler), measured on an app with nothing else: the difference
// between the two sub-benchmarks. It must stay well under 1 µs.
func BenchmarkLatencyMiddlewareCost(b *testing.B) {
	for _, withMiddleware := range []bool{false, true} {
		name := "bare"
		if withMiddleware {
			name = "recordLatency"
		}
		b.Run(name, func(b *testing.B) {
			s := &server{Config: Config{Latency: probes.NewLatencyWindow(), Metrics: NewMetrics("bench")}}
			app := fiber.New(fiber.Config{DisableStartupMessage: true})
			if withMiddleware {
				app.Use(s.recordLatency)
			}
			app.Get("/x", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) })
			handler := app.Handler()
			var ctx fasthttp.RequestCtx
			b.ReportAllocs()
			for b.Loop() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.SetRequestURI("/x")
				handler(&ctx)
			}
		})
	}
}
