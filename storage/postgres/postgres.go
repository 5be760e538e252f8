// Package postgres is the production storage.Store: PostgreSQL through a pgx
// pool, every table (goose's version table too) in vitals' own schema so that
// it can share a database with the application it watches.
//
// vitals must start while PostgreSQL is down. Open therefore never touches
// the network: it returns a Store that answers storage.ErrUnavailable until
// Connect (one attempt) or ConnectLoop (retries with backoff) has created the
// schema and applied the migrations. After that, errors that mean "the server
// cannot be reached" are also reported as storage.ErrUnavailable.
package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
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
	backoffMax            = 30 * time.Second

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
	// EventsKeep is how many of the newest events retention keeps; zero
	// means storage.DefaultEventsKeep.
	EventsKeep int
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
	// Logger receives the migration progress lines; nil discards them.
	Logger *slog.Logger
}

// Store is the PostgreSQL storage.Store. It is safe for concurrent use.
type Store struct {
	pool           *pgxpool.Pool
	db             *sql.DB // database/sql view of pool, for goose
	mig            *migrate.Runner
	schema         string
	keep           int
	threshold      int
	attemptTimeout time.Duration

	group *group.Committer
	// keysPrunedAt is when the insert path last deleted expired
	// idempotency keys; only the group's goroutine touches it.
	keysPrunedAt time.Time

	ready     atomic.Bool
	connectMu sync.Mutex // one Connect at a time in this process
	closeOnce sync.Once
	// closing is cancelled by Close: it ends ConnectLoop, and the attempt
	// in progress, so that Close never waits on a hung server.
	closing context.Context
	cancel  context.CancelFunc
}

// Open configures a pool for the PostgreSQL URL without connecting: it fails
// only on a malformed URL or options. Call Connect or ConnectLoop before the
// store can serve.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	_ = ctx // Open does no I/O; ctx is kept for symmetry with sqlite.Open.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL, password included; keep only
		// the kind of error.
		return nil, fmt.Errorf("postgres: open: invalid database URL: %w", redact(err))
	}
	schema := opts.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	keep := opts.EventsKeep
	if keep == 0 {
		keep = storage.DefaultEventsKeep
	}
	if keep < 1 {
		return nil, fmt.Errorf("postgres: open: events keep must be positive, got %d", keep)
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

	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{
		pool:           pool,
		db:             stdlib.OpenDBFromPool(pool),
		schema:         schema,
		keep:           keep,
		threshold:      storage.PruneThreshold(keep),
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
	s.mig, err = migrate.New(goose.DialectPostgres, s.db, fsys, opts.Logger, goose.WithSessionLocker(locker))
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s.group = group.Start(s.commitGroup, groupMaxEvents, groupMaxWait)
	return s, nil
}

// lockID derives the migration advisory lock from the schema name.
func lockID(schema string) int64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, "vitals migrations\x00"+schema)
	return int64(h.Sum64())
}

// redact keeps only pgx's short reason of a ParseConfigError ("invalid
// port", "failed to parse as URL"): its text quotes the connection string,
// redacted only best effort, and its wrapped error (from net/url) quotes the
// URL, password included.
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return err
	}
	msg := pe.Error()
	if i := strings.Index(msg, "`: "); i >= 0 {
		msg = msg[i+len("`: "):]
	}
	if i := strings.Index(msg, " ("); i >= 0 {
		msg = msg[:i]
	}
	return errors.New(msg)
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

// Connect makes one attempt to create the schema and apply pending
// migrations; on success the store is ready. It is safe to call again, also
// once ready (for instance after the server came back).
func (s *Store) Connect(ctx context.Context) error {
	s.connectMu.Lock()
	defer s.connectMu.Unlock()
	if err := s.migrateUp(ctx); err != nil {
		return fmt.Errorf("postgres: connect: %w", classify(err))
	}
	s.ready.Store(true)
	return nil
}

