// Package app is the one owner of the lifecycle of `vitals serve`. New
// builds every component (the listener, the store, the credentials, Redis,
// the probes and their sampler, /health, the HTTP handlers) and registers,
// as it builds each, how it is released; Run runs them until its context
// ends or the listener fails; closing releases them in reverse order of
// building. Every goroutine Run starts belongs to the App, which stops it
// and waits for it before anything it uses is released.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/internal/config"
	"github.com/vitalsdev/vitals/internal/logging"
	"github.com/vitalsdev/vitals/internal/version"
	"github.com/vitalsdev/vitals/notify"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/web"
)

// Options are what New needs besides the configuration: where the output
// goes and what the process is.
type Options struct {
	// Stdout gets the banner and, on a first start, the generated admin
	// password.
	Stdout io.Writer
	// Stderr gets the log.
	Stderr io.Writer
	// Getenv names the instance (probes.InstanceFromEnv); nil reads
	// nothing.
	Getenv func(string) string
	// Started is when the process began, for the start-up time logged and
	// the process's uptime; zero means when New was called.
	Started time.Time
	// Ready, when set, gets the listener's address once Run serves.
	Ready chan<- string
}

// App is vitals serving: every component New built, and the list that
// releases them.
type App struct {
	cfg    config.Config
	opts   Options
	logger *slog.Logger
	// requests is the context of every request's store work;
	// cutRequests ends it once the shutdown timeout has passed.
	requests    context.Context
	cutRequests context.CancelFunc

	ln net.Listener
	// metrics is the private /metrics listener (VITALS_METRICS_ADDR),
	// when configured: a platform's scraper that sends no token.
	metricsLn  net.Listener
	metricsSrv *http.Server
	metricsRun sync.WaitGroup
	store      *openedStore
	creds      *handlers.Credentials
	// secrets is the store as the sign-in and the dashboard see it: with
	// PostgreSQL the session key and password hash are also kept in the
	// data directory (secrets.go); sessionKeys is the signing secret.
	secrets     storage.Store
	cache       *secretCache
	sessionKeys *handlers.SessionKeys
	tokens      *handlers.StoredTokens
	redis       *redis.Client
	latency     *probes.LatencyWindow
	appTimings  *probes.AppTimings
	alerts      *alerts.Engine
	spool       *notify.Spool
	// leaseHeld is whether this instance held the history lease at its
	// last roll-up, for the alerts' shared rules.
	leaseHeld atomic.Bool
	sampler   *probes.Sampler
	health    *handlers.Health
	http      httpServer

	// serving is set by Run when it starts the HTTP server's goroutine;
	// served is closed when that goroutine has returned, with its error
	// in serveErr.
	serving  bool
	served   chan struct{}
	serveErr error

	// work runs every goroutine Run starts besides the HTTP server's.
	work *group
	// closers release what New built; Close runs them last first.
	closers   []closer
	closeOnce sync.Once
}

// httpServer is the part of the Fiber app the lifecycle uses (handlers is
// the only package that imports Fiber).
type httpServer interface {
	Listener(ln net.Listener) error
	ShutdownWithTimeout(timeout time.Duration) error
}

// closer releases one component.
type closer struct {
	name  string
	close func()
}

// firstRunSettle is how long the very first start waits, once serving,
// before it makes the admin password's bcrypt hash (provisionAdmin).
const firstRunSettle = 250 * time.Millisecond

// New builds every component of the server from cfg; ctx bounds the
// building (opening and migrating the store), not the running. A bad
// setting found here is a *config.Error; any other failure has been logged
// and everything built so far released.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if opts.Started.IsZero() {
		opts.Started = time.Now()
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	redisOpts, err := redisOptions(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, opts: opts, logger: logging.New(cfg.LogFormat, opts.Stderr),
		served: make(chan struct{}), work: newGroup()}
	a.requests, a.cutRequests = context.WithCancel(context.Background())
	if err := a.build(ctx, redisOpts); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// build makes each component in the order start-up needs, registering how
