// Package handlers is vitals' HTTP surface: the JSON API, the dashboard and
// its fragments, and /health. It is the only package that imports Fiber.
package handlers

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/web"
)

// Snapshots gives the sampler's latest snapshot without any I/O.
type Snapshots interface {
	Latest() *probes.Rendered
}

// Store is the slice of the store the HTTP surface uses: the feed's events
// (listed, written, erased), the backend's name for the page, and the
// session key setting (session.go), the history and the fleet
// (history.go). storage.Store satisfies it.
type Store interface {
	storage.EventReader
	storage.EventWriter
	storage.EventEraser
	HistoryReader
	Backend() string
	sessionKeyStore
}

// Config is what the HTTP surface needs; main builds every part.
type Config struct {
	Store     Store
	Snapshots Snapshots
	Creds     *Credentials
	Site      *web.Site
	Health    *Health
	Logger    *slog.Logger
	// PollInterval is how often the page refreshes its fragments.
	PollInterval time.Duration
	// RequestTimeout bounds the work of one request (store queries).
	RequestTimeout time.Duration
	// Requests, when set, is the context every request's store work
	// derives from: cancelling it cuts the requests still running, as
	// vitals does when its shutdown timeout has passed. Nil means none.
	Requests context.Context
	// Latency, when set, records every request but static files for the
	// snapshot's "api" group.
	Latency *probes.LatencyWindow
	// Metrics, when set, adds the cumulative API latency histogram, the
	// events ingested by type and the build info to GET /metrics.
	Metrics *Metrics
	// MetricsPublic lets GET /metrics answer without a credential
	// (VITALS_METRICS_PUBLIC).
	MetricsPublic bool
	// RequestLog, when set, gets one line per request (requestlog.go);
	// every response carries an X-Request-Id either way.
	RequestLog *slog.Logger
	// SessionKey signs the admin's session cookies (VITALS_SESSION_KEY);
	// empty, a key is generated once and kept in the store.
	SessionKey []byte
	// SessionKeys, when set, is where the signing secret is kept, so that
	// the caller can install a new one (nil: private to the app).
	SessionKeys *SessionKeys
	// SessionTTL is how long a sign-in lasts (default 12 h).
	SessionTTL time.Duration
	// TrustProxy takes the client address from Fly-Client-IP or
	// X-Forwarded-For (VITALS_TRUST_PROXY), for the sign-in rate limit.
	TrustProxy bool
	// Location is where the page shows exact times (VITALS_TIMEZONE;
	// default UTC).
	Location *time.Location
	// Thresholds colour the dashboard's cards; zero means the defaults.
	Thresholds web.Thresholds
	// IngestRate limits POST /api/v1/events per token to this many
	// requests a second on average, IngestBurst at once
	// (VITALS_INGEST_RATE, VITALS_INGEST_BURST); 0 means no limit.
	IngestRate  float64
	IngestBurst int
	// AppTimings receives the application's request timings
	// (POST /api/v1/timings) for the snapshot's "app" group; nil, posts
	// are checked and kept in a window no probe reads.
	AppTimings *probes.AppTimings
	// AlertRules is the alert engine GET /api/v1/alerts reads; nil
	// answers no rules.
	AlertRules Alerts
	// Notifications is the alerts' delivery log (GET /api/v1/notifications),
	// ChannelLabels each channel's name on it; nil answers an empty log.
	Notifications NotificationLog
	ChannelLabels map[string]string
}

type server struct {
	Config
	store Store
	creds *Credentials
	log   *slog.Logger
	expo  expositionCache
	// sess and limiter are the admin's sign-in (session.go, login.go).
	sess    *sessions
	limiter *loginLimiter
	// uptime keeps the heartbeat strips a minute (uptime.go).
	uptime uptimeCache
	// history is the one reader of the stored history, which keeps the
	// final steps of rolled-up ranges between requests.
	history *history.Reader
	// sparks keeps the sparklines' hour a few seconds (charts.go).
	sparks sparkCache
	charts chartCache
}

// New builds the Fiber app with every route.
func New(cfg Config) *fiber.App {
	cfg = withDefaults(cfg)
	s := &server{Config: cfg, store: cfg.Store, creds: cfg.Creds, log: cfg.Logger, history: history.NewReader(cfg.Store)}
	s.sess = newSessions(cfg.Store, cfg.SessionKey, cfg.SessionTTL, cfg.SessionKeys)
	s.limiter = newLoginLimiter()
	app := fiber.New(fiber.Config{
		AppName:               "vitals",
		DisableStartupMessage: true,
		BodyLimit:             MaxBatchBody,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           readTimeout,
		ReadBufferSize:        maxHeaderBytes,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
	})
	s.tuneServer(app.Server())
	// Outermost, so that the request id is on every response and the
	// status logged is the one sent.
	app.Use(s.requestLog(newRequestIDs()))
	if cfg.Latency != nil || cfg.Metrics != nil {
		app.Use(s.recordLatency)
	}
	app.Use(s.securityHeaders)
	app.Use(s.edgeChecks)
	// Text answers for browsers are compressed; the JSON API is not, so
	// that its hot path stays a copy of pre-rendered bytes.
	zip := compress.New(compress.Config{Level: compress.LevelBestSpeed})
	s.publicRoutes(app, zip)
	// Everything else needs a credential.
	app.Use(s.authenticate)
	s.pageRoutes(app, zip)
	s.apiRoutes(app)
	// Unknown routes: still no answer without credentials.
	app.Use(require("see this", RoleAdmin, RoleRead, RoleIngest, RoleAdminToken), func(c *fiber.Ctx) error {
		return newProblem(fiber.StatusNotFound, "no such route")
	})
	return app
}

