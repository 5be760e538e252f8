package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/internal/batch"
)

// keyPruneEvery is how often the insert path deletes expired idempotency
// keys; between two prunes a key may outlive storage.IdempotencyKeyTTL by
// this much.
const keyPruneEvery = time.Minute

// pruneKeysSQL deletes the idempotency keys older than $1 seconds and those
// beyond the $2 newest (ties kept); the created_at index makes both range
// scans, the second over $2 entries, once a minute.
const pruneKeysSQL = `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)
	OR created_at < (SELECT created_at FROM idempotency_keys ORDER BY created_at DESC OFFSET $2 - 1 LIMIT 1)`

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
SELECT k.key, k.event_id, k.event_created_at, e.type, e.message, e.user_email, e.details, e.source, e.created_at
FROM idempotency_keys k LEFT JOIN activity_events e ON e.id = k.event_id
WHERE k.key = ANY($1::text[]) AND k.event_id <> 0`

// insertKeyedSQL is insertSQL for a group with keys: it inserts the events
// without a key and those that claim a key ($7, the first event of the
// group with that key) whose claim insertKeysSQL won (event_id 0 visible is
// this transaction's own), gives the won keys their event's id, and adds to
// the count. It returns the input position and id of each event inserted.
const insertKeyedSQL = `
WITH src AS MATERIALIZED (
	SELECT u.*, nextval('activity_events_id_seq') AS id
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::bool[], $8::text[])
		WITH ORDINALITY AS u(type, message, user_email, details, occurred_at, key, claims, source, ord)
	WHERE u.key IS NULL
	   OR (u.claims AND EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.key = u.key AND k.event_id = 0))
), ins AS (
	INSERT INTO activity_events (id, type, message, user_email, details, source, created_at)
	SELECT id, type, message, user_email, details::jsonb, source, COALESCE(occurred_at, now())
	FROM src ORDER BY ord
	RETURNING id, source
), claimed AS (
	UPDATE idempotency_keys k SET event_id = src.id
	FROM src WHERE k.key = src.key
), counted AS (
	UPDATE activity_events_count SET
		n = n + (SELECT count(*) FROM ins WHERE source = 'app'),
		vitals_n = vitals_n + (SELECT count(*) FROM ins WHERE source = 'vitals')
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
func (s *Store) insertKeyedTx(ctx context.Context, b *batch.Batch) error {
	cols := eventColumns(b.Events)
	// The first event of each key claims it; keys are claimed in sorted
	// order.
	claims := make([]bool, len(b.Events))
	var claim []int
	for i, e := range b.Events {
		if e.IdempotencyKey != "" && !b.Repeats(i) {
			claims[i] = true
			claim = append(claim, i)
		}
	}
	slices.SortFunc(claim, func(x, y int) int { return strings.Compare(b.Events[x].IdempotencyKey, b.Events[y].IdempotencyKey) })
	claimKeys := make([]string, len(claim))
	claimAt := make([]*time.Time, len(claim))
	for j, i := range claim {
		claimKeys[j], claimAt[j] = b.Events[i].IdempotencyKey, b.Events[i].OccurredAt
	}

	q := &pgx.Batch{}
	q.Queue(customPlansSQL)
	pruningKeys := s.keyPruneDue()
	if pruningKeys {
		q.Queue(pruneKeysSQL, storage.IdempotencyKeyTTL.Seconds(), s.keysKeep)
	}
	q.Queue(insertKeysSQL, claimKeys, claimAt)
	q.Queue(lookupKeysSQL, claimKeys)
	q.Queue(insertKeyedSQL, cols.types, cols.messages, cols.emails, cols.details, cols.occurred, cols.keys, claims, cols.sources)
	q.Queue(pruneSQL, s.pruneArgs()...)
	ids := make([]int64, len(b.Events)) // 0: not inserted
	stored, created, err := s.sendKeyed(ctx, q, pruningKeys, ids)
	if err != nil {
		return err
	}
	out := make([]storage.Event, len(b.Events))
	for i, e := range b.Events {
		switch {
		case ids[i] != 0:
			out[i] = fresh(e, ids[i], created)
		case e.IdempotencyKey == "":
			return fmt.Errorf("event %d has no idempotency key and was not inserted", i)
		case b.Repeats(i):
			// Batch.Finish fills it in from the event that claimed the key.
		default:
			st, ok := stored[e.IdempotencyKey]
			if !ok {
				// Cannot happen: the key was either won here or
				// locked by the claim until the commit.
				return fmt.Errorf("idempotency key %q was neither won nor found", e.IdempotencyKey)
			}
			out[i] = batch.DuplicateOf(st, e)
		}
	}
	b.Finish(out)
	return nil
}

// sendKeyed sends insertKeyedTx's batch and reads its answers: the events
// stored earlier under the keys, the ids of the events inserted (into ids)
// and the transaction's now(); it notes a key prune that committed. Only a
// nil error means the commit is durable.
func (s *Store) sendKeyed(ctx context.Context, q *pgx.Batch, pruningKeys bool, ids []int64) (map[string]storage.Event, time.Time, error) {
	br := s.pool.SendBatch(ctx, q)
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
	var created time.Time
	if err == nil {
		created, err = scanKeyedInserted(br, ids)
	}
	if err == nil {
		_, err = br.Exec()
	}
	// Close reads to the end of the batch, past the commit.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && pruningKeys {
		s.keysPrunedAt = time.Now()
	}
	return stored, created, err
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
			source     *string
			details    []byte
			createdAt  *time.Time
		)
		if err := rows.Scan(&key, &e.ID, &keyCreated, &typ, &msg, &e.UserEmail, &details, &source, &createdAt); err != nil {
			return nil, err
		}
		e.CreatedAt = keyCreated.UTC()
		if typ != nil {
			e.Type, e.Message, e.Source = *typ, *msg, *source
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

// PruneIdempotencyKeys deletes the idempotency keys stored before before,
// and those beyond the newest KeysKeep.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	if !s.ready.Load() {
		return 0, s.notReady("prune idempotency keys")
	}
	b := &pgx.Batch{}
	b.Queue(customPlansSQL)
	b.Queue(`DELETE FROM idempotency_keys WHERE created_at < $1
		OR created_at < (SELECT created_at FROM idempotency_keys ORDER BY created_at DESC OFFSET $2 - 1 LIMIT 1)`, before, s.keysKeep)
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
