// Package sqlite is the storage.Store for development, tests and single-node
// deployments: one SQLite file (modernc.org/sqlite, pure Go) in WAL mode.
//
// The store keeps two database/sql pools on the same file. Every write goes
// through a pool of exactly one connection, so writers queue in Go (honouring
// their contexts) instead of sleeping in SQLite's busy handler, and no two
// transactions of this process ever race for the write lock; concurrent
// InsertEvents calls are moreover gathered into shared transactions (package
// group), which is what lets ingest scale past one commit per event. Reads go
// through a pool of several read-only connections that WAL lets run beside
// the writer. Writes use BEGIN IMMEDIATE (_txlock=immediate): a transaction
// takes the write lock when it begins, never upgrades a read lock, and so
// cannot fail with SQLITE_BUSY half-way when another process shares the file.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

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

// timeLayout is how created_at is stored: UTC, fixed width, milliseconds, so
// that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000Z"

// busyTimeoutMS is how long a connection waits for a lock another process
// holds before it reports SQLITE_BUSY.
const busyTimeoutMS = 5000

// Group commit limits: events gathered into one transaction, and how long
// one group's transaction may take when its callers set no earlier deadline.
const (
	groupMaxEvents = 500
	groupMaxWait   = 30 * time.Second
)

// migrator is the shared goose runner, embedded unexported in Store.
type migrator = migrate.Runner

// Options configure Open. The zero value is the production default.
type Options struct {
	// EventsKeep is how many of the application's newest events
	// retention keeps; zero means storage.DefaultEventsKeep. vitals' own
	// events keep storage.DefaultVitalsEventsKeep besides.
	EventsKeep int
	// KeysKeep is how many of the newest idempotency keys are kept at
	// most; zero means storage.DefaultIdempotencyKeysKeep.
	KeysKeep int
	// SyncFull selects synchronous=FULL: an acknowledged event then
	// survives a power loss, at about a third of the single-event speed.
	// The default, NORMAL, survives a crash of the process.
	SyncFull bool
	// ReadConns is the size of the read pool; zero means GOMAXPROCS,
	// at least 2 and at most 8.
	ReadConns int
	// Logger receives the migration progress lines and each change of the
	// write health (writes failing for room, working again); nil discards
	// them.
	Logger *slog.Logger
	// MigrateOnly opens the file for the storage.Migrator methods and
	// Close alone, applying no migration, so that `vitals migrate status`
	// and `down` see the schema as it is. No other method may be called.
	MigrateOnly bool
}

// Store is the SQLite storage.Store. It is safe for concurrent use.
type Store struct {
	// migrator gives the store its storage.Migrator methods.
	*migrator

	path   string
	writer *sql.DB
	reader *sql.DB
	keep   retention.Keep

	// The last TokensVersion and the file stamp it was read under.
	tokensMu      sync.Mutex
	tokensStamp   string
	tokensVersion string

	// Statements of the insert path, prepared once on the writer's one
	// connection; SQLite re-prepares them by itself after a migration.
	insertStmt    *sql.Stmt
	countStmt     *sql.Stmt
	lookupKeyStmt *sql.Stmt
	insertKeyStmt *sql.Stmt
	pruneKeysStmt *sql.Stmt

	group *group.Committer
	// keysPrunedAt is when the insert path last deleted expired
	// idempotency keys; only the group's goroutine touches it.
	keysPrunedAt time.Time
	// keysKeep bounds the idempotency keys by number (Options.KeysKeep).
	keysKeep int
	// writes is the outcome of the last writes (writes.go).
	writes      *storage.WriteHealth
	reclaimedAt reclaimClock
}

