package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/internal/batch"
	"github.com/vitalsdev/vitals/storage/internal/group"
	"github.com/vitalsdev/vitals/storage/internal/retention"
)

// InsertEvents stores events in one transaction, with retention, and returns
// them with their ids and created_at in input order. Details are returned as
// given (copied); nil or JSON null is stored as SQL NULL.
//
// Concurrent calls share a transaction (see package group): one commit then
// carries the events of every caller waiting, each call still all or nothing.
func (s *Store) InsertEvents(ctx context.Context, events []storage.NewEvent) ([]storage.Event, error) {
	out, err := s.group.Insert(ctx, events)
	if err := s.observe(err); err != nil {
		return nil, fmt.Errorf("sqlite: insert events: %w", err)
	}
	return out, nil
}

// rolledBack is group.EachAlone's test for SQLite: a failed SQLite
// transaction is always rolled back, so retrying each call alone cannot
// store anything twice.
func rolledBack(error) bool { return true }

// insertTx stores the events of calls in one transaction, with retention,
// and on success sets each call's Out.
//
// Retention needs no count: activity_events_count holds the row count of
// each source and every insert updates it in the same transaction. The
// transaction holds the database's write lock from BEGIN IMMEDIATE to
// COMMIT, so the counts it reads back are exact, across goroutines and
// across processes sharing the file.
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

	prunedKeys, err := s.pruneKeysDue(ctx, tx, now)
	if err != nil {
		return err
	}

	b := batch.New(calls)
	stored, err := s.lookupKeys(ctx, tx, b.Keys())
	if err != nil {
		return err
	}
	out := make([]storage.Event, len(b.Events))
	fresh := freshRows(b, stored, out, now, ts)
	if err := s.insertRows(ctx, tx, fresh); err != nil {
		return err
	}
	if err := s.insertKeys(ctx, tx, fresh, ts); err != nil {
		return err
	}
	if err := s.retain(ctx, tx, fresh.added); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if prunedKeys {
		s.keysPrunedAt = now
	}
	for k, i := range fresh.at {
		e := b.Events[i]
		out[i] = batch.Fresh(e, fresh.ids[k], eventTime(e, now))
	}
	b.Finish(out)
	return nil
}

// pruneKeysDue deletes the expired idempotency keys when the last prune is
// keyPruneEvery old, and reports whether it did.
func (s *Store) pruneKeysDue(ctx context.Context, tx *sql.Tx, now time.Time) (bool, error) {
	if now.Sub(s.keysPrunedAt) < keyPruneEvery {
		return false, nil
	}
	if _, err := tx.StmtContext(ctx, s.pruneKeysStmt).ExecContext(ctx, now.Add(-storage.IdempotencyKeyTTL).Format(timeLayout), s.keysKeep); err != nil {
		return false, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return true, nil
}

// freshRows picks the events of b to insert: those without a key, and the
// first of each key not stored yet. The first of a stored key is answered
// in out with the stored event; repeats are left to Batch.Finish.
func freshRows(b *batch.Batch, stored map[string]storage.Event, out []storage.Event, now time.Time, ts string) rows {
	var fresh rows
	for i, e := range b.Events {
		if b.Repeats(i) {
			continue
		}
		if st, ok := stored[e.IdempotencyKey]; ok && e.IdempotencyKey != "" {
			out[i] = batch.DuplicateOf(st, e)
			continue
		}
		fresh.add(i, e, eventTS(e, now, ts))
	}
	return fresh
}

// rows are the events of a group to insert, with where each stands in the
// group, its created_at as stored, and (once inserted) its id.
type rows struct {
	events []storage.NewEvent
	at     []int
	ts     []string
	ids    []int64
	added  retention.Count
}

func (r *rows) add(at int, e storage.NewEvent, ts string) {
	r.events = append(r.events, e)
	r.at = append(r.at, at)
	r.ts = append(r.ts, ts)
	r.ids = append(r.ids, 0)
	r.added.Add(batch.Source(e))
}

// keyPruneEvery is how often the insert path deletes expired idempotency
// keys; between two prunes a key may outlive storage.IdempotencyKeyTTL by
// this much.
const keyPruneEvery = time.Minute

// maxRowsPerInsert bounds the rows of one multi-row INSERT; at 6 parameters
// a row it stays far below SQLite's limit of 32766 parameters, and it keeps
// the statement small enough to prepare quickly.
const maxRowsPerInsert = 100

// insertRows inserts r's events, each with its created_at, and sets their
// ids.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, r rows) error {
	if len(r.events) == 1 {
		// The common case, a single event, uses the statement prepared
		// at Open.
		e := r.events[0]
		return tx.StmtContext(ctx, s.insertStmt).QueryRowContext(ctx,
			e.Type, e.Message, nullString(e.UserEmail), detailsArg(e.Details), batch.Source(e), r.ts[0]).Scan(&r.ids[0])
	}
	// A batch goes in multi-row statements: one statement per 100 rows
	// costs far less than a statement per row through database/sql.
	for start := 0; start < len(r.events); start += maxRowsPerInsert {
		chunk := r.events[start:min(start+maxRowsPerInsert, len(r.events))]
		var q strings.Builder
		q.WriteString("INSERT INTO activity_events (type, message, user_email, details, source, created_at) VALUES ")
		args := make([]any, 0, 6*len(chunk))
		for i, e := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, e.Type, e.Message, nullString(e.UserEmail), detailsArg(e.Details), batch.Source(e), r.ts[start+i])
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
		copy(r.ids[start:], got)
	}
	return nil
}

// counterColumn is the column of activity_events_count that counts source.
func counterColumn(source string) string {
	if source == storage.SourceVitals {
		return "vitals_n"
	}
	return "n"
}

// retain adds added to the stored counts and, for each source whose count
// passes its threshold, deletes every event of the source older than its
// keep-th newest.
func (s *Store) retain(ctx context.Context, tx *sql.Tx, added retention.Count) error {
	if !added.Any() {
		return nil
	}
	var stored retention.Count
	err := tx.StmtContext(ctx, s.countStmt).QueryRowContext(ctx, added.App, added.Vitals).Scan(&stored.App, &stored.Vitals)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	for _, source := range s.keep.Due(stored) {
		// OFFSET keep-1 selects the keep-th newest row of the source;
		// everything of the source strictly older goes, so exactly keep
		// rows stay.
		_, err = tx.ExecContext(ctx, `
			DELETE FROM activity_events
			WHERE source = ?1 AND (created_at, id) < (
				SELECT created_at, id FROM activity_events
				WHERE source = ?1
				ORDER BY created_at DESC, id DESC
				LIMIT 1 OFFSET ?2)`, source, s.keep.Of(source)-1)
		if err != nil {
			return fmt.Errorf("prune %s events: %w", source, err)
		}
		// A recount of at most keep rows, once per keep/10 inserts: it
		// also repairs the counter should anything but vitals have
		// touched the table.
		col := counterColumn(source)
		_, err = tx.ExecContext(ctx, "UPDATE activity_events_count SET "+col+
			" = (SELECT count(*) FROM activity_events WHERE source = ?) WHERE id = 1", source)
		if err != nil {
			return fmt.Errorf("recount %s events: %w", source, err)
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