// each is released as it goes; the order of that list is the shutdown
// order, reversed.
func (a *App) build(ctx context.Context, redisOpts *redis.Options) error {
	// Bind before anything slow: a port in use fails at once, and the
	// platform's first requests wait in the backlog instead of being
	// refused while the store opens.
	if err := a.listen(); err != nil {
		return err
	}
	// Templates are parsed while the store opens (and migrates): the two
	// are the longest steps of a cold start and share nothing.
	site := parseSite()
	if err := a.openStore(ctx); err != nil {
		_, _ = site()
		return err
	}
	a.buildCredentials()
	a.buildRedis(redisOpts)
	a.buildSampler()
	a.buildHealth()
	// Registered after everything its goroutines use (store, tokens,
	// Redis, probes, /health) and before the HTTP server: on the way out
	// the requests finish first, then the goroutines are awaited, then
	// what they used is released.
	a.onClose("background work", a.work.stop)
	s, err := site()
	if err != nil {
		a.logger.Error("web", "err", err)
		return err
	}
	a.buildHTTP(s)
	return nil
}

// onClose registers how the component just built is released.
func (a *App) onClose(name string, f func()) {
	a.closers = append(a.closers, closer{name: name, close: f})
}

// Close releases every component in reverse order of building: the HTTP
// server (finishing the requests in flight), the request log, the
// background goroutines (stopped and awaited), Redis, the store (its
// pending group commit completes and SQLite's WAL is checkpointed), the
// listener. Run calls it on its way out; call it yourself only for an App
// that is never run. Calls after the first do nothing.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		for i := len(a.closers) - 1; i >= 0; i-- {
			a.closers[i].close()
		}
	})
}

func (a *App) listen() error {
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(a.cfg.Port)))
	if err != nil {
		a.logger.Error("listen", "port", a.cfg.Port, "err", err)
		return err
	}
	a.ln = ln
	// A no-op once the HTTP server has closed it.
	a.onClose("listener", func() { _ = ln.Close() })
	if a.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", a.cfg.MetricsAddr)
		if err != nil {
			a.logger.Error("listen for metrics", "addr", a.cfg.MetricsAddr, "err", err)
			return err
		}
		a.metricsLn = mln
		a.onClose("metrics listener", func() { _ = mln.Close() })
	}
	return nil
}

// parseSite parses the templates in a goroutine of its own and returns the
// function that waits for them; build calls it once on every path.
func parseSite() func() (*web.Site, error) {
	type result struct {
		site *web.Site
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := web.New()
		ch <- result{s, err}
	}()
	return func() (*web.Site, error) {
		r := <-ch
		return r.site, r.err
	}
}

func (a *App) openStore(ctx context.Context) error {
	st, err := openStore(ctx, a.cfg, a.logger)
	if err != nil {
		a.logger.Error("cannot open the store", "err", err)
		return err
	}
	a.store = st
	// Released last but the listener, after every request and goroutine
	// that uses it.
	a.onClose("store", func() { st.close(a.logger) })
	// Closed after the background work that writes to it has stopped.
	if len(a.cfg.AlertRules) > 0 {
		a.spool = a.openSpool()
	}
	return nil
}

func (a *App) buildCredentials() {
	a.creds = handlers.NewCredentials(a.cfg.AdminPassword, a.cfg.ReadTokens, a.cfg.IngestTokens)
	a.sessionKeys = &handlers.SessionKeys{}
	a.secrets = a.store.store
	if a.cfg.DatabaseURL != "" {
		a.cache = newSecretCache(a.cfg.DataDir, a.logger)
		a.secrets = cachedSecrets{Store: a.store.store, cache: a.cache}
	}
	// The tokens made with `vitals token`, beside the environment's
	// (handlers/tokens.go); Run starts their loop.
	a.tokens = handlers.NewStoredTokens(a.store.store, a.logger)
	a.creds.UseStoredTokens(a.tokens)
	a.store.beforeReady = a.tokens.Reload
}

