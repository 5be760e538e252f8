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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

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

// Options configure Open. The zero value is the production default.
type Options struct {
	// EventsKeep is how many of the newest events retention keeps;
	// zero means storage.DefaultEventsKeep.
	EventsKeep int
	// SyncFull selects synchronous=FULL: an acknowledged event then
	// survives a power loss, at about a third of the single-event speed.
	// The default, NORMAL, survives a crash of the process.
	SyncFull bool
	// ReadConns is the size of the read pool; zero means GOMAXPROCS,
	// at least 2 and at most 8.
	ReadConns int
	// Logger receives the migration progress lines; nil discards them.
	Logger *slog.Logger
	// MigrateOnly opens the file for the storage.Migrator methods and
	// Close alone, applying no migration, so that `vitals migrate status`
	// and `down` see the schema as it is. No other method may be called.
	MigrateOnly bool
}

// Store is the SQLite storage.Store. It is safe for concurrent use.
type Store struct {
	path   string
	writer *sql.DB
	reader *sql.DB
	keep   int
	mig    *migrate.Runner

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
}

// Open opens (creating it and its directory when missing) the database file
// at path and applies every pending migration.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	keep := opts.EventsKeep
	if keep == 0 {
		keep = storage.DefaultEventsKeep
	}
	if keep < 1 {
		return nil, fmt.Errorf("sqlite: open: events keep must be positive, got %d", keep)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: create directory: %w", path, err)
	}

	writer, err := sql.Open("sqlite", dsn(abs, opts.SyncFull, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One connection, kept for the life of the store: writers queue in
	// database/sql, and the connection's prepared statements stay warm.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	s := &Store{path: abs, writer: writer, keep: keep}
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
	s.reader, err = sql.Open("sqlite", dsn(abs, opts.SyncFull, true))
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
	s.mig, err = migrate.New(goose.DialectSQLite3, writer, fsys, opts.Logger)
	if err != nil {
		return fail("migrations", err)
	}
	if opts.MigrateOnly {
		return s, nil
	}
	if err := s.mig.Up(ctx); err != nil {
		return fail("migrations", err)
	}
	if s.insertStmt, err = writer.PrepareContext(ctx, `
		INSERT INTO activity_events (type, message, user_email, details, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`); err != nil {
		return fail("prepare", err)
	}
	if s.countStmt, err = writer.PrepareContext(ctx,
		"UPDATE activity_events_count SET n = n + ? WHERE id = 1 RETURNING n"); err != nil {
		return fail("prepare", err)
	}
	if s.lookupKeyStmt, err = writer.PrepareContext(ctx, lookupKeysSQL+"= ?"); err != nil {
		return fail("prepare", err)
	}
	if s.insertKeyStmt, err = writer.PrepareContext(ctx,
		"INSERT INTO idempotency_keys (key, event_id, event_created_at, created_at) VALUES (?, ?, ?, ?)"); err != nil {
		return fail("prepare", err)
	}
	if s.pruneKeysStmt, err = writer.PrepareContext(ctx, "DELETE FROM idempotency_keys WHERE created_at < ?"); err != nil {
		return fail("prepare", err)
	}
	s.group = group.Start(s.commitGroup, groupMaxEvents, groupMaxWait)
	return s, nil
}

// dsn builds the data source name. The pragmas are in the DSN rather than
// run once after opening, so that every connection database/sql opens, now or
// after a reconnect, has them.
func dsn(abs string, syncFull, readOnly bool) string {
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

// InsertEvents stores events in one transaction, with retention, and returns
// them with their ids and created_at in input order. Details are returned as
// given (copied); nil or JSON null is stored as SQL NULL.
//
// Concurrent calls share a transaction (see package group): one commit then
// carries the events of every caller waiting, each call still all or nothing.
func (s *Store) InsertEvents(ctx context.Context, events []storage.NewEvent) ([]storage.Event, error) {
	if len(events) == 0 {
		return []storage.Event{}, nil
	}
	out, err := s.group.Insert(ctx, events)
	if err != nil {
		return nil, fmt.Errorf("sqlite: insert events: %w", err)
	}
	return out, nil
}

// commitGroup is the group.CommitFunc: all calls in one transaction; if that
// fails, each call alone, so that only a call whose own rows are rejected
// fails. A failed SQLite transaction is always rolled back, so the retry
// cannot store anything twice.
func (s *Store) commitGroup(ctx context.Context, calls []*group.Call) {
	err := s.insertTx(ctx, calls)
	if err == nil {
		return
	}
	if len(calls) == 1 || ctx.Err() != nil {
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
// and on success sets each call's Out.
//
// Retention needs no count: activity_events_count holds the row count and
// every insert updates it in the same transaction. The transaction holds the
// database's write lock from BEGIN IMMEDIATE to COMMIT, so the count it reads
// back is exact, across goroutines and across processes sharing the file.
//
// Idempotency keys need no ON CONFLICT either: under the write lock, a key
// looked up and not found cannot be stored by anyone else before the commit.
// An event whose key is stored (or used by an earlier event of the group) is
// not inserted; it is answered with the stored event, Duplicate set.
func (s *Store) insertTx(ctx context.Context, calls []*group.Call) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	// Taken under the write lock, so created_at never goes backwards
	// against commit order (short of the wall clock stepping back). One
	// timestamp for the whole transaction, as on PostgreSQL; ids order it.
	now := time.Now().UTC().Truncate(time.Millisecond)
	ts := now.Format(timeLayout)

	prunedKeys := false
	if now.Sub(s.keysPrunedAt) >= keyPruneEvery {
		if _, err := tx.StmtContext(ctx, s.pruneKeysStmt).ExecContext(ctx, now.Add(-storage.IdempotencyKeyTTL).Format(timeLayout)); err != nil {
			return fmt.Errorf("prune idempotency keys: %w", err)
		}
		prunedKeys = true
	}

	// The group's events in one list, call after call.
	var all []storage.NewEvent
	var keys []string
	for _, c := range calls {
		all = append(all, c.Events...)
		for _, e := range c.Events {
			if e.IdempotencyKey != "" {
				keys = append(keys, e.IdempotencyKey)
			}
		}
	}
	stored, err := s.lookupKeys(ctx, tx, keys)
	if err != nil {
		return err
	}

	// Which events are new: those without a key, and the first of each key
	// not stored yet. dupOf[i] is the index in all of the event i repeats,
	// or -1.
	out := make([]storage.Event, len(all))
	dupOf := make([]int, len(all))
	first := map[string]int{}
	var fresh []storage.NewEvent
	var freshAt []int
	var freshTS []string
	for i, e := range all {
		dupOf[i] = -1
		if k := e.IdempotencyKey; k != "" {
			if st, ok := stored[k]; ok {
				out[i] = duplicateOf(st, e)
				continue
			}
			if j, ok := first[k]; ok {
				dupOf[i] = j
				continue
			}
			first[k] = i
		}
		fresh = append(fresh, e)
		freshAt = append(freshAt, i)
		freshTS = append(freshTS, eventTS(e, now, ts))
	}

	ids := make([]int64, len(fresh))
	if err := s.insertRows(ctx, tx, fresh, freshTS, ids); err != nil {
		return err
	}
	if err := s.insertKeys(ctx, tx, fresh, freshTS, ids, ts); err != nil {
		return err
	}
	if len(fresh) > 0 {
		if err := s.retain(ctx, tx, len(fresh)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if prunedKeys {
		s.keysPrunedAt = now
	}

	for k, i := range freshAt {
		e := all[i]
		out[i] = storage.Event{
			ID:        ids[k],
			Type:      e.Type,
			Message:   e.Message,
			UserEmail: cloneString(e.UserEmail),
			Details:   cloneDetails(e.Details),
			CreatedAt: eventTime(e, now),
		}
	}
	for i, j := range dupOf {
		if j >= 0 {
			out[i] = out[j]
			out[i].UserEmail = cloneString(out[j].UserEmail)
			out[i].Details = slices.Clone(out[j].Details)
			out[i].Duplicate = true
		}
	}
	for _, c := range calls {
		c.Out, out = out[:len(c.Events):len(c.Events)], out[len(c.Events):]
	}
	return nil
}

// keyPruneEvery is how often the insert path deletes expired idempotency
// keys; between two prunes a key may outlive storage.IdempotencyKeyTTL by
// this much.
const keyPruneEvery = time.Minute

// maxRowsPerInsert bounds the rows of one multi-row INSERT; at 5 parameters
// a row it stays far below SQLite's limit of 32766 parameters, and it keeps
// the statement small enough to prepare quickly.
const maxRowsPerInsert = 100

// insertRows inserts events, event i with created_at tss[i], and sets ids[i].
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, events []storage.NewEvent, tss []string, ids []int64) error {
	if len(events) == 1 {
		// The common case, a single event, uses the statement prepared
		// at Open.
		e := events[0]
		return tx.StmtContext(ctx, s.insertStmt).QueryRowContext(ctx,
			e.Type, e.Message, nullString(e.UserEmail), detailsArg(e.Details), tss[0]).Scan(&ids[0])
	}
	// A batch goes in multi-row statements: one statement per 100 rows
	// costs far less than a statement per row through database/sql.
	for start := 0; start < len(events); start += maxRowsPerInsert {
		chunk := events[start:min(start+maxRowsPerInsert, len(events))]
		var q strings.Builder
		q.WriteString("INSERT INTO activity_events (type, message, user_email, details, created_at) VALUES ")
		args := make([]any, 0, 5*len(chunk))
		for i, e := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?)")
			args = append(args, e.Type, e.Message, nullString(e.UserEmail), detailsArg(e.Details), tss[start+i])
		}
		q.WriteString(" RETURNING id")
		got, err := queryIDs(ctx, tx, q.String(), args)
		if err != nil {
			return err
		}
		if len(got) != len(chunk) {
			return fmt.Errorf("inserted %d rows, want %d", len(got), len(chunk))
		}
		// RETURNING's row order is unspecified, but AUTOINCREMENT hands
		// out ids in the order the VALUES rows are inserted, which is
		// their written order: sorted ids pair with the inputs.
		slices.Sort(got)
		copy(ids[start:], got)
	}
	return nil
}

// lookupKeys returns the events stored under any of keys: the stored event
// while retention keeps it, else only its id and created_at (Type empty).
func (s *Store) lookupKeys(ctx context.Context, tx *sql.Tx, keys []string) (map[string]storage.Event, error) {
	found := map[string]storage.Event{}
	if len(keys) == 0 {
		return found, nil
	}
	var rows *sql.Rows
	var err error
	if len(keys) == 1 {
		rows, err = tx.StmtContext(ctx, s.lookupKeyStmt).QueryContext(ctx, keys[0])
	} else {
		// The keys travel as one JSON array parameter, so the statement
		// text is the same for any number of them.
		b, merr := json.Marshal(keys)
		if merr != nil {
			return nil, fmt.Errorf("idempotency keys: %w", merr)
		}
		rows, err = tx.QueryContext(ctx, lookupKeysSQL+"IN (SELECT value FROM json_each(?))", string(b))
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key, keyCreated                     string
			e                                   storage.Event
			typ, msg, email, details, createdAt sql.NullString
		)
		if err := rows.Scan(&key, &e.ID, &keyCreated, &typ, &msg, &email, &details, &createdAt); err != nil {
			return nil, fmt.Errorf("idempotency keys: %w", err)
		}
		if typ.Valid {
			e.Type, e.Message = typ.String, msg.String
			if email.Valid {
				e.UserEmail = &email.String
			}
			if details.Valid {
				e.Details = json.RawMessage(details.String)
			}
			keyCreated = createdAt.String
		}
		if e.CreatedAt, err = time.Parse(timeLayout, keyCreated); err != nil {
			return nil, fmt.Errorf("idempotency keys: event %d: created_at: %w", e.ID, err)
		}
		found[key] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("idempotency keys: %w", err)
	}
	return found, nil
}

// lookupKeysSQL is the start of the key look-up; the caller appends the
// condition on k.key.
const lookupKeysSQL = `
	SELECT k.key, k.event_id, k.event_created_at, e.type, e.message, e.user_email, e.details, e.created_at
	FROM idempotency_keys k LEFT JOIN activity_events e ON e.id = k.event_id
	WHERE k.key `

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

// insertKeys stores the idempotency key of each keyed event of events
// (inserted with ids and created_at tss), stamped now.
func (s *Store) insertKeys(ctx context.Context, tx *sql.Tx, events []storage.NewEvent, tss []string, ids []int64, now string) error {
	var args []any
	for i, e := range events {
		if e.IdempotencyKey != "" {
			args = append(args, e.IdempotencyKey, ids[i], tss[i], now)
		}
	}
	for start := 0; start < len(args); start += 4 * maxRowsPerInsert {
		chunk := args[start:min(start+4*maxRowsPerInsert, len(args))]
		var err error
		if len(chunk) == 4 {
			_, err = tx.StmtContext(ctx, s.insertKeyStmt).ExecContext(ctx, chunk...)
		} else {
			q := "INSERT INTO idempotency_keys (key, event_id, event_created_at, created_at) VALUES " +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", len(chunk)/4), ", ")
			_, err = tx.ExecContext(ctx, q, chunk...)
		}
		if err != nil {
			return fmt.Errorf("idempotency keys: %w", err)
		}
	}
	return nil
}

func queryIDs(ctx context.Context, tx *sql.Tx, q string, args []any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// retain adds added to the stored count and, when the count passes the
// threshold, deletes every event older than the keep-th newest.
func (s *Store) retain(ctx context.Context, tx *sql.Tx, added int) error {
	var n int64
	err := tx.StmtContext(ctx, s.countStmt).QueryRowContext(ctx, added).Scan(&n)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	if !storage.ShouldPrune(n, s.keep) {
		return nil
	}
	// OFFSET keep-1 selects the keep-th newest row; everything strictly
	// older goes, so exactly keep rows stay.
	_, err = tx.ExecContext(ctx, `
		DELETE FROM activity_events
		WHERE (created_at, id) < (
			SELECT created_at, id FROM activity_events
			ORDER BY created_at DESC, id DESC
			LIMIT 1 OFFSET ?)`, s.keep-1)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	// A recount of at most keep rows, once per keep/10 inserts: it also
	// repairs the counter should anything but vitals have touched the table.
	_, err = tx.ExecContext(ctx,
		"UPDATE activity_events_count SET n = (SELECT count(*) FROM activity_events) WHERE id = 1")
	if err != nil {
		return fmt.Errorf("recount: %w", err)
	}
	return nil
}

// ListEvents returns events newest first (created_at desc, id desc).
//
// A search for ASCII text is SQLite's LIKE, which ignores the case of ASCII
// letters only; any other search is matched here, in Go, with Unicode case
// folding (SQLite's lower() and LIKE know only ASCII), reading rows until the
// limit is reached. Either way it reads the table in created_at order, as a
// substring search must.
func (s *Store) ListEvents(ctx context.Context, f storage.EventFilter) ([]storage.Event, error) {
	var types any // NULL: every type
	if len(f.Types) > 0 {
		b, err := json.Marshal(f.Types)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list events: %w", err)
		}
		types = string(b)
	}
	var beforeAt, beforeID any
	if f.Before != nil {
		beforeAt = f.Before.CreatedAt.UTC().Truncate(time.Millisecond).Format(timeLayout)
		beforeID = f.Before.ID
	}
	// Bounds between two stored milliseconds round up, so that they
	// compare as they would at full precision.
	var since, until any
	if !f.Since.IsZero() {
		since = storage.CeilTime(f.Since.UTC(), time.Millisecond).Format(timeLayout)
	}
	if !f.Until.IsZero() {
		until = storage.CeilTime(f.Until.UTC(), time.Millisecond).Format(timeLayout)
	}
	var like any
	var match string // searched in Go: lower-cased
	switch {
	case f.Search == "":
	case isASCII(f.Search):
		like = "%" + escapeLike(f.Search) + "%"
	default:
		match = strings.ToLower(f.Search)
	}
	limit := int64(-1) // SQLite: no limit
	if f.Limit > 0 && match == "" {
		limit = int64(f.Limit)
	}
	// The type list travels as one JSON array parameter, so the statement
	// text is the same for any number of types.
	rows, err := s.reader.QueryContext(ctx, `
		SELECT id, type, message, user_email, details, created_at
		FROM activity_events
		WHERE (?1 IS NULL OR type IN (SELECT value FROM json_each(?1)))
		  AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
		  AND (?5 IS NULL OR created_at >= ?5)
		  AND (?6 IS NULL OR created_at < ?6)
		  AND (?7 IS NULL OR message LIKE ?7 ESCAPE '\' OR user_email LIKE ?7 ESCAPE '\')
		ORDER BY created_at DESC, id DESC
		LIMIT ?4`, types, beforeAt, beforeID, limit, since, until, like)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	defer rows.Close()
	out := []storage.Event{}
	for rows.Next() {
		var (
			e       storage.Event
			email   sql.NullString
			details sql.NullString
			created string
		)
		if err := rows.Scan(&e.ID, &e.Type, &e.Message, &email, &details, &created); err != nil {
			return nil, fmt.Errorf("sqlite: list events: %w", err)
		}
		if match != "" && !strings.Contains(strings.ToLower(e.Message), match) &&
			!(email.Valid && strings.Contains(strings.ToLower(email.String), match)) {
			continue
		}
		if email.Valid {
			e.UserEmail = &email.String
		}
		if details.Valid {
			e.Details = json.RawMessage(details.String)
		}
		e.CreatedAt, err = time.Parse(timeLayout, created)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list events: event %d: created_at: %w", e.ID, err)
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	return out, nil
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// escapeLike makes s match itself in LIKE ... ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// DeleteEventsByEmail deletes every event whose user_email is email,
// ignoring case (Unicode too: the comparison is made in Go, since SQLite's
// lower() knows only ASCII), and subtracts them from the retention count in
// the same transaction.
func (s *Store) DeleteEventsByEmail(ctx context.Context, email string) (int64, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, "SELECT id, user_email FROM activity_events WHERE user_email IS NOT NULL")
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: %w", err)
	}
	var victims []int64
	for rows.Next() {
		var id int64
		var e string
		if err := rows.Scan(&id, &e); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: delete events by email: %w", err)
		}
		if strings.EqualFold(e, email) {
			victims = append(victims, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: %w", err)
	}
	if len(victims) == 0 {
		return 0, nil
	}
	b, err := json.Marshal(victims)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: %w", err)
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM activity_events WHERE id IN (SELECT value FROM json_each(?))", string(b))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE activity_events_count SET n = max(n - ?, 0) WHERE id = 1", n); err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: count: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: commit: %w", err)
	}
	return n, nil
}

