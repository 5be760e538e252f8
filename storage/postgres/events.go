package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/internal/batch"
	"github.com/vitalsdev/vitals/storage/internal/group"
)

// insertSQL inserts a batch and adds it to the row counts (per source), in
// one statement. The rows come from parallel arrays in input order (WITH
// ORDINALITY ... ORDER BY ord), so the sequence hands out ids in input order.
// Rows without an occurred_at ($5, NULL) get the transaction's now(): one
// created_at per batch, ids order it; now() is returned beside each id for
// them.
const insertSQL = `
WITH ins AS (
	INSERT INTO activity_events (type, message, user_email, details, source, created_at)
	SELECT u.type, u.message, u.user_email, u.details::jsonb, u.source, COALESCE(u.occurred_at, now())
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
		WITH ORDINALITY AS u(type, message, user_email, details, occurred_at, source, ord)
	ORDER BY u.ord
	RETURNING id, source
), counted AS (
	UPDATE activity_events_count SET
		n = n + (SELECT count(*) FROM ins WHERE source = 'app'),
		vitals_n = vitals_n + (SELECT count(*) FROM ins WHERE source = 'vitals')
	WHERE id = 1
	RETURNING n
)
SELECT ins.id, now() FROM ins CROSS JOIN counted`

// pruneSQL applies retention after insertSQL, in the same transaction, to
// each source apart: the application's events ($1 threshold, $2 keep-1) and
// vitals' own ($3, $4). For a source whose count is at most its threshold,
// its DELETE stops at a one-time filter and touches nothing, and the UPDATE
// leaves its count; when neither is above, the UPDATE touches nothing
// either. Otherwise it deletes every event of the source strictly older than
// its keep-th newest (keep-1 as OFFSET; OFFSET keep would keep keep+1), and
// sets the source's count to what remains, a recount of at most keep rows
// once per keep/10 inserts, which also repairs the counter should anything
// but vitals have changed the table.
//
// Why this is exact under READ COMMITTED, across goroutines and instances:
// insertSQL's UPDATE took the counter row's lock, held until commit, so no
// other insert transaction can get past its own UPDATE meanwhile. Every insert
// updates the counter in its own transaction, so any insert that committed
// before we got the lock is visible to this statement's snapshot (taken after
// we got the lock), and any that has not committed is waiting on the lock
// and has not been counted: the rows this statement sees are exactly the rows
// the counts describe, plus nothing. Concurrent inserts' uncommitted rows
// are invisible and therefore never deleted; they add themselves to the count
// when they get the lock. Only one transaction prunes at a time, and a row is
// deleted only when keep visible rows of its source are newer than it, so
// none of the newest keep of a source is ever deleted.
const pruneSQL = `
WITH cur AS MATERIALIZED (
	SELECT n, vitals_n FROM activity_events_count WHERE id = 1
), app_gone AS (
	DELETE FROM activity_events
	WHERE (SELECT n FROM cur) > $1
	  AND source = 'app'
	  AND (created_at, id) < (
		SELECT created_at, id FROM activity_events
		WHERE source = 'app'
		ORDER BY created_at DESC, id DESC
		LIMIT 1 OFFSET $2)
	RETURNING 1
), vitals_gone AS (
	DELETE FROM activity_events
	WHERE (SELECT vitals_n FROM cur) > $3
	  AND source = 'vitals'
	  AND (created_at, id) < (
		SELECT created_at, id FROM activity_events
		WHERE source = 'vitals'
		ORDER BY created_at DESC, id DESC
		LIMIT 1 OFFSET $4)
	RETURNING 1
)
UPDATE activity_events_count SET
	n = CASE WHEN (SELECT n FROM cur) > $1
		THEN (SELECT count(*) FROM activity_events WHERE source = 'app') - (SELECT count(*) FROM app_gone)
		ELSE n END,
	vitals_n = CASE WHEN (SELECT vitals_n FROM cur) > $3
		THEN (SELECT count(*) FROM activity_events WHERE source = 'vitals') - (SELECT count(*) FROM vitals_gone)
		ELSE vitals_n END
WHERE id = 1 AND ((SELECT n FROM cur) > $1 OR (SELECT vitals_n FROM cur) > $3)`