// ConnectLoop calls Connect until it succeeds, ctx is done or the store is
// closed, waiting 250 ms after the first failure and doubling up to 30 s
// (with jitter, so that a fleet restarted together does not retry in step).
// Each attempt has its own time budget (Options.AttemptTimeout), so a server
// that accepts connections and never answers cannot stall the loop. It
// returns nil once connected, otherwise why it stopped. logger may be nil.
func (s *Store) ConnectLoop(ctx context.Context, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	delay := backoffMin
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.attemptTimeout)
		stop := context.AfterFunc(s.closing, cancel)
		err := s.Connect(actx)
		stop()
		cancel()
		if err == nil {
			logger.Info("postgres connected and migrated", slog.String("schema", s.schema), slog.Int("attempt", attempt))
			return nil
		}
		// Jitter: wait between half and all of the nominal delay.
		wait := delay/2 + rand.N(delay/2+1)
		logger.Warn("postgres unavailable, retrying",
			slog.String("error", err.Error()), slog.Int("attempt", attempt), slog.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("postgres: connect loop: %w", ctx.Err())
		case <-s.closing.Done():
			t.Stop()
			return errors.New("postgres: connect loop: store closed")
		case <-t.C:
		}
		delay = min(delay*2, backoffMax)
	}
}

// migrateUp creates the schema if it is missing and applies pending
// migrations.
func (s *Store) migrateUp(ctx context.Context) error {
	// Look before creating: CREATE SCHEMA IF NOT EXISTS needs the CREATE
	// privilege on the database even when the schema exists, and a
	// least-privileged role may be given only a schema an admin made.
	var exists bool
	err := s.pool.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.schema).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look up schema %s: %w", s.schema, err)
	}
	if !exists {
		_, err := s.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.schema}.Sanitize())
		// Two instances creating the schema at once: the loser's IF NOT
		// EXISTS check ran before the winner committed, and it fails on
		// the catalog's unique index. The schema exists, which is all we
		// need.
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P06")) {
			return fmt.Errorf("create schema %s: %w", s.schema, err)
		}
	}
	return s.mig.Up(ctx)
}

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

// classify adds storage.ErrUnavailable to errors that say the server is
// unreachable or refusing work, so that callers answer 503 and not 500.
func classify(err error) error {
	if err == nil || errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01..57P03: the server is
		// shutting down, crashed, or not accepting connections yet;
		// 53300: too many connections.
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08",
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03",
			pgErr.Code == "53300":
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		pgconn.Timeout(err)
}

// insertSQL inserts a batch and adds it to the row count, in one statement.
// The rows come from parallel arrays in input order (WITH ORDINALITY ...
// ORDER BY ord), so the sequence hands out ids in input order. Rows without
// an occurred_at ($5, NULL) get the transaction's now(): one created_at per
// batch, ids order it; now() is returned beside each id for them.
const insertSQL = `
WITH ins AS (
	INSERT INTO activity_events (type, message, user_email, details, created_at)
	SELECT u.type, u.message, u.user_email, u.details::jsonb, COALESCE(u.occurred_at, now())
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
		WITH ORDINALITY AS u(type, message, user_email, details, occurred_at, ord)
	ORDER BY u.ord
	RETURNING id
), counted AS (
	UPDATE activity_events_count SET n = n + (SELECT count(*) FROM ins)
	WHERE id = 1
	RETURNING n
)
SELECT ins.id, now() FROM ins CROSS JOIN counted`