// redisOptions parses REDIS_URL; empty, Redis is not configured (nil).
func redisOptions(rawURL string) (*redis.Options, error) {
	if rawURL == "" {
		return nil, nil
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// Never the URL itself: it may hold a password.
		return nil, &config.Error{Name: "REDIS_URL", Err: errors.New("cannot be parsed as a Redis URL")}
	}
	return opts, nil
}

func (a *App) buildRedis(opts *redis.Options) {
	if opts == nil {
		return
	}
	// Honour the probe's deadline rather than go-redis's own 3 s read
	// timeout, so a Redis that hangs is reported on time.
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	// go-redis logs dial failures through its own global logger; the
	// probe already reports them once per change of state.
	redis.SetLogger(redisLog{a.logger})
	a.redis = redis.NewClient(opts)
	a.onClose("redis", func() { _ = a.redis.Close() })
}

func (a *App) buildSampler() {
	cfg, st := a.cfg, a.store
	ps := probes.HostProbes(probes.HostConfig{DiskPaths: cfg.DiskPaths, DataDir: st.dataDir, Started: a.opts.Started})
	if cfg.MonitorDatabaseURL != "" {
		// The application's database: its figures, its round trip.
		ps = append(ps, probes.NewDatabaseProbe("postgres", st.monitorPool.Ping, st.monitorPool))
	} else {
		ps = append(ps, probes.NewDatabaseProbe(st.store.Backend(), st.store.Ping, st.monitorPool))
	}
	a.latency = probes.NewLatencyWindow()
	a.appTimings = probes.NewAppTimings()
	ps = append(ps, probes.NewRedisProbe(a.redis), probes.NewHTTPProbe(cfg.HTTPChecks, probes.HTTPProbeConfig{
		// Never longer than a sample interval, so a hung target's samples
		// do not overrun the next tick.
		Timeout: min(cfg.HTTPTimeout, cfg.SampleInterval-250*time.Millisecond), Started: a.opts.Started}), probes.NewAPIProbe(a.latency),
		probes.NewAppProbe(a.appTimings, cfg.SampleInterval))
	instance := probes.InstanceFromEnv(a.opts.Getenv)
	if cfg.MachineID != "" {
		instance.ID = cfg.MachineID
	}
	instance.Region = cfg.Region
	a.sampler = probes.NewSampler(probes.SamplerConfig{
		Interval: cfg.SampleInterval,
		Timeout:  cfg.ProbeTimeout,
		Instance: instance,
		Logger:   a.logger,
		// The same thresholds as the cards, so the JSON's state agrees.
		Thresholds: cfg.Thresholds,
	}, ps...)
}

// readyPing is the database's health check: failing until the store is
// ready (on PostgreSQL, connected, migrated and its tokens loaded), then
// the store's Ping.
func (a *App) readyPing(ctx context.Context) error {
	select {
	case <-a.store.ready:
	default:
		return fmt.Errorf("store not ready yet: %w", storage.ErrUnavailable)
	}
	return a.store.store.Ping(ctx)
}

func (a *App) buildHealth() {
	checks := []handlers.HealthCheck{{
		Name: "database:responseTime", ComponentType: "datastore", Critical: true, Check: a.readyPing,
	}}
	if wh, ok := a.store.store.(writeHealthy); ok {
		checks = append(checks, writesCheck(wh.WriteHealth()))
	}
	if rc := a.redis; rc != nil {
		// Redis down is a warning: vitals can still serve.
		checks = append(checks, handlers.HealthCheck{Name: "redis:responseTime", ComponentType: "datastore",
			Check: func(ctx context.Context) error { return rc.Ping(ctx).Err() }})
	}
	a.health = handlers.NewHealth(version.Version, time.Second, time.Second, checks...)
	// After the HTTP server stops: checks that overran a request's budget
	// end with their context, and nothing is left running.
	a.onClose("health checks", a.health.Wait)
}