// withDefaults fills in what cfg leaves zero.
func withDefaults(cfg Config) Config {
	if cfg.Requests == nil {
		cfg.Requests = context.Background()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.AppTimings == nil {
		cfg.AppTimings = probes.NewAppTimings()
	}
	if cfg.AlertRules == nil {
		cfg.AlertRules = noAlerts{}
	}
	if cfg.Thresholds == (web.Thresholds{}) {
		cfg.Thresholds = web.DefaultThresholds()
	}
	return cfg
}

// publicRoutes answer without a credential: the platform's health check,
// the fingerprinted assets, and the sign-in form and the language and
// theme switches, each form carrying its CSRF token.
func (s *server) publicRoutes(app *fiber.App, zip fiber.Handler) {
	app.Get("/health", s.health)
	app.Head("/health", s.health)
	app.Get("/static/*", zip, s.static)
	app.Get("/login", zip, s.loginPage)
	app.Post("/login", smallForm, s.login)
	app.Post("/prefs", smallForm, s.setPrefs)
	if s.MetricsPublic {
		app.Get("/metrics", s.metrics)
	}
}

// pageRoutes are the admin's dashboard and the fragments it polls. Only
// routes that query the store get a deadline; the snapshot routes do no
// I/O and stay on the fast path.
func (s *server) pageRoutes(app *fiber.App, zip fiber.Handler) {
	admin := require("open the dashboard", RoleAdmin)
	db := s.deadline
	app.Get("/", s.signedIn, db, zip, s.page)
	app.Post("/logout", s.signedIn, smallForm, s.logout)
	app.Get("/partials/cards", admin, db, zip, s.cardsPartial)
	app.Get("/partials/uptime", admin, db, zip, s.uptimePartial)
	app.Get("/partials/fleet", admin, db, zip, s.fleetPartial)
	app.Get("/partials/chart", admin, db, zip, s.chartPartial)
	app.Get("/partials/events", admin, db, zip, s.eventsPartial)
	app.Get("/partials/events/older", admin, db, zip, s.olderPartial)
	app.Get("/partials/events/details", admin, db, zip, s.detailsPartial)
	app.Get("/partials/feed", admin, db, zip, s.feedPartial)
}

// apiRoutes are the JSON API and /metrics, each with the roles it admits.
func (s *server) apiRoutes(app *fiber.App) {
	readers := require("read", RoleAdmin, RoleRead)
	db := s.deadline
	app.Get("/api/v1/system/metrics", readers, s.systemMetrics)
	app.Get("/api/v1/events", readers, db, s.listEvents)
	app.Get("/api/v1/events/export", readers, s.exportEvents)
	app.Post("/api/v1/timings", require("post timings", RoleIngest), s.postTimings)
	app.Get("/api/v1/alerts", readers, s.listAlerts)
	app.Post("/api/v1/alerts/silence", require("silence an alert rule", RoleAdmin), s.sessionCSRF, db, s.silenceAlert)
	app.Get("/api/v1/notifications", readers, db, s.listNotifications)
	app.Post("/api/v1/notifications/test", require("send a test notification", RoleAdmin), s.sessionCSRF, db, s.testNotification)
	app.Get("/api/v1/history", readers, db, s.historyAPI)
	app.Get("/api/v1/instances", readers, db, s.instancesAPI)
	app.Post("/api/v1/events", require("post events", RoleIngest), newIngestLimiter(s.IngestRate, s.IngestBurst).handler, db, s.postEvents)
	app.Delete("/api/v1/events", require("erase events", RoleAdmin, RoleAdminToken), s.sessionCSRF, db, s.eraseEvents)
	app.Get("/api/v1/openapi.json", require("read the API description", RoleAdmin, RoleRead, RoleIngest, RoleAdminToken), s.openAPI)
	if !s.MetricsPublic {
		app.Get("/metrics", readers, s.metrics)
	}
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
		d, status := time.Since(start), c.Response().StatusCode()
		if s.Latency != nil && !ownTraffic(c.Path()) {
			s.Latency.Observe(d, status)
		}
		if s.Metrics != nil {
			s.Metrics.ObserveRequest(d, status)
		}
	}
	return nil
}

// deadline gives each request a context with a deadline, so a slow store
// cannot hold a request forever.
func (s *server) deadline(c *fiber.Ctx) error {
	ctx, cancel := s.storeContext()
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// storeContext is the budget of one store read or write: the request
// deadline, ended early when the server shuts down.
func (s *server) storeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.Requests, s.RequestTimeout)
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