// pruneSQL applies retention after insertSQL, in the same transaction. When
// the count is at most $1 (the threshold) both the DELETE and the UPDATE stop
// at a one-time filter and touch nothing. Otherwise it deletes every event
// strictly older than the keep-th newest ($2 = keep-1 as OFFSET; OFFSET keep
// would keep keep+1), and sets the count to what remains, a recount of at
// most keep rows once per keep/10 inserts, which also repairs the counter
// should anything but vitals have changed the table.
//
// Why this is exact under READ COMMITTED, across goroutines and instances:
// insertSQL's UPDATE took the counter row's lock, held until commit, so no
// other insert transaction can get past its own UPDATE meanwhile. Every insert
// updates the counter in its own transaction, so any insert that committed
// before we got the lock is visible to this statement's snapshot (taken after
// we got the lock), and any that has not committed is waiting on the lock
// and has not been counted: the rows this statement sees are exactly the rows
// the count describes, plus nothing. Concurrent inserts' uncommitted rows
// are invisible and therefore never deleted; they add themselves to the count
// when they get the lock. Only one transaction prunes at a time, and a row is
// deleted only when keep visible rows are newer than it, so none of the
// newest keep is ever deleted.
const pruneSQL = `
WITH cur AS MATERIALIZED (
	SELECT n FROM activity_events_count WHERE id = 1
), victims AS (
	DELETE FROM activity_events
	WHERE (SELECT n FROM cur) > $1
	  AND (created_at, id) < (
		SELECT created_at, id FROM activity_events
		ORDER BY created_at DESC, id DESC
		LIMIT 1 OFFSET $2)
	RETURNING 1
)
UPDATE activity_events_count
SET n = (SELECT count(*) FROM activity_events) - (SELECT count(*) FROM victims)
WHERE id = 1 AND (SELECT n FROM cur) > $1`

// InsertEvents stores events in one transaction, with retention, and returns
// them with their ids and created_at in input order. Details are returned as
// given (copied), not in jsonb's normalised form; nil or JSON null is stored
// as SQL NULL.
//
// Concurrent calls share a transaction (see package group): the counter row
// lock serialises commits, so one commit carrying every waiting caller's
// events is what lets ingest scale with callers. Each call stays all or
// nothing.
func (s *Store) InsertEvents(ctx context.Context, events []storage.NewEvent) ([]storage.Event, error) {
	if !s.ready.Load() {
		return nil, s.notReady("insert events")
	}
	if len(events) == 0 {
		return []storage.Event{}, nil
	}
	out, err := s.group.Insert(ctx, events)
	if err != nil {
		return nil, s.opErr("insert events", err)
	}
	return out, nil
}

// commitGroup is the group.CommitFunc: all calls in one transaction; if the
// server rejected it (a PostgreSQL error: the transaction certainly rolled
// back), each call alone, so that only a call whose own rows are rejected
// fails. Any other failure (connection lost, timeout) may have happened after
// the commit, so the calls are not retried: they fail with that error.
func (s *Store) commitGroup(ctx context.Context, calls []*group.Call) {
	err := s.insertTx(ctx, calls)
	if err == nil {
		return
	}
	var pgErr *pgconn.PgError
	if len(calls) == 1 || !errors.As(err, &pgErr) || unreachable(err) {
		for _, c := range calls {
			c.Err = err
		}
		return
	}
	for _, c := range calls {
		if err := c.Ctx().Err(); err != nil {
			c.Err = err
			continue
		}
		if err := s.insertTx(ctx, []*group.Call{c}); err != nil {
			c.Err = err
		}
	}
}

// insertTx stores the events of calls in one transaction, with retention,
// and on success sets each call's Out. The statements travel in one pgx
// batch, which PostgreSQL runs as one implicit transaction: one round trip,
// and the counter row's lock is held only for the prune statement and the
// commit. A group with idempotency keys takes another way (insertKeyedTx).
func (s *Store) insertTx(ctx context.Context, calls []*group.Call) error {
	n := 0
	keyed := false
	for _, c := range calls {
		n += len(c.Events)
		for _, e := range c.Events {
			keyed = keyed || e.IdempotencyKey != ""
		}
	}
	if keyed {
		return s.insertKeyedTx(ctx, calls, n)
	}
	cols := eventColumns(calls, n)

	b := &pgx.Batch{}
	pruningKeys := s.keyPruneDue()
	if pruningKeys {
		// The key prune's range scan, whatever the cached plan says.
		b.Queue(customPlansSQL)
		b.Queue(pruneKeysSQL, storage.IdempotencyKeyTTL.Seconds())
	}
	b.Queue(insertSQL, cols.types, cols.messages, cols.emails, cols.details, cols.occurred)
	b.Queue(pruneSQL, s.threshold, s.keep-1)
	br := s.pool.SendBatch(ctx, b)
	var err error
	if pruningKeys {
		if _, err = br.Exec(); err == nil {
			_, err = br.Exec()
		}
	}
	var ids []int64
	var created time.Time
	if err == nil {
		ids, created, err = scanInserted(br, n)
	}
	if err == nil {
		_, err = br.Exec()
	}
	// Close reads to the end of the batch, past the commit: only a nil
	// here means the events are durable.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if pruningKeys {
		s.keysPrunedAt = time.Now()
	}

	k := 0
	for _, c := range calls {
		out := make([]storage.Event, len(c.Events))
		for i, e := range c.Events {
			out[i] = fresh(e, ids[k], created)
			k++
		}
		c.Out = out
	}
	return nil
}

