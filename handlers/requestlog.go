package handlers

import (
	"crypto/rand"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// HeaderRequestID carries a request's id: taken from the client (or the
// proxy in front) when it sent a sane one, generated otherwise, and always
// sent back, so that a line in vitals' log can be matched with the
// application's.
const HeaderRequestID = "X-Request-Id"

// headerFlyRequestID is the id Fly.io's proxy gives every request; used when
// the request has no X-Request-Id.
const headerFlyRequestID = "Fly-Request-Id"

// maxRequestIDLen bounds a request id taken from a client.
const maxRequestIDLen = 128

// requestIDs makes ids for requests that came without one: a random prefix
// per process and a counter, unique without a system call per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	return &requestIDs{prefix: rand.Text()[:10]}
}

func (r *requestIDs) next() string {
	return r.prefix + "-" + strconv.FormatUint(r.n.Add(1), 36)
}

// saneRequestID reports whether a client's request id may be logged and
// echoed as it is: 1 to 128 characters of letters, digits and "-_.:+/=",
// so that it can neither forge a log line nor split a header.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// requestLog gives every request an id and, when Config.RequestLog is set,
// writes one line per request: id, method, path, status, latency and size. It never logs the query string or any header but the id: those
// are where credentials travel. Errors are turned into their response here,
// so that the status logged is the one the client got.
func (s *server) requestLog(ids *requestIDs) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		id := c.Get(HeaderRequestID)
		if !saneRequestID(id) {
			id = c.Get(headerFlyRequestID)
			if !saneRequestID(id) {
				id = ids.next()
			}
		}
		c.Set(HeaderRequestID, id)
		if err := c.Next(); err != nil {
			if herr := s.errorHandler(c, err); herr != nil {
				return herr
			}
		}
		if s.RequestLog == nil {
			return nil
		}
		status := c.Response().StatusCode()
		// A 503 or 507 answers a state (store down, disk full) that is
		// logged once when it begins and ends; an ERROR line per refused
		// request would bury that one line under thousands.
		level := slog.LevelInfo
		switch {
		case status == fiber.StatusServiceUnavailable || status == fiber.StatusInsufficientStorage:
			level = slog.LevelWarn
		case status >= 500:
			level = slog.LevelError
		}
		s.RequestLog.LogAttrs(c.UserContext(), level, "request",
			slog.String("request_id", id),
			slog.String("method", c.Method()),
			// Path only: a query string could carry a secret.
			slog.String("path", c.Path()),
			slog.Int("status", status),
			slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", len(c.Response().Body())),
			slog.String("ip", s.clientAddress(c)),
		)
		return nil
	}
}