func (a *App) buildHTTP(site *web.Site) {
	reqLog, flush := logging.Request(a.cfg.LogFormat, a.opts.Stderr)
	// Flushed right after the HTTP server stops: the last requests' lines
	// come before the lines of the rest of the shutdown.
	a.onClose("request log", flush)
	cfg := a.cfg
	metrics := handlers.NewMetrics(version.Version)
	if wh, ok := a.store.store.(writeHealthy); ok {
		metrics.CountWriteFailures(wh.WriteHealth().Failures)
	}
	a.alerts = a.newAlerts()
	a.http = handlers.New(handlers.Config{
		Store: a.secrets, Snapshots: a.sampler, Creds: a.creds, Site: site, Health: a.health,
		Logger: a.logger, PollInterval: cfg.PollInterval, Latency: a.latency,
		Metrics: metrics, MetricsPublic: cfg.MetricsPublic,
		RequestLog: reqLog,
		SessionKey: []byte(cfg.SessionKey), SessionKeys: a.sessionKeys, SessionTTL: cfg.SessionTTL, TrustProxy: cfg.TrustProxy,
		Location: cfg.Timezone, Thresholds: cfg.Thresholds,
		IngestRate: float64(cfg.IngestRate), IngestBurst: cfg.IngestBurst, AppTimings: a.appTimings, AlertRules: a.alerts,
		Notifications: a.store.store, ChannelLabels: channelLabels(cfg.Channels),
		Requests: a.requests,
	})
	a.onClose("http server", a.stopHTTP)
	if a.metricsLn != nil {
		a.metricsSrv = &http.Server{Handler: handlers.MetricsHandler(a.sampler, metrics), ReadHeaderTimeout: 5 * time.Second}
		// A scrape takes microseconds: closing at once loses nothing.
		a.onClose("metrics server", func() { _ = a.metricsSrv.Close(); a.metricsRun.Wait() })
	}
}

// stopHTTP closes the listener at once, then waits for the requests in
// flight (within VITALS_SHUTDOWN_TIMEOUT): every one of them answers
// before the store closes, so no response says "stored" for an event that
// is not. Then it waits for the server's goroutine.
func (a *App) stopHTTP() {
	defer a.cutRequests()
	if !a.serving {
		return
	}
	if err := a.http.ShutdownWithTimeout(a.cfg.ShutdownTimeout); err != nil {
		// Requests still waiting on a hung database are cut now, so that
		// the store can close at once: SIGTERM ends within the timeout
		// whatever the database does. A post cut here was not answered
		// "stored"; its client retries under its idempotency key.
		a.logger.Warn("shutdown: requests still running at the timeout were cut", "err", err)
	}
	a.cutRequests()
	<-a.served
}

// Run serves until ctx is done or the listener fails, then shuts down
// (Close) and returns; the error is the listener's, when that was the
// cause. The background goroutines are cancelled as soon as ctx ends,
// while the HTTP server finishes the requests in flight. Call it once.
func (a *App) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, a.work.cancel)
	defer stop()
	a.startWork()
	a.serve()
	a.announce()
	a.startAfterServing()
	err := a.wait(ctx)
	stopping := time.Now()
	a.logger.Info("shutting down: finishing requests in flight", "timeout", a.cfg.ShutdownTimeout.String())
	a.Close()
	a.logger.Info("stopped", "shutdown_ms", time.Since(stopping).Milliseconds())
	return err
}