// fresh is the answer for an event stored now with id; created is the
// transaction's now(), its created_at unless it has an occurred_at.
func fresh(e storage.NewEvent, id int64, created time.Time) storage.Event {
	ev := storage.Event{
		ID:        id,
		Type:      e.Type,
		Message:   e.Message,
		UserEmail: cloneString(e.UserEmail),
		Details:   cloneDetails(e.Details),
		CreatedAt: created,
	}
	if e.OccurredAt != nil {
		// timestamptz keeps microseconds; pgx truncates.
		ev.CreatedAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	}
	return ev
}

// columns are a group's events as parallel arrays, in input order, for
// unnest.
type columns struct {
	types    []string
	messages []string
	emails   []*string
	details  []*string
	occurred []*time.Time
	keys     []*string
}

func eventColumns(calls []*group.Call, n int) columns {
	c := columns{
		types:    make([]string, 0, n),
		messages: make([]string, 0, n),
		emails:   make([]*string, 0, n),
		details:  make([]*string, 0, n),
		occurred: make([]*time.Time, 0, n),
		keys:     make([]*string, 0, n),
	}
	for _, call := range calls {
		for _, e := range call.Events {
			c.types = append(c.types, e.Type)
			c.messages = append(c.messages, e.Message)
			c.emails = append(c.emails, e.UserEmail)
			c.occurred = append(c.occurred, e.OccurredAt)
			var d *string
			if !storage.IsNullDetails(e.Details) {
				ds := string(e.Details)
				d = &ds
			}
			c.details = append(c.details, d)
			var k *string
			if e.IdempotencyKey != "" {
				ks := e.IdempotencyKey
				k = &ks
			}
			c.keys = append(c.keys, k)
		}
	}
	return c
}

// keyPruneEvery is how often the insert path deletes expired idempotency
// keys; between two prunes a key may outlive storage.IdempotencyKeyTTL by
// this much.
const keyPruneEvery = time.Minute

// pruneKeysSQL deletes the idempotency keys older than $1 seconds; the
// created_at index makes it a range scan of the expired keys only.
const pruneKeysSQL = `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`

// keyPruneDue reports whether the last key prune is a minute old. Only the
// group's goroutine calls it.
func (s *Store) keyPruneDue() bool { return time.Since(s.keysPrunedAt) >= keyPruneEvery }

// insertKeysSQL claims the idempotency keys of a group for this
// transaction, with the placeholder event_id 0 until insertKeyedSQL knows the
// events' ids; no other transaction ever sees a 0, since both statements
// commit together. A key that another transaction has claimed and not
// committed makes this one wait until it ends; then it is taken (the other
// rolled back) or left alone. A key already stored is left alone but locked
// (DO UPDATE locks the row before its WHERE turns the update down), so that a
// concurrent key prune cannot delete it before lookupKeysSQL reads it. Each
// key comes once, in sorted order, so that transactions claiming overlapping
// keys wait for each other in one order and cannot deadlock; they take the
// counter row's lock only after (insertKeyedSQL), as every writer does.
const insertKeysSQL = `
INSERT INTO idempotency_keys AS k (key, event_id, event_created_at)
SELECT u.key, 0, COALESCE(u.occurred_at, now())
FROM unnest($1::text[], $2::timestamptz[]) AS u(key, occurred_at)
ON CONFLICT (key) DO UPDATE SET event_id = k.event_id WHERE false`

