// Package handlers is vitals' HTTP surface: the JSON API, the dashboard and
// its fragments, and /health. It is the only package that imports Fiber.
package handlers

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"vitals/probes"
	"vitals/storage"
	"vitals/web"
)

// Snapshots gives the sampler's latest snapshot without any I/O.
type Snapshots interface {
	Latest() *probes.Rendered
}

// Config is what the HTTP surface needs; main builds every part.
type Config struct {
	Store     storage.Store
	Snapshots Snapshots
	Creds     *Credentials
	Site      *web.Site
	Health    *Health
	Logger    *slog.Logger
	// PollInterval is how often the page refreshes its fragments.
	PollInterval time.Duration
	// RequestTimeout bounds the work of one request (store queries).
	RequestTimeout time.Duration
	// Latency, when set, records every request but static files for the
	// snapshot's "api" group.
	Latency *probes.LatencyWindow
}

type server struct {
	Config
	store storage.Store
	creds *Credentials
	log   *slog.Logger
}

// New builds the Fiber app with every route.
func New(cfg Config) *fiber.App {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &server{Config: cfg, store: cfg.Store, creds: cfg.Creds, log: cfg.Logger}
	app := fiber.New(fiber.Config{
		AppName:               "vitals",
		DisableStartupMessage: true,
		BodyLimit:             MaxBatchBody,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
	})
	if cfg.Latency != nil {
		app.Use(s.recordLatency)
	}
	app.Use(s.securityHeaders)

	// Public: the platform's health check and the fingerprinted assets.
	app.Get("/health", s.health)
	app.Head("/health", s.health)
	app.Get("/static/*", s.static)

	// Everything else needs a credential.
	app.Use(s.authenticate)
	readers := require("read", RoleAdmin, RoleRead)
	admin := require("open the dashboard", RoleAdmin)
	// Only routes that query the store get a deadline; the snapshot routes
	// do no I/O and stay on the fast path.
	db := s.deadline
	app.Get("/", admin, db, s.page)
	app.Get("/partials/cards", admin, s.cardsPartial)
	app.Get("/partials/events", admin, db, s.eventsPartial)
	app.Get("/api/v1/system/metrics", readers, s.systemMetrics)
	app.Get("/api/v1/events", readers, db, s.listEvents)
	app.Post("/api/v1/events", require("post events", RoleIngest), db, s.postEvents)

	// Unknown routes: still no answer without credentials.
	app.Use(require("see this", RoleAdmin, RoleRead, RoleIngest), func(c *fiber.Ctx) error {
		return newProblem(fiber.StatusNotFound, "no such route")
	})
	return app
}

// recordLatency times the request, error handling included, so the status
// recorded is the one the client gets.
func (s *server) recordLatency(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	if !strings.HasPrefix(c.Path(), "/static/") {
		s.Latency.Observe(time.Since(start), c.Response().StatusCode())
	}
	return nil
}

// deadline gives each request a context with a deadline, so a slow store
// cannot hold a request forever.
func (s *server) deadline(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// securityHeaders sets the headers every response carries. The policy
// allows no inline script or style: the page needs neither.
func (s *server) securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Frame-Options", "DENY")
	return c.Next()
}

// static serves a fingerprinted asset; its name changes with its content,
// so it may be cached for a year.
func (s *server) static(c *fiber.Ctx) error {
	a, ok := s.Site.Asset(c.Path())
	if !ok {
		return newProblem(fiber.StatusNotFound, "no such file")
	}
	c.Set(fiber.HeaderContentType, a.ContentType)
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	return c.Send(a.Body)
}

// systemMetrics serves the snapshot's JSON, rendered once per sampler tick.
func (s *server) systemMetrics(c *fiber.Ctx) error {
	r := s.Snapshots.Latest()
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(r.JSON)
}

func (s *server) pageData(c *fiber.Ctx, events []storage.Event, eventType string) web.Page {
	snap := s.Snapshots.Latest().Snapshot
	return web.Page{
		Snapshot:    &snap,
		Events:      events,
		EventType:   eventType,
		Now:         time.Now(),
		PollSeconds: int(s.PollInterval / time.Second),
		Backend:     s.store.Backend(),
	}
}

// feed reads the newest events for the page. A store that is down leaves the
// feed empty rather than failing the whole page: the cards still matter.
func (s *server) feed(c *fiber.Ctx) ([]storage.Event, string, error) {
	f, err := parseEventFilter(c)
	if err != nil {
		return nil, "", err
	}
	events, err := s.store.ListEvents(c.UserContext(), f)
	if err != nil {
		s.log.Warn("dashboard: list events", "err", err)
		events = nil
	}
	return events, strings.Join(f.Types, ","), nil
}

func (s *server) render(c *fiber.Ctx, name string, data web.Page) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.Site.Render(c, name, data)
}

func (s *server) page(c *fiber.Ctx) error {
	events, t, err := s.feed(c)
	if err != nil {
		return err
	}
	return s.render(c, "page", s.pageData(c, events, t))
}

func (s *server) cardsPartial(c *fiber.Ctx) error {
	return s.render(c, "cards", s.pageData(c, nil, ""))
}

func (s *server) eventsPartial(c *fiber.Ctx) error {
	events, t, err := s.feed(c)
	if err != nil {
		return err
	}
	return s.render(c, "events", s.pageData(c, events, t))
}