// PruneIdempotencyKeys deletes the idempotency keys stored before before.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.writer.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE created_at < ?",
		before.UTC().Truncate(time.Millisecond).Format(timeLayout))
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune idempotency keys: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune idempotency keys: %w", err)
	}
	return n, nil
}

// Setting returns the value stored under key, or storage.ErrNotFound.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.reader.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: setting %q: %w", key, storage.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: setting %q: %w", key, err)
	}
	return v, nil
}

// SetSettingIfAbsent stores value under key unless the key exists and returns
// the value now stored.
func (s *Store) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	_, err := s.writer.ExecContext(ctx, `
		INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO NOTHING`,
		key, value, time.Now().UTC().Format(timeLayout))
	if err != nil {
		return "", fmt.Errorf("sqlite: set setting %q: %w", key, err)
	}
	// Read back on the writer: it is the one connection certain to see its
	// own commit, and this runs a handful of times per start-up.
	var v string
	if err := s.writer.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite: set setting %q: read back: %w", key, err)
	}
	return v, nil
}

// SetSetting stores value under key, replacing any value there.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.writer.ExecContext(ctx, `
		INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (key) DO UPDATE SET value = ?2, updated_at = ?3`,
		key, value, time.Now().UTC().Format(timeLayout))
	if err != nil {
		return fmt.Errorf("sqlite: set setting %q: %w", key, err)
	}
	return nil
}

// MigrateUp applies every pending migration.
func (s *Store) MigrateUp(ctx context.Context) error {
	if err := s.mig.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// MigrateDown rolls back the most recently applied migration.
func (s *Store) MigrateDown(ctx context.Context) error {
	if err := s.mig.Down(ctx); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// MigrateDownTo rolls back every applied migration above version.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	if err := s.mig.DownTo(ctx, version); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// MigrationStatus lists every known migration, oldest first.
func (s *Store) MigrationStatus(ctx context.Context) ([]storage.MigrationStatus, error) {
	st, err := s.mig.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return st, nil
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

// eventTime is an event's created_at: its OccurredAt when set (UTC,
// milliseconds, like the column), else the transaction's now.
func eventTime(e storage.NewEvent, now time.Time) time.Time {
	if e.OccurredAt == nil {
		return now
	}
	return e.OccurredAt.UTC().Truncate(time.Millisecond)
}

// eventTS is eventTime formatted for the column; nowTS is now formatted
// once per transaction, the common case.
func eventTS(e storage.NewEvent, now time.Time, nowTS string) string {
	if e.OccurredAt == nil {
		return nowTS
	}
	return eventTime(e, now).Format(timeLayout)
}

// nullString turns a nil *string into SQL NULL.
func nullString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// detailsArg turns absent or JSON-null details into SQL NULL, so that "no
// details" has one representation.
func detailsArg(d json.RawMessage) any {
	if storage.IsNullDetails(d) {
		return nil
	}
	return string(d)
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