// lookupKeysSQL returns, for the keys $1, the events other transactions
// stored under them (this one's claims still hold 0): the stored event while
// retention keeps it, else its id and created_at. A statement of its own,
// after insertKeysSQL, so that its snapshot (READ COMMITTED) sees every key
// committed by a transaction insertKeysSQL waited for.
const lookupKeysSQL = `
SELECT k.key, k.event_id, k.event_created_at, e.type, e.message, e.user_email, e.details, e.created_at
FROM idempotency_keys k LEFT JOIN activity_events e ON e.id = k.event_id
WHERE k.key = ANY($1::text[]) AND k.event_id <> 0`

// insertKeyedSQL is insertSQL for a group with keys: it inserts the events
// without a key and those that claim a key ($8, the first event of the
// group with that key) whose claim insertKeysSQL won (event_id 0 visible is
// this transaction's own), gives the won keys their event's id, and adds to
// the count. It returns the input position and id of each event inserted.
const insertKeyedSQL = `
WITH src AS MATERIALIZED (
	SELECT u.*, nextval('activity_events_id_seq') AS id
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::bool[])
		WITH ORDINALITY AS u(type, message, user_email, details, occurred_at, key, claims, ord)
	WHERE u.key IS NULL
	   OR (u.claims AND EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.key = u.key AND k.event_id = 0))
), ins AS (
	INSERT INTO activity_events (id, type, message, user_email, details, created_at)
	SELECT id, type, message, user_email, details::jsonb, COALESCE(occurred_at, now())
	FROM src ORDER BY ord
	RETURNING id
), claimed AS (
	UPDATE idempotency_keys k SET event_id = src.id
	FROM src WHERE k.key = src.key
), counted AS (
	UPDATE activity_events_count SET n = n + (SELECT count(*) FROM ins)
	WHERE id = 1
	RETURNING n
)
SELECT src.ord, src.id, now() FROM src CROSS JOIN counted`

// customPlansSQL makes the rest of the transaction plan each statement for
// its parameters. The key statements look keys up in a table that grows to
// a day of events; a generic plan made while it was small (a sequential
// scan) would stay cached on the connection and scan it on every insert.
const customPlansSQL = `SELECT set_config('plan_cache_mode', 'force_custom_plan', true)`

