package app

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vitalsdev/vitals/internal/config"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/sqlite"
)

// openedStore is the store with what the rest of start-up needs to know
// about it.
type openedStore struct {
	store storage.Store
	// connect, on PostgreSQL, connects and migrates with backoff until it
	// succeeds (then closes ready) or ctx ends; Run runs it in the
	// background. Nil on SQLite, which is ready once opened.
	connect func(ctx context.Context)
	// ready is closed once the store has been migrated (and, on
	// PostgreSQL, once beforeReady has run).
	ready chan struct{}
	// beforeReady, when set, runs once PostgreSQL is connected and
	// migrated, before ready closes and before /health can pass: the
	// stored tokens are loaded there, so that a token is never refused
	// after /health first passed (the first load, at start, failed while
	// the database was still connecting).
	beforeReady func(ctx context.Context)
	// monitorPool is the PostgreSQL pool the database probe watches: the
	// store's, or VITALS_MONITOR_DATABASE_URL's; nil on SQLite.
	monitorPool *pgxpool.Pool
	// ownMonitorPool is set when monitorPool is not the store's and must
	// be closed on its own.
	ownMonitorPool bool
	dataDir        string
	describe       string
}

func openStore(ctx context.Context, cfg config.Config, logger *slog.Logger) (*openedStore, error) {
	o := &openedStore{ready: make(chan struct{})}
	if cfg.DatabaseURL == "" {
		path := filepath.Join(cfg.DataDir, "vitals.db")
		s, err := sqlite.Open(ctx, path, sqlite.Options{EventsKeep: cfg.EventsKeep, SyncFull: cfg.SQLiteSyncFull, Logger: logger})
		if err != nil {
			return nil, err
		}
		o.store, o.dataDir, o.describe = s, filepath.Dir(s.Path()), "sqlite "+s.Path()
		close(o.ready)
	} else {
		s, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Schema: cfg.PGSchema, EventsKeep: cfg.EventsKeep, Logger: logger})
		if err != nil {
			return nil, err
		}
		o.store, o.monitorPool = s, s.Pool()
		o.describe = "postgres " + config.RedactURL(cfg.DatabaseURL) + ", schema " + cfg.PGSchema
		o.connect = func(ctx context.Context) {
			if s.ConnectLoop(ctx, logger) == nil {
				if o.beforeReady != nil {
					o.beforeReady(ctx)
				}
				close(o.ready)
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
	return o, nil
}

// waitReady blocks until the store has been migrated (at once for SQLite;
// PostgreSQL may connect later, in the background) or ctx ends.
func (o *openedStore) waitReady(ctx context.Context) error {
	select {
	case <-o.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close releases the store: its Close waits for the group commit in
// progress (so every acknowledged event is in), and on SQLite the last
// connection to close checkpoints the WAL into the database file.
func (o *openedStore) close(logger *slog.Logger) {
	if o.ownMonitorPool {
		o.monitorPool.Close()
	}
	if err := o.store.Close(); err != nil {
		logger.Error("close store", "err", err)
		return
	}
	logger.Info("store closed", "storage", o.describe)
}