// Open opens (creating it and its directory when missing) the database file
// at path and applies every pending migration.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	keep, err := retention.New(opts.EventsKeep)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: create directory: %w", path, err)
	}

	writer, err := sql.Open("sqlite", dsn(abs, opts.SyncFull, false, walPages(filepath.Dir(abs))))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One connection, kept for the life of the store: writers queue in
	// database/sql, and the connection's prepared statements stay warm.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	s := &Store{path: abs, writer: writer, keep: keep, keysKeep: storage.KeysKeep(opts.KeysKeep),
		writes: storage.NewWriteHealth(opts.Logger)}
	fail := func(step string, err error) (*Store, error) {
		_ = s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %s: %w", path, step, err)
	}
	// The first connection switches the file to WAL; that must happen
	// before the read pool opens it.
	if err := writer.PingContext(ctx); err != nil {
		return fail("connect", err)
	}

	readConns := opts.ReadConns
	if readConns <= 0 {
		readConns = min(max(runtime.GOMAXPROCS(0), 2), 8)
	}
	s.reader, err = sql.Open("sqlite", dsn(abs, opts.SyncFull, true, 0))
	if err != nil {
		return fail("open read pool", err)
	}
	s.reader.SetMaxOpenConns(readConns)
	s.reader.SetMaxIdleConns(readConns)
	s.reader.SetConnMaxIdleTime(5 * time.Minute)

	fsys, err := migrations.SQLite()
	if err != nil {
		return fail("migrations", err)
	}
	s.migrator, err = migrate.New(goose.DialectSQLite3, writer, fsys, migrate.Options{
		Logger: opts.Logger,
		Wrap:   func(err error) error { return fmt.Errorf("sqlite: %w", err) },
	})
	if err != nil {
		return fail("migrations", err)
	}
	if opts.MigrateOnly {
		return s, nil
	}
	if err := s.Up(ctx); err != nil {
		return fail("migrations", err)
	}
	if err := s.prepare(ctx); err != nil {
		return fail("prepare", err)
	}
	s.group = group.Start(group.EachAlone(s.insertTx, rolledBack), groupMaxEvents, groupMaxWait)
	return s, nil
}

// prepare prepares the statements of the insert path on the writer.
func (s *Store) prepare(ctx context.Context) error {
	for _, st := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.insertStmt, "INSERT INTO activity_events (type, message, user_email, details, source, created_at) " +
			"VALUES (?, ?, ?, ?, ?, ?) RETURNING id"},
		{&s.countStmt, "UPDATE activity_events_count SET n = n + ?, vitals_n = vitals_n + ? WHERE id = 1 RETURNING n, vitals_n"},
		{&s.lookupKeyStmt, lookupKeysSQL + "= ?"},
		{&s.insertKeyStmt, "INSERT INTO idempotency_keys (key, event_id, event_created_at, created_at) VALUES (?, ?, ?, ?)"},
		{&s.pruneKeysStmt, pruneKeysSQL},
	} {
		var err error
		if *st.stmt, err = s.writer.PrepareContext(ctx, st.sql); err != nil {
			return err
		}
	}
	return nil
}

// WriterDSN is the data source name the store's writer connection opens
// the file at path with (its pragmas and WAL bounds), so that a benchmark
// can measure the driver's own limit on the same settings without copying
// them.
func WriterDSN(path string, syncFull bool) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return dsn(abs, syncFull, false, walPages(filepath.Dir(abs))), nil
}

// dsn builds the data source name. The pragmas are in the DSN rather than
// run once after opening, so that every connection database/sql opens, now or
// after a reconnect, has them.
func dsn(abs string, syncFull, readOnly bool, walPages int) string {
	sync := "NORMAL"
	if syncFull {
		sync = "FULL"
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(busyTimeoutMS)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		// Last, after journal_mode, which is a write to the file
		// header (a no-op once the file is in WAL).
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
		// The writer checkpoints the WAL every walPages pages and then
		// truncates the file to that size, so the WAL never holds more
		// of the volume than its share (see walPages).
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(walPages)+")")
		q.Add("_pragma", "journal_size_limit("+strconv.Itoa(walPages*walPageBytes)+")")
	}
	// A file: URI escapes '?', '#' and '%' in the path, which a bare path
	// followed by "?" would mangle.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// Backend reports "sqlite".
func (s *Store) Backend() string { return "sqlite" }

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Ping reads the database header through the read pool, which proves the
// file is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	var v int64
	if err := s.reader.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes both pools. The WAL is checkpointed when the last connection
// to the file closes.
func (s *Store) Close() error {
	if s.group != nil {
		s.group.Close() // after the group in progress, before the pools
	}
	var errs []error
	for _, st := range []*sql.Stmt{s.insertStmt, s.countStmt, s.lookupKeyStmt, s.insertKeyStmt, s.pruneKeysStmt} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}