// insertKeyedTx stores a group with idempotency keys in one batch, one
// implicit transaction: claim the keys, read the events stored earlier
// under the keys others hold, insert the events whose key was won (and
// those without a key), apply retention.
func (s *Store) insertKeyedTx(ctx context.Context, calls []*group.Call, n int) error {
	cols := eventColumns(calls, n)

	// The first event of each key claims it.
	firstOf := map[string]int{}
	claims := make([]bool, n)
	var claim []int
	for i, k := range cols.keys {
		if k == nil {
			continue
		}
		if _, ok := firstOf[*k]; !ok {
			firstOf[*k] = i
			claims[i] = true
			claim = append(claim, i)
		}
	}
	slices.SortFunc(claim, func(a, b int) int { return strings.Compare(*cols.keys[a], *cols.keys[b]) })
	claimKeys := make([]string, len(claim))
	claimAt := make([]*time.Time, len(claim))
	for j, i := range claim {
		claimKeys[j], claimAt[j] = *cols.keys[i], cols.occurred[i]
	}

	b := &pgx.Batch{}
	b.Queue(customPlansSQL)
	pruningKeys := s.keyPruneDue()
	if pruningKeys {
		b.Queue(pruneKeysSQL, storage.IdempotencyKeyTTL.Seconds())
	}
	b.Queue(insertKeysSQL, claimKeys, claimAt)
	b.Queue(lookupKeysSQL, claimKeys)
	b.Queue(insertKeyedSQL, cols.types, cols.messages, cols.emails, cols.details, cols.occurred, cols.keys, claims)
	b.Queue(pruneSQL, s.threshold, s.keep-1)
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	if err == nil && pruningKeys {
		_, err = br.Exec()
	}
	if err == nil {
		_, err = br.Exec()
	}
	var stored map[string]storage.Event
	if err == nil {
		stored, err = scanStoredKeys(br)
	}
	ids := make([]int64, n) // 0: not inserted
	var created time.Time
	if err == nil {
		created, err = scanKeyedInserted(br, ids)
	}
	if err == nil {
		_, err = br.Exec()
	}
	// Close reads to the end of the batch, past the commit: only a nil
	// here means the events are durable.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if pruningKeys {
		s.keysPrunedAt = time.Now()
	}

	all := make([]storage.NewEvent, 0, n)
	for _, c := range calls {
		all = append(all, c.Events...)
	}
	out := make([]storage.Event, n)
	for i, e := range all {
		k := cols.keys[i]
		switch {
		case ids[i] != 0:
			out[i] = fresh(e, ids[i], created)
		case k == nil:
			return fmt.Errorf("event %d has no idempotency key and was not inserted", i)
		case firstOf[*k] != i:
			// Filled in below, from the event that claimed the key.
		default:
			st, ok := stored[*k]
			if !ok {
				// Cannot happen: the key was either won here or
				// locked by the claim until the commit.
				return fmt.Errorf("idempotency key %q was neither won nor found", *k)
			}
			out[i] = duplicateOf(st, e)
		}
	}
	for i, k := range cols.keys {
		if k != nil && firstOf[*k] != i {
			out[i] = out[firstOf[*k]]
			out[i].UserEmail = cloneString(out[i].UserEmail)
			out[i].Details = slices.Clone(out[i].Details)
			out[i].Duplicate = true
		}
	}
	for _, c := range calls {
		c.Out, out = out[:len(c.Events):len(c.Events)], out[len(c.Events):]
	}
	return nil
}

// scanKeyedInserted reads insertKeyedSQL's rows into ids (by input
// position, 1-based ord) and returns the transaction's now().
func scanKeyedInserted(br pgx.BatchResults, ids []int64) (time.Time, error) {
	rows, err := br.Query()
	if err != nil {
		return time.Time{}, err
	}
	defer rows.Close()
	var created time.Time
	for rows.Next() {
		var ord, id int64
		if err := rows.Scan(&ord, &id, &created); err != nil {
			return time.Time{}, err
		}
		if ord < 1 || ord > int64(len(ids)) {
			return time.Time{}, fmt.Errorf("inserted row for position %d of %d", ord, len(ids))
		}
		ids[ord-1] = id
	}
	return created.UTC(), rows.Err()
}

// duplicateOf is the answer for sent, whose key stored st: the stored event,
// or once retention pruned it, sent with st's id and created_at.
func duplicateOf(st storage.Event, sent storage.NewEvent) storage.Event {
	if st.Type == "" {
		st.Type, st.Message = sent.Type, sent.Message
		st.UserEmail, st.Details = cloneString(sent.UserEmail), cloneDetails(sent.Details)
	}
	st.Duplicate = true
	return st
}

// scanStoredKeys reads lookupKeysSQL's rows into the events stored under
// each key; Type is empty when retention has pruned the event.
func scanStoredKeys(br pgx.BatchResults) (map[string]storage.Event, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := map[string]storage.Event{}
	for rows.Next() {
		var (
			key        string
			e          storage.Event
			keyCreated time.Time
			typ, msg   *string
			details    []byte
			createdAt  *time.Time
		)
		if err := rows.Scan(&key, &e.ID, &keyCreated, &typ, &msg, &e.UserEmail, &details, &createdAt); err != nil {
			return nil, err
		}
		e.CreatedAt = keyCreated.UTC()
		if typ != nil {
			e.Type, e.Message = *typ, *msg
			if details != nil {
				e.Details = json.RawMessage(details)
			}
			e.CreatedAt = createdAt.UTC()
		} else {
			e.UserEmail = nil
		}
		found[key] = e
	}
	return found, rows.Err()
}