// startWork starts what must run from the first request on.
func (a *App) startWork() {
	if a.store.connect != nil {
		// PostgreSQL connects and migrates in the background, with
		// backoff, so an unreachable database does not hold the start.
		a.work.Go(a.store.connect)
	}
	a.work.Go(a.tokens.Run)
	if wh, ok := a.store.store.(writeHealthy); ok {
		a.work.Go(func(ctx context.Context) { a.probeWrites(ctx, wh.WriteHealth()) })
	}
	// The first health check starts now rather than in the platform's
	// first request, which shares its result: it also opens the store's
	// first read connection. Not waited for: an unreachable PostgreSQL
	// must not hold the start.
	a.work.Go(func(context.Context) { a.health.Result() })
}

func (a *App) serve() {
	if a.metricsSrv != nil {
		a.metricsRun.Go(func() { _ = a.metricsSrv.Serve(a.metricsLn) })
	}
	a.serving = true
	go func() {
		defer close(a.served)
		a.serveErr = a.http.Listener(a.ln)
	}()
}

// announce says that the server accepts connections: the banner on
// stdout, the log line with the start-up time, the address on Ready.
func (a *App) announce() {
	port := a.ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(a.opts.Stdout, "vitals %s serving http://localhost:%d (storage: %s)\n", version.Version, port, a.store.describe)
	a.logger.Info("serving", "port", port, "storage", a.store.describe, "version", version.Version,
		"startup_ms", float64(time.Since(a.opts.Started).Microseconds())/1000)
	if a.opts.Ready != nil {
		a.opts.Ready <- a.ln.Addr().String()
	}
}

// startAfterServing starts the work /health does not need once the server
// accepts connections, so that it does not compete with a cold start: the
// probes' first tick and, on a first run, the generated admin password's
// bcrypt hash (tens of milliseconds of CPU, put off a further
// firstRunSettle).
func (a *App) startAfterServing() {
	a.work.Go(func(ctx context.Context) {
		a.sampler.Start(ctx)
		a.sampler.Wait()
	})
	a.work.Go(a.loadAdmin)
	a.work.Go(a.runHistory)
	a.work.Go(a.runAlerts)
	a.work.Go(a.runNotifications)
	a.work.Go(a.runHeartbeat)
}

// loadAdmin loads (or on a first start makes) the admin password, which
// lives in the store, once the store is ready: for PostgreSQL that may be
// later, in the background.
func (a *App) loadAdmin(ctx context.Context) {
	// During an outage the copy in the data directory signs the admin in
	// until the store answers.
	if a.cache != nil && !a.creds.AdminFromEnv() {
		if h := a.cache.get(AdminHashKey); h != "" {
			a.creds.SetAdminHash([]byte(h))
		}
	}
	if err := a.store.waitReady(ctx); err != nil {
		return
	}
	if err := provisionAdmin(ctx, a.secrets, a.creds, a.opts.Stdout, firstRunSettle); err != nil && ctx.Err() == nil {
		a.logger.Error("admin password", "err", err)
	}
	a.refreshSecrets(ctx, a.secrets)
}

// wait blocks until ctx is done (nil) or the listener fails on its own
// (its error: nothing more will be served).
func (a *App) wait(ctx context.Context) error {
	select {
	case <-a.served:
		err := a.serveErr
		if err == nil {
			err = errors.New("the HTTP server stopped")
		}
		a.logger.Error("serve", "err", err)
		return err
	case <-ctx.Done():
		return nil
	}
}

// group is goroutines started together and stopped together: one context
// cancels them all, and stop waits for every one.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newGroup() *group {
	ctx, cancel := context.WithCancel(context.Background())
	return &group{ctx: ctx, cancel: cancel}
}

// Go runs f in a goroutine of the group, with the group's context.
func (g *group) Go(f func(ctx context.Context)) {
	g.wg.Go(func() { f(g.ctx) })
}

// stop cancels the group's context and waits for every goroutine.
func (g *group) stop() {
	g.cancel()
	g.wg.Wait()
}

// redisLog sends go-redis's own messages to the debug level of the one
// logger: the redis group of the snapshot already reports failures.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
