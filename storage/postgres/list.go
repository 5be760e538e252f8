package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/internal/like"
)

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
	var pattern *string
	if f.Search != "" {
		p := like.Contains(f.Search)
		pattern = &p
	}
	var email *string // a person's events, compared as erasure does
	if f.UserEmail != "" {
		email = &f.UserEmail
	}
	// ILIKE folds case as the database's LC_CTYPE does: every letter with
	// C.UTF-8 or en_US.UTF-8, ASCII only with plain C.
	cols := "id, type, message, user_email, details, source, created_at"
	if f.MarksOnly && f.Search == "" && f.UserEmail == "" {
		// The history's markers: the rows' text is not sent.
		cols = "id, type, ''::text, NULL::text, NULL::jsonb, source, created_at"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+cols+`
		FROM activity_events
		WHERE ($1::text[] IS NULL OR type = ANY($1))
		  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::bigint))
		  AND ($5::timestamptz IS NULL OR created_at >= $5)
		  AND ($6::timestamptz IS NULL OR created_at < $6)
		  AND ($7::text IS NULL OR message ILIKE $7 ESCAPE '\' OR user_email ILIKE $7 ESCAPE '\')
		  AND ($8::text IS NULL OR lower(user_email) = lower($8))
		ORDER BY created_at DESC, id DESC
		LIMIT $4`, types, beforeAt, beforeID, limit, since, until, pattern, email)
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
		if err := rows.Scan(&e.ID, &e.Type, &e.Message, &e.UserEmail, &details, &e.Source, &e.CreatedAt); err != nil {
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

// deleteByEmailSQL erases one person's events and subtracts them from the
// counts of their sources, after lockCountSQL took the counter row's lock in the same
// transaction. Taking that lock first orders this transaction like an insert
// (counter, then rows), so it cannot deadlock with a prune, which holds the
// counter and deletes rows; and the count stays exact for the reasons given
// at pruneSQL.
const deleteByEmailSQL = `
WITH del AS (
	DELETE FROM activity_events WHERE lower(user_email) = lower($1) RETURNING source
), gone AS (
	SELECT count(*) AS c,
		count(*) FILTER (WHERE source = 'app') AS app,
		count(*) FILTER (WHERE source = 'vitals') AS vitals
	FROM del
), upd AS (
	UPDATE activity_events_count SET
		n = greatest(n - (SELECT app FROM gone), 0),
		vitals_n = greatest(vitals_n - (SELECT vitals FROM gone), 0)
	WHERE id = 1
)
SELECT c FROM gone`

const lockCountSQL = `SELECT n FROM activity_events_count WHERE id = 1 FOR UPDATE`

// DeleteEventsByEmail deletes every event whose user_email is email,
// ignoring case (as the database's LC_CTYPE folds it), and keeps the
// retention counts exact.
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
