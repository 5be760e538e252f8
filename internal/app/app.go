// Command vitals shows the admins of a small web service the truth about
// their system: real CPU, memory and disk figures (right inside containers),
// PostgreSQL and Redis health, API latency, and a feed of what happened in
// the application, on a server-rendered admin page.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/web"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(runIO(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status, so tests can
// drive the real start-up path. Standard input is empty.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runIO(args, getenv, strings.NewReader(""), stdout, stderr)
}

// Exit statuses: 0 done, 1 failed while running, 2 bad usage or
// configuration (nothing was changed).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// runIO dispatches to the command named by the first argument; without one
// (or with a flag first) it serves.
func runIO(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "help" || a == "-h" || a == "--help" || a == "-help":
			if len(args) > 1 && args[0] == "help" {
				// "vitals help migrate" is "vitals migrate --help".
				return runIO([]string{args[1], "--help"}, getenv, stdin, stdout, stderr)
			}
			fmt.Fprint(stdout, usage)
			return exitOK
		case a != "" && a[0] != '-':
			cmd, args = a, args[1:]
		}
	}
	switch cmd {
	case "serve":
		ctx, stop := signalContext()
		defer stop()
		return serve(ctx, args, getenv, stdout, stderr, nil)
	case "migrate":
		return cmdMigrate(args, getenv, stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(args, getenv, stdout, stderr)
	case "event":
		// Posts one event through the Go client (cmd_event.go).
		return cmdEvent(args, getenv, stdout, stderr)
	case "token":
		// Stored API tokens: create, list, revoke (cmd_token.go).
		return cmdToken(args, getenv, stdout, stderr)
	case "admin":
		return cmdAdmin(args, getenv, stdin, stdout, stderr)
	case "demo":
		return cmdDemo(args, getenv, stdout, stderr)
	case "version":
		return cmdVersion(args, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "vitals: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

const usage = `usage: vitals [command] [flags]

commands:
  serve         serve the dashboard, the API and /health (the default)
  migrate       apply, roll back or list the store's migrations: up | down | status
  healthcheck   exit 0 when the local server's /health passes (for container health checks)
  event         post one event to a vitals server
  token         create, list or revoke API tokens
  admin         set-password: replace the admin password kept in the store
  demo          fill a development store with a day of realistic events
  version       print the version

Run "vitals <command> --help" for a command's flags; each mirrors an
environment variable (the README lists them all).
`

// signalContext is cancelled by the first SIGINT or SIGTERM. After that a
// second Ctrl-C (SIGINT) stops at once instead of waiting for the graceful
// shutdown, while further SIGTERMs are ignored: a supervisor repeating its
// stop request must not cut the shutdown short.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(ch)
		select {
		case <-ch:
			signal.Ignore(syscall.SIGTERM)
			signal.Reset(os.Interrupt)
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// serve runs the server until ctx is done, then shuts down gracefully:
// stop accepting, let the requests in flight finish (within
// VITALS_SHUTDOWN_TIMEOUT), stop the background work, and close the store,
// whose pending group commit completes and whose SQLite WAL is checkpointed.
// When ready is not nil the listener's address is sent on it once the server
// accepts connections.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) int {
	started := time.Now()
	// Cancelled on the way out whatever the reason, so that background
	// work stops before the store closes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg, err := loadConfig(args, getenv, stdout)
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "vitals:", err)
		return exitUsage
	}
	var redisOpts *redis.Options
	if cfg.RedisURL != "" {
		if redisOpts, err = redis.ParseURL(cfg.RedisURL); err != nil {
			fmt.Fprintln(stderr, "vitals: configuration: REDIS_URL: cannot be parsed as a Redis URL")
			return exitUsage
		}
	}
	logger := newLogger(cfg.LogFormat, stderr)
	reqLogger, closeReqLog := requestLogger(cfg.LogFormat, stderr)
	defer closeReqLog()

	// Bind before anything slow: a port in use fails at once, and the
	// platform's first requests wait in the backlog instead of being
	// refused while the store opens.
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		logger.Error("listen", "port", cfg.Port, "err", err)
		return exitFailed
	}
	defer ln.Close() // a no-op once the server has closed it

	// Templates are parsed while the store opens (and migrates): the two
	// are the longest steps of a cold start and share nothing.
	type siteResult struct {
		site *web.Site
		err  error
	}
	siteCh := make(chan siteResult, 1)
	go func() {
		s, err := web.New()
		siteCh <- siteResult{s, err}
	}()

	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		<-siteCh
		logger.Error("cannot open the store", "err", err)
		return exitFailed
	}
	// Closed last, after every request and background task that uses it
	// (at once on the paths that fail before serving).
	defer st.close(logger)
	var background sync.WaitGroup
	defer background.Wait()

	creds := handlers.NewCredentials(cfg.AdminPassword, cfg.ReadTokens, cfg.IngestTokens)
	// The tokens made with `vitals token`, beside the environment's: loaded
	// now and reloaded within a second of any change (handlers/tokens.go).
	storedTokens := handlers.NewStoredTokens(st.store, logger)
	creds.UseStoredTokens(storedTokens)
	// Its own cancel, deferred after background.Wait so that it runs first:
	// an early return must not wait for a loop nobody stopped.
	tokensCtx, stopTokens := context.WithCancel(ctx)
	defer stopTokens()
	background.Go(func() { storedTokens.Run(tokensCtx) })

	hostCfg := probes.HostConfig{DiskPaths: cfg.DiskPaths, DataDir: st.dataDir, Started: started}
	ps := probes.HostProbes(hostCfg)
	if cfg.MonitorDatabaseURL != "" {
		// The application's database: its figures, its round trip.
		ps = append(ps, probes.NewDatabaseProbe("postgres", st.monitorPool.Ping, st.monitorPool))
	} else {
		ps = append(ps, probes.NewDatabaseProbe(st.store.Backend(), st.store.Ping, st.monitorPool))
	}
	var redisClient *redis.Client
	if redisOpts != nil {
		// Honour the probe's deadline rather than go-redis's own 3 s
		// read timeout, so a Redis that hangs is reported on time.
		redisOpts.ContextTimeoutEnabled = true
		redisOpts.MaxRetries = -1
		// go-redis logs dial failures through its own global logger; the
		// probe already reports them once per change of state.
		redis.SetLogger(redisLog{logger})
		redisClient = redis.NewClient(redisOpts)
		defer redisClient.Close()
	}
	latency := probes.NewLatencyWindow()
	ps = append(ps, probes.NewRedisProbe(redisClient), probes.NewHTTPProbe(cfg.HTTPChecks), probes.NewAPIProbe(latency))
	instance := probes.InstanceFromEnv(getenv)
	if cfg.MachineID != "" {
		instance.ID = cfg.MachineID
	}
	instance.Region = cfg.Region
	sampler := probes.NewSampler(probes.SamplerConfig{
		Interval: cfg.SampleInterval,
		Timeout:  cfg.ProbeTimeout,
		Instance: instance,
		Logger:   logger,
	}, ps...)

	checks := []handlers.HealthCheck{{
		Name: "database:responseTime", ComponentType: "datastore", Critical: true, Check: st.store.Ping,
	}}
	if redisClient != nil {
		// Redis down is a warning: vitals can still serve.
		checks = append(checks, handlers.HealthCheck{Name: "redis:responseTime", ComponentType: "datastore",
			Check: func(ctx context.Context) error { return redisClient.Ping(ctx).Err() }})
	}
	health := handlers.NewHealth(version, time.Second, time.Second, checks...)
	// The first check starts now, beside the template parsing, rather
	// than in the platform's first request, which shares its result: it
	// also opens the store's first read connection. Not waited for: an
	// unreachable PostgreSQL must not hold the start.
	background.Go(func() { health.Result() })

	sr := <-siteCh
	if sr.err != nil {
		logger.Error("web", "err", sr.err)
		return exitFailed
	}
	app := handlers.New(handlers.Config{
		Store: st.store, Snapshots: sampler, Creds: creds, Site: sr.site, Health: health,
		Logger: logger, PollInterval: cfg.PollInterval, Latency: latency,
		Metrics: handlers.NewMetrics(version), MetricsPublic: cfg.MetricsPublic,
		RequestLog: reqLogger,
		SessionKey: []byte(cfg.SessionKey), SessionTTL: cfg.SessionTTL, TrustProxy: cfg.TrustProxy,
		Location: cfg.Timezone, Thresholds: cfg.Thresholds,
		IngestRate: float64(cfg.IngestRate), IngestBurst: cfg.IngestBurst,
	})

	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(stdout, "vitals %s serving http://localhost:%d (storage: %s)\n", version, port, st.describe)
	logger.Info("serving", "port", port, "storage", st.describe, "version", version,
		"startup_ms", float64(time.Since(started).Microseconds())/1000)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	// Work that /health does not need starts once the server accepts
	// connections, so that it does not compete with a cold start: the
	// probes' first tick and, on a first run, the generated admin
	// password's bcrypt hash (tens of milliseconds of CPU, put off a
	// further firstRunSettle).
	sampler.Start(ctx)
	background.Go(func() {
		// The admin password lives in the store: load it once the store
		// is ready, which for PostgreSQL may be later, in the background.
		if err := st.waitReady(ctx); err != nil {
			return
		}
		if err := provisionAdmin(ctx, st.store, creds, stdout, firstRunSettle); err != nil && ctx.Err() == nil {
			logger.Error("admin password", "err", err)
		}
	})

	code := exitOK
	select {
	case err := <-served:
		// The listener failed on its own; nothing more will be served.
		logger.Error("serve", "err", err)
		code = exitFailed
	case <-ctx.Done():
	}
	stopping := time.Now()
	logger.Info("shutting down: finishing requests in flight", "timeout", cfg.ShutdownTimeout.String())
	// Closes the listener at once, then waits for the requests in flight;
	// every one of them answers before the store closes below, so no
	// response says "stored" for an event that is not.
	if err := app.ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
		logger.Warn("shutdown: requests still running at the timeout were cut", "err", err)
	}
	closeReqLog() // the last requests' lines, before the lines below
	cancel()
	sampler.Wait()
	background.Wait()
	// Last, the store: its Close waits for the group commit in progress
	// and checkpoints SQLite's WAL.
	st.close(logger)
	logger.Info("stopped", "shutdown_ms", time.Since(stopping).Milliseconds())
	return code
}

