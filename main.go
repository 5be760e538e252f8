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
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mattn/go-isatty"
	"github.com/redis/go-redis/v9"

	"vitals/handlers"
	"vitals/probes"
	"vitals/storage"
	"vitals/storage/postgres"
	"vitals/storage/sqlite"
	"vitals/web"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status, so tests can
// drive the real start-up path.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, args, getenv, stdout, stderr, nil)
	case "version":
		fmt.Fprintln(stdout, "vitals", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "vitals: unknown command %q\n%s", cmd, usage)
		return 2
	}
}

const usage = `usage: vitals [command] [flags]

commands:
  serve     serve the dashboard and the API (the default)
  version   print the version

Run "vitals serve --help" for the flags; each mirrors an environment variable.
`

// serve runs the server until ctx is done. When ready is not nil the
// listener's address is sent on it once the server accepts connections.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) int {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "vitals:", err)
		return 2
	}
	logger := newLogger(cfg.LogFormat, stderr)
	started := time.Now()

	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		logger.Error("cannot open the store", "err", err)
		return 1
	}
	defer func() {
		if err := st.store.Close(); err != nil {
			logger.Error("close store", "err", err)
		}
	}()

	creds := handlers.NewCredentials(cfg.AdminPassword, cfg.ReadTokens, cfg.IngestTokens)
	// The admin password lives in the store: load it once the store is
	// ready, which for PostgreSQL may be later, in the background.
	go func() {
		if err := st.waitReady(ctx); err != nil {
			return
		}
		if err := provisionAdmin(ctx, st.store, creds, stdout); err != nil {
			logger.Error("admin password", "err", err)
		}
	}()

	site, err := web.New()
	if err != nil {
		logger.Error("web", "err", err)
		return 1
	}

	hostCfg := probes.HostConfig{DiskPaths: cfg.DiskPaths, DataDir: st.dataDir, Started: started}
	ps := probes.HostProbes(hostCfg)
	if cfg.MonitorDatabaseURL != "" {
		// The application's database: its figures, its round trip.
		ps = append(ps, probes.NewDatabaseProbe("postgres", st.monitorPool.Ping, st.monitorPool))
	} else {
		ps = append(ps, probes.NewDatabaseProbe(st.store.Backend(), st.store.Ping, st.monitorPool))
	}
	var redisClient *redis.Client
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			fmt.Fprintln(stderr, "vitals: configuration: REDIS_URL: cannot be parsed as a Redis URL")
			return 2
		}
		// Honour the probe's deadline rather than go-redis's own 3 s
		// read timeout, so a Redis that hangs is reported on time.
		opts.ContextTimeoutEnabled = true
		opts.MaxRetries = -1
		// go-redis logs dial failures through its own global logger; the
		// probe already reports them once per change of state.
		redis.SetLogger(redisLog{logger})
		redisClient = redis.NewClient(opts)
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
	sampler.Start(ctx)

	checks := []handlers.HealthCheck{{
		Name: "database:responseTime", ComponentType: "datastore", Critical: true, Check: st.store.Ping,
	}}
	if redisClient != nil {
		// Redis down is a warning: vitals can still serve.
		checks = append(checks, handlers.HealthCheck{Name: "redis:responseTime", ComponentType: "datastore",
			Check: func(ctx context.Context) error { return redisClient.Ping(ctx).Err() }})
	}
	health := handlers.NewHealth(version, time.Second, time.Second, checks...)
	app := handlers.New(handlers.Config{
		Store: st.store, Snapshots: sampler, Creds: creds, Site: site, Health: health,
		Logger: logger, PollInterval: cfg.PollInterval, Latency: latency,
	})

	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		logger.Error("listen", "port", cfg.Port, "err", err)
		return 1
	}
	addr := ln.Addr().String()
	fmt.Fprintf(stdout, "vitals %s serving http://localhost:%d (storage: %s)\n", version, ln.Addr().(*net.TCPAddr).Port, st.describe)
	if ready != nil {
		ready <- addr
	}

	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	select {
	case err := <-served:
		if err != nil {
			logger.Error("serve", "err", err)
			return 1
		}
	case <-ctx.Done():
		logger.Info("shutting down")
		if err := app.ShutdownWithTimeout(20 * time.Second); err != nil {
			logger.Error("shutdown", "err", err)
		}
	}
	sampler.Wait()
	return 0
}

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
	dataDir     string
	describe    string
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
		o.store, o.monitorPool, o.describe = s, s.Pool(), "postgres, schema "+cfg.PGSchema
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
		o.monitorPool = pool
	}
	return &o, nil
}

// newLogger makes the one logger: text on a terminal, JSON otherwise.
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// redisLog sends go-redis's own messages to the debug level of the one
// logger: the redis group of the snapshot already reports failures.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
