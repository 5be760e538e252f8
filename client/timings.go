package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/bits"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultTimingsInterval is how often Middleware's timings are posted.
const DefaultTimingsInterval = 30 * time.Second

// The histogram layout shared with the server and the Python client
// (POST /api/v1/timings in vitals' OpenAPI document).
const (
	latencyBins  = 328
	maxRoutes    = 200 // kept per interval; the rest count as one route
	otherRoute   = "/{other}"
	unmatchedRte = "/{unmatched}"
)

// latencyBin is the bin of a request that took d: whole microseconds below
// 8, then 8 bins per power of two.
func latencyBin(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 0))
	if us < 8 {
		return int(us)
	}
	e := bits.Len64(us) - 1
	if e > 40 {
		return latencyBins - 1
	}
	return (e-2)*8 + int(us>>(e-3))&7
}

type routeKey struct{ method, route string }

type routeCounts struct {
	count, errors uint64
	bins          map[int]uint64
}

// timings are the per-route histograms since the last post.
type timings struct {
	mu      sync.Mutex
	routes  map[routeKey]*routeCounts
	stopped bool // the server refused for good
	start   sync.Once
}

func (t *timings) record(method, route string, d time.Duration, status int) {
	b := latencyBin(d)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	if t.routes == nil {
		t.routes = map[routeKey]*routeCounts{}
	}
	k := routeKey{method, route}
	r := t.routes[k]
	if r == nil {
		if len(t.routes) >= maxRoutes {
			k.route = otherRoute
			r = t.routes[k]
		}
		if r == nil {
			r = &routeCounts{bins: map[int]uint64{}}
			t.routes[k] = r
		}
	}
	r.count++
	if status >= 500 {
		r.errors++
	}
	r.bins[b]++
}

func (t *timings) take() map[routeKey]*routeCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.routes
	t.routes = nil
	return r
}

// mergeBack returns a post that failed to the next one, within the bound.
func (t *timings) mergeBack(routes map[routeKey]*routeCounts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.routes == nil {
		t.routes = map[routeKey]*routeCounts{}
	}
	for k, o := range routes {
		r := t.routes[k]
		if r == nil {
			if len(t.routes) >= maxRoutes {
				continue
			}
			r = &routeCounts{bins: map[int]uint64{}}
			t.routes[k] = r
		}
		r.count += o.count
		r.errors += o.errors
		for b, n := range o.bins {
			r.bins[b] += n
		}
	}
}

type wireRoute struct {
	Method string      `json:"method"`
	Route  string      `json:"route"`
	Count  uint64      `json:"count"`
	Errors uint64      `json:"errors"`
	Bins   [][2]uint64 `json:"bins"`
}

// Middleware times every request of next by its route: the ServeMux
// pattern that matched ("GET /tracks/{id}" gives /tracks/{id}), never the
// raw path; a request no pattern matched counts as /{unmatched}. The
// histograms are posted to vitals every Config.TimingsInterval, also when
// no request came, by a goroutine of the client; a request costs a lock
// and a few counters and never waits on vitals.
func (c *Client) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.timings.start.Do(func() { go c.postTimings() })
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			status := sw.status
			if p := recover(); p != nil {
				c.timings.record(r.Method, routeOf(r), time.Since(start), http.StatusInternalServerError)
				panic(p)
			}
			c.timings.record(r.Method, routeOf(r), time.Since(start), status)
		}()
		next.ServeHTTP(sw, r)
	})
}

// routeOf is the path part of the pattern that matched r: a pattern may
// begin with a method and a host ("GET example.com/tracks/{id}").
func routeOf(r *http.Request) string {
	p := r.Pattern
	if _, rest, ok := strings.Cut(p, " "); ok {
		p = strings.TrimLeft(rest, " \t")
	}
	if i := strings.IndexByte(p, '/'); i > 0 {
		p = p[i:]
	}
	if !strings.HasPrefix(p, "/") {
		return unmatchedRte
	}
	return p
}

// statusWriter keeps the status the handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (Flush,
// deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// postTimings posts every interval until Close.
func (c *Client) postTimings() {
	t := time.NewTicker(c.cfg.TimingsInterval)
	defer t.Stop()
	for {
		select {
		case <-c.abortCtx.Done():
			return
		case <-t.C:
			if !c.sendTimings(c.abortCtx) {
				return
			}
		}
	}
}

// sendTimings posts the histograms since the last post; it returns false
// when the server refused them for good (one log line says why).
func (c *Client) sendTimings(ctx context.Context) bool {
	routes := c.timings.take()
	wire := make([]wireRoute, 0, len(routes))
	for k, r := range routes {
		w := wireRoute{Method: k.method, Route: k.route, Count: r.count, Errors: r.errors}
		for b := range latencyBins {
			if n := r.bins[b]; n > 0 {
				w.Bins = append(w.Bins, [2]uint64{uint64(b), n})
			}
		}
		wire = append(wire, w)
	}
	body, _ := json.Marshal(map[string][]wireRoute{"routes": wire})
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.postJSON(rctx, c.timingsURL, bytes.NewReader(body))
	if err != nil {
		c.timings.mergeBack(routes)
		return true
	}
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case refusedForGood(resp.StatusCode):
		c.timings.mu.Lock()
		c.timings.stopped, c.timings.routes = true, nil
		c.timings.mu.Unlock()
		c.logger().Warn("vitals client: request timings refused; no more are sent",
			"status", resp.StatusCode, "detail", parseProblem(resp.StatusCode, text).detail)
		return false
	case resp.StatusCode >= 300:
		c.timings.mergeBack(routes)
	}
	return true
}

// refusedForGood are the answers a retry cannot fix (DESIGN.md, "The
// application side").
func refusedForGood(code int) bool {
	switch code {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return true
	}
	return false
}

func (c *Client) logger() *slog.Logger {
	if c.cfg.Logger != nil {
		return c.cfg.Logger
	}
	return slog.Default()
}
