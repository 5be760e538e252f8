// Package postgres is the production storage.Store: PostgreSQL through a pgx
// pool, every table (goose's version table too) in vitals' own schema so that
// it can share a database with the application it watches.
//
// vitals must start while PostgreSQL is down. Open therefore never touches
// the network: it returns a Store that answers storage.ErrUnavailable until
// Connect (one attempt) or ConnectLoop (attempts at least every
// RetryInterval) has created the schema and applied the migrations. After
// that, errors that mean "the server cannot be reached" are also reported as
// storage.ErrUnavailable.
package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/vitalsdev/vitals/migrations"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/internal/group"
	"github.com/vitalsdev/vitals/storage/internal/migrate"
	"github.com/vitalsdev/vitals/storage/internal/retention"
)

// Compile-time checks that the store implements the contracts.
var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Migrator = (*Store)(nil)
)

// DefaultSchema is the schema vitals keeps its tables in unless configured.
const DefaultSchema = "vitals"

// Default timings; see Options.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultAttemptTimeout = 30 * time.Second
	backoffMin            = 250 * time.Millisecond

	// Group commit limits: events gathered into one transaction, and how
	// long one group's transaction may take when its callers set no
	// earlier deadline.
	groupMaxEvents = 500
	groupMaxWait   = 30 * time.Second
)

// Options configure Open. The zero value is the production default.
type Options struct {
	// Schema holds every vitals table; empty means DefaultSchema. Any name
	// is safe: it is always quoted.
	Schema string
	// EventsKeep is how many of the application's newest events
	// retention keeps; zero means storage.DefaultEventsKeep. vitals' own
	// events keep storage.DefaultVitalsEventsKeep besides.
	EventsKeep int
	// KeysKeep is how many of the newest idempotency keys are kept at
	// most; zero means storage.DefaultIdempotencyKeysKeep.
	KeysKeep int
	// MaxConns caps the pool; zero keeps pgxpool's default
	// (max(4, number of CPUs)) unless the URL sets pool_max_conns.
	MaxConns int32
	// ConnectTimeout bounds establishing one connection (TCP, TLS,
	// start-up), so that a server that accepts and never answers cannot
	// hold a caller without a deadline; zero means DefaultConnectTimeout
	// unless the URL sets connect_timeout.
	ConnectTimeout time.Duration
	// AttemptTimeout bounds one ConnectLoop attempt (schema and
	// migrations); zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Logger receives the migration progress lines and each change of the
	// write health (writes failing for room, working again); nil discards
	// them.
	Logger *slog.Logger
}

// Store is the PostgreSQL storage.Store. It is safe for concurrent use.
type Store struct {
	// migrator gives the store its storage.Migrator methods.
	*migrator

	pool       *pgxpool.Pool
	db         *sql.DB // database/sql view of pool, for goose
	dialConfig *pgconn.Config
	// sockets are the connections' sockets, which Close cuts when the
	// server hangs.
	sockets        *conns
	schema         string
	keep           retention.Keep
	attemptTimeout time.Duration

	group *group.Committer
	// keysPrunedAt is when the insert path last deleted expired
	// idempotency keys; only the group's goroutine touches it.
	keysPrunedAt time.Time
	// keysKeep bounds the idempotency keys by number (Options.KeysKeep).
	keysKeep int
	// writes is the outcome of the last writes (writes.go).
	writes *storage.WriteHealth

	ready     atomic.Bool
	connectMu sync.Mutex // one Connect at a time in this process
	closeOnce sync.Once
	// closing is cancelled by Close: it ends ConnectLoop, and the attempt
	// in progress, so that Close never waits on a hung server.
	closing context.Context
	cancel  context.CancelFunc
	// loops counts the running ConnectLoops, for Close to wait for;
	// closed, under loopMu, refuses new ones.
	loopMu sync.Mutex
	closed bool
	loops  sync.WaitGroup
}

// migrator is the shared goose runner, embedded unexported in Store.
type migrator = migrate.Runner