// scanInserted reads insertSQL's rows: the ids, sorted (the sequence handed
// them out in input order; RETURNING's order is not promised), and the
// transaction's now(), the created_at of rows without an occurred_at. want
// is the number of rows expected, or -1 for any.
func scanInserted(br pgx.BatchResults, want int) ([]int64, time.Time, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, time.Time{}, err
	}
	defer rows.Close()
	ids := make([]int64, 0, max(want, 0))
	var created time.Time
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &created); err != nil {
			return nil, time.Time{}, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, err
	}
	if want >= 0 && len(ids) != want {
		return nil, time.Time{}, fmt.Errorf("inserted %d rows, want %d", len(ids), want)
	}
	slices.Sort(ids)
	return ids, created.UTC(), nil
}

// ListEvents returns events newest first (created_at desc, id desc).
func (s *Store) ListEvents(ctx context.Context, f storage.EventFilter) ([]storage.Event, error) {
	if !s.ready.Load() {
		return nil, s.notReady("list events")
	}
	var types []string // NULL: every type
	if len(f.Types) > 0 {
		types = f.Types
	}
	var beforeAt *time.Time
	var beforeID *int64
	if f.Before != nil {
		beforeAt, beforeID = &f.Before.CreatedAt, &f.Before.ID
	}
	var limit *int64 // NULL: LIMIT ALL
	if f.Limit > 0 {
		l := int64(f.Limit)
		limit = &l
	}
	// Bounds between two stored microseconds round up, so that they
	// compare as they would at full precision.
	var since, until *time.Time
	if !f.Since.IsZero() {
		t := storage.CeilTime(f.Since, time.Microsecond)
		since = &t
	}
	if !f.Until.IsZero() {
		t := storage.CeilTime(f.Until, time.Microsecond)
		until = &t
	}
	var like *string
	if f.Search != "" {
		p := "%" + escapeLike(f.Search) + "%"
		like = &p
	}
	// ILIKE folds case as the database's LC_CTYPE does: every letter with
	// C.UTF-8 or en_US.UTF-8, ASCII only with plain C.
	rows, err := s.pool.Query(ctx, `
		SELECT id, type, message, user_email, details, created_at
		FROM activity_events
		WHERE ($1::text[] IS NULL OR type = ANY($1))
		  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::bigint))
		  AND ($5::timestamptz IS NULL OR created_at >= $5)
		  AND ($6::timestamptz IS NULL OR created_at < $6)
		  AND ($7::text IS NULL OR message ILIKE $7 ESCAPE '\' OR user_email ILIKE $7 ESCAPE '\')
		ORDER BY created_at DESC, id DESC
		LIMIT $4`, types, beforeAt, beforeID, limit, since, until, like)
	if err != nil {
		return nil, s.opErr("list events", err)
	}
	defer rows.Close()
	out := []storage.Event{}
	for rows.Next() {
		var (
			e       storage.Event
			details []byte
		)
		if err := rows.Scan(&e.ID, &e.Type, &e.Message, &e.UserEmail, &details, &e.CreatedAt); err != nil {
			return nil, s.opErr("list events", err)
		}
		if details != nil {
			e.Details = json.RawMessage(details)
		}
		e.CreatedAt = e.CreatedAt.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opErr("list events", err)
	}
	return out, nil
}

// escapeLike makes s match itself in LIKE ... ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// deleteByEmailSQL erases one person's events and subtracts them from the
// count, after lockCountSQL took the counter row's lock in the same
// transaction. Taking that lock first orders this transaction like an insert
// (counter, then rows), so it cannot deadlock with a prune, which holds the
// counter and deletes rows; and the count stays exact for the reasons given
// at pruneSQL.
const deleteByEmailSQL = `
WITH del AS (
	DELETE FROM activity_events WHERE lower(user_email) = lower($1) RETURNING 1
), gone AS (
	SELECT count(*) AS c FROM del
), upd AS (
	UPDATE activity_events_count SET n = greatest(n - (SELECT c FROM gone), 0)
	WHERE id = 1
)
SELECT c FROM gone`

const lockCountSQL = `SELECT n FROM activity_events_count WHERE id = 1 FOR UPDATE`