// firstRunSettle is how long the very first start waits, once serving,
// before it makes the admin password's bcrypt hash (provisionAdmin).
const firstRunSettle = 250 * time.Millisecond

// openedStore is the store with what the rest of start-up needs to know
// about it.
type openedStore struct {
	store storage.Store
	// waitReady blocks until the store has been migrated (at once for
	// SQLite; PostgreSQL may connect later, in the background).
	waitReady func(ctx context.Context) error
	// monitorPool is the PostgreSQL pool the database probe watches: the
	// store's, or VITALS_MONITOR_DATABASE_URL's; nil on SQLite.
	monitorPool *pgxpool.Pool
	// ownMonitorPool is set when monitorPool is not the store's and must
	// be closed on its own.
	ownMonitorPool bool
	dataDir        string
	describe       string
	closeOnce      sync.Once
}

func openStore(ctx context.Context, cfg Config, logger *slog.Logger) (*openedStore, error) {
	var o openedStore
	if cfg.DatabaseURL == "" {
		path := filepath.Join(cfg.DataDir, "vitals.db")
		s, err := sqlite.Open(ctx, path, sqlite.Options{EventsKeep: cfg.EventsKeep, SyncFull: cfg.SQLiteSyncFull, Logger: logger})
		if err != nil {
			return nil, err
		}
		o.store, o.dataDir, o.describe = s, filepath.Dir(s.Path()), "sqlite "+s.Path()
		o.waitReady = func(context.Context) error { return nil }
	} else {
		s, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Schema: cfg.PGSchema, EventsKeep: cfg.EventsKeep, Logger: logger})
		if err != nil {
			return nil, err
		}
		o.store, o.monitorPool = s, s.Pool()
		o.describe = "postgres " + redactURL(cfg.DatabaseURL) + ", schema " + cfg.PGSchema
		readyCh := make(chan struct{})
		go func() {
			if s.ConnectLoop(ctx, logger) == nil {
				close(readyCh)
			}
		}()
		o.waitReady = func(ctx context.Context) error {
			select {
			case <-readyCh:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if cfg.MonitorDatabaseURL != "" {
		pool, err := pgxpool.New(ctx, cfg.MonitorDatabaseURL)
		if err != nil {
			_ = o.store.Close()
			return nil, errors.New("VITALS_MONITOR_DATABASE_URL: cannot be parsed as a PostgreSQL connection string")
		}
		o.monitorPool, o.ownMonitorPool = pool, true
	}
	return &o, nil
}

// close releases the store last of all: its Close waits for the group
// commit in progress (so every acknowledged event is in), and on SQLite the
// last connection to close checkpoints the WAL into the database file.
func (o *openedStore) close(logger *slog.Logger) {
	o.closeOnce.Do(func() {
		if o.ownMonitorPool {
			o.monitorPool.Close()
		}
		if err := o.store.Close(); err != nil {
			logger.Error("close store", "err", err)
			return
		}
		logger.Info("store closed", "storage", o.describe)
	})
}

// redactURL is a database URL fit for a log line: scheme, user, host, port
// and database, never the password or the query (which may hold one).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	out := u.Host + u.Path
	if u.User != nil && u.User.Username() != "" {
		out = u.User.Username() + "@" + out
	}
	return out
}

// redisLog sends go-redis's own messages to the debug level of the one
// logger: the redis group of the snapshot already reports failures.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