// pruneArgs are pruneSQL's parameters for the store's budgets.
func (s *Store) pruneArgs() []any {
	return []any{
		storage.PruneThreshold(s.keep.App), s.keep.App - 1,
		storage.PruneThreshold(s.keep.Vitals), s.keep.Vitals - 1,
	}
}

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
	out, err := s.group.Insert(ctx, events)
	if err := s.observe(err); err != nil {
		return nil, s.opErr("insert events", outcome(err))
	}
	return out, nil
}

// outcome marks err as ErrOutcomeUnknown when the write may have been
// committed: neither the server's own refusal (it then rolled back) nor a
// failure pgx knows came before anything was sent.
func outcome(err error) error {
	var pgErr *pgconn.PgError
	// ErrUnavailable here is the store closing: the call was never taken.
	if errors.Is(err, storage.ErrOutcomeUnknown) || errors.Is(err, storage.ErrUnavailable) ||
		errors.As(err, &pgErr) || pgconn.SafeToRetry(err) {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrOutcomeUnknown, err)
}

// rejected is group.EachAlone's test for PostgreSQL: a PostgreSQL error
// means the server refused the transaction, which it then certainly rolled
// back, so each call is retried alone. Any other failure (connection lost,
// timeout) may have happened after the commit, so the calls are not
// retried: they fail with that error.
func rejected(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && !unreachable(err)
}

// insertTx stores the events of calls in one transaction, with retention,
// and on success sets each call's Out. The statements travel in one pgx
// batch, which PostgreSQL runs as one implicit transaction: one round trip,
// and the counter row's lock is held only for the prune statement and the
// commit. A group with idempotency keys takes another way (insertKeyedTx).
func (s *Store) insertTx(ctx context.Context, calls []*group.Call) error {
	b := batch.New(calls)
	if len(b.Keys()) > 0 {
		return s.insertKeyedTx(ctx, b)
	}
	cols := eventColumns(b.Events)

	q := &pgx.Batch{}
	pruningKeys := s.keyPruneDue()
	if pruningKeys {
		// The key prune's range scan, whatever the cached plan says.
		q.Queue(customPlansSQL)
		q.Queue(pruneKeysSQL, storage.IdempotencyKeyTTL.Seconds(), s.keysKeep)
	}
	q.Queue(insertSQL, cols.types, cols.messages, cols.emails, cols.details, cols.occurred, cols.sources)
	q.Queue(pruneSQL, s.pruneArgs()...)
	br := s.pool.SendBatch(ctx, q)
	var err error
	if pruningKeys {
		if _, err = br.Exec(); err == nil {
			_, err = br.Exec()
		}
	}
	var ids []int64
	var created time.Time
	if err == nil {
		ids, created, err = scanInserted(br, len(b.Events))
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
	out := make([]storage.Event, len(b.Events))
	for i, e := range b.Events {
		out[i] = fresh(e, ids[i], created)
	}
	b.Finish(out)
	return nil
}

// fresh is the answer for an event stored now with id; created is the
// transaction's now(), its created_at unless it has an occurred_at.
func fresh(e storage.NewEvent, id int64, created time.Time) storage.Event {
	if e.OccurredAt != nil {
		// timestamptz keeps microseconds; pgx truncates.
		created = e.OccurredAt.UTC().Truncate(time.Microsecond)
	}
	return batch.Fresh(e, id, created)
}

// columns are a group's events as parallel arrays, in input order, for
// unnest.
type columns struct {
	types    []string
	messages []string
	emails   []*string
	details  []*string
	occurred []*time.Time
	sources  []string
	keys     []*string
}

func eventColumns(events []storage.NewEvent) columns {
	n := len(events)
	c := columns{
		types:    make([]string, 0, n),
		messages: make([]string, 0, n),
		emails:   make([]*string, 0, n),
		details:  make([]*string, 0, n),
		occurred: make([]*time.Time, 0, n),
		sources:  make([]string, 0, n),
		keys:     make([]*string, 0, n),
	}
	for _, e := range events {
		c.types = append(c.types, e.Type)
		c.messages = append(c.messages, e.Message)
		c.emails = append(c.emails, e.UserEmail)
		c.occurred = append(c.occurred, e.OccurredAt)
		c.sources = append(c.sources, batch.Source(e))
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
	return c
}