// DeleteEventsByEmail deletes every event whose user_email is email,
// ignoring case (as the database's LC_CTYPE folds it), and keeps the
// retention count exact.
func (s *Store) DeleteEventsByEmail(ctx context.Context, email string) (int64, error) {
	if !s.ready.Load() {
		return 0, s.notReady("delete events by email")
	}
	b := &pgx.Batch{}
	b.Queue(lockCountSQL)
	b.Queue(deleteByEmailSQL, email)
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	var n int64
	if err == nil {
		err = br.QueryRow().Scan(&n)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, s.opErr("delete events by email", err)
	}
	return n, nil
}

// PruneIdempotencyKeys deletes the idempotency keys stored before before.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	if !s.ready.Load() {
		return 0, s.notReady("prune idempotency keys")
	}
	b := &pgx.Batch{}
	b.Queue(customPlansSQL)
	b.Queue("DELETE FROM idempotency_keys WHERE created_at < $1", before)
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, s.opErr("prune idempotency keys", err)
	}
	return tag.RowsAffected(), nil
}

// Setting returns the value stored under key, or storage.ErrNotFound.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	if !s.ready.Load() {
		return "", s.notReady("setting")
	}
	var v string
	err := s.pool.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: setting %q: %w", key, storage.ErrNotFound)
	}
	if err != nil {
		return "", s.opErr(fmt.Sprintf("setting %q", key), err)
	}
	return v, nil
}

// SetSettingIfAbsent stores value under key unless the key exists and returns
// the value now stored. Two statements, each its own transaction, on
// purpose: when another instance inserts the key concurrently, the INSERT
// waits for it and does nothing, and the SELECT, with a snapshot taken after
// that, sees the winner's value. (In one statement the snapshot would predate
// the winner's commit and see no row.)
func (s *Store) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	if !s.ready.Load() {
		return "", s.notReady("set setting")
	}
	op := fmt.Sprintf("set setting %q", key)
	var v string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO NOTHING
		RETURNING value`, key, value).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", s.opErr(op, err)
	}
	if err := s.pool.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v); err != nil {
		return "", s.opErr(op+": read back", err)
	}
	return v, nil
}

// SetSetting stores value under key, replacing any value there.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	if !s.ready.Load() {
		return s.notReady("set setting")
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, key, value)
	if err != nil {
		return s.opErr(fmt.Sprintf("set setting %q", key), err)
	}
	return nil
}

// MigrateUp creates the schema if needed and applies every pending
// migration; it does not make a store ready (Connect does).
func (s *Store) MigrateUp(ctx context.Context) error {
	if err := s.migrateUp(ctx); err != nil {
		return s.opErr("migrate up", err)
	}
	return nil
}

// MigrateDown rolls back the most recently applied migration.
func (s *Store) MigrateDown(ctx context.Context) error {
	if err := s.mig.Down(ctx); err != nil {
		return s.opErr("migrate down", err)
	}
	return nil
}

// MigrateDownTo rolls back every applied migration above version.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	if err := s.mig.DownTo(ctx, version); err != nil {
		return s.opErr("migrate down", err)
	}
	return nil
}

// MigrationStatus lists every known migration, oldest first.
func (s *Store) MigrationStatus(ctx context.Context) ([]storage.MigrationStatus, error) {
	st, err := s.mig.Status(ctx)
	if err != nil {
		return nil, s.opErr("migration status", err)
	}
	return st, nil
}

// Close stops ConnectLoop and closes the pool; it waits for connections in
// use to be released.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.group != nil {
			s.group.Close() // after the group in progress, before the pool
		}
		_ = s.db.Close() // does not close the pool
		s.pool.Close()
	})
	return nil
}

// cloneDetails copies details, which may alias a request buffer the caller
// reuses, and normalises JSON null to nil.
func cloneDetails(d json.RawMessage) json.RawMessage {
	if storage.IsNullDetails(d) {
		return nil
	}
	return slices.Clone(d)
}

func cloneString(p *string) *string {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