// Open configures a pool for the PostgreSQL URL without connecting: it fails
// only on a malformed URL or options. Call Connect or ConnectLoop before the
// store can serve.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	_ = ctx // Open does no I/O; ctx is kept for symmetry with sqlite.Open.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL, password included; keep only
		// the kind of error.
		return nil, fmt.Errorf("postgres: open: invalid database URL: %s", ParseErrorReason(err))
	}
	schema := opts.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	keep, err := retention.New(opts.EventsKeep)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = cmp.Or(opts.ConnectTimeout, DefaultConnectTimeout)
	}
	// search_path names only vitals' schema: unqualified names in the
	// migrations and queries resolve there and nowhere else, so a missing
	// table is an error instead of a silent hit on the application's
	// public.activity_events.
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "vitals"
	}

	sockets := &conns{}
	cfg.ConnConfig.DialFunc = sockets.wrap(cfg.ConnConfig.DialFunc)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{
		pool:           pool,
		db:             stdlib.OpenDBFromPool(pool),
		dialConfig:     cfg.ConnConfig.Config.Copy(),
		sockets:        sockets,
		schema:         schema,
		keep:           keep,
		keysKeep:       storage.KeysKeep(opts.KeysKeep),
		writes:         storage.NewWriteHealth(opts.Logger),
		attemptTimeout: cmp.Or(opts.AttemptTimeout, DefaultAttemptTimeout),
	}
	s.closing, s.cancel = context.WithCancel(context.Background())
	// Several instances may start at once: a session advisory lock, one
	// per schema so that stores in other schemas (parallel tests) never
	// wait for each other, serialises their migrations.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID(schema)), lock.WithLockTimeout(1, 120))
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	fsys, err := migrations.Postgres()
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s.migrator, err = migrate.New(goose.DialectPostgres, s.db, fsys, migrate.Options{
		Logger:   opts.Logger,
		Wrap:     func(err error) error { return fmt.Errorf("postgres: %w", classify(err)) },
		BeforeUp: s.createSchema,
		Locker:   locker,
	})
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s.group = group.Start(group.EachAlone(s.insertTx, rejected), groupMaxEvents, groupMaxWait)
	return s, nil
}

// lockID derives the migration advisory lock from the schema name.
func lockID(schema string) int64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, "vitals migrations\x00"+schema)
	return int64(h.Sum64())
}

// Backend reports "postgres".
func (s *Store) Backend() string { return "postgres" }

// Schema is the schema that holds vitals' tables.
func (s *Store) Schema() string { return s.schema }

// Pool is the store's connection pool, for the database probe (connection
// counts from pg_stat_activity, round-trip time). Its connections have
// search_path set to the vitals schema.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ready reports whether the schema and migrations are in place, so that the
// store serves requests.
func (s *Store) Ready() bool { return s.ready.Load() }

// Ping checks the server answers. Until the store is ready it fails with
// storage.ErrUnavailable even when the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.opErr("ping", err)
	}
	if !s.ready.Load() {
		return fmt.Errorf("postgres: ping: migrations not applied yet: %w", storage.ErrUnavailable)
	}
	return nil
}

// notReady is the error of every data method before Connect succeeded.
func (s *Store) notReady(op string) error {
	return fmt.Errorf("postgres: %s: not connected yet: %w", op, storage.ErrUnavailable)
}

// opErr wraps err with the operation, and with storage.ErrUnavailable when
// it means the server cannot be reached.
func (s *Store) opErr(op string, err error) error {
	return fmt.Errorf("postgres: %s: %w", op, classify(err))
}

// Close stops every ConnectLoop and waits for it, then closes the pool; it
// waits for connections in use to be released.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.loopMu.Lock()
		s.closed = true
		s.loopMu.Unlock()
		s.cancel()
		s.loops.Wait()
		if s.group != nil {
			s.group.Close() // after the group in progress, before the pool
		}
		_ = s.db.Close() // does not close the pool
		s.sockets.closeWithin(closeGrace, s.pool.Close)
	})
	return nil
}
