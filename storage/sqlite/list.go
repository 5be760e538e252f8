package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/internal/like"
	"github.com/vitalsdev/vitals/storage/internal/retention"
)

// ListEvents returns events newest first (created_at desc, id desc).
//
// A search for ASCII text is SQLite's LIKE, which ignores the case of ASCII
// letters only; any other search is matched here, in Go, with Unicode case
// folding (SQLite's lower() and LIKE know only ASCII), reading rows until the
// limit is reached. Either way it reads the table in created_at order, as a
// substring search must.
func (s *Store) ListEvents(ctx context.Context, f storage.EventFilter) ([]storage.Event, error) {
	args, match, err := listArgs(f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	// The type list travels as one JSON array parameter, so the statement
	// text is the same for any number of types.
	cols := "id, type, message, user_email, details, source, created_at"
	if f.MarksOnly && f.Search == "" && f.UserEmail == "" {
		cols = "id, type, '', NULL, NULL, source, created_at"
	}
	rows, err := s.reader.QueryContext(ctx, `
		SELECT `+cols+`
		FROM activity_events
		WHERE (?1 IS NULL OR type IN (SELECT value FROM json_each(?1)))
		  AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
		  AND (?5 IS NULL OR created_at >= ?5)
		  AND (?6 IS NULL OR created_at < ?6)
		  AND (?7 IS NULL OR message LIKE ?7 ESCAPE '\' OR user_email LIKE ?7 ESCAPE '\')
		  AND (?8 IS NULL OR user_email LIKE ?8 ESCAPE '\')
		ORDER BY created_at DESC, id DESC
		LIMIT ?4`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	defer rows.Close()
	out := []storage.Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list events: %w", err)
		}
		if match != "" && !strings.Contains(strings.ToLower(e.Message), match) &&
			!(e.UserEmail != nil && strings.Contains(strings.ToLower(*e.UserEmail), match)) {
			continue
		}
		if f.UserEmail != "" && (e.UserEmail == nil || !strings.EqualFold(*e.UserEmail, f.UserEmail)) {
			continue
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

// listArgs are ListEvents' parameters ?1 to ?8 for f (NULL for a filter
// not set), and the lower-cased search to match in Go, if any. A person's
// address is narrowed by LIKE, which folds ASCII only, when it is ASCII;
// either way the rows are compared in Go as erasure compares them.
func listArgs(f storage.EventFilter) (args []any, match string, err error) {
	var types any // NULL: every type
	if len(f.Types) > 0 {
		b, err := json.Marshal(f.Types)
		if err != nil {
			return nil, "", err
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
	var pattern any
	switch {
	case f.Search == "":
	case isASCII(f.Search):
		pattern = like.Contains(f.Search)
	default:
		match = strings.ToLower(f.Search)
	}
	var email any
	exactEmail := f.UserEmail == "" || isASCII(f.UserEmail)
	if f.UserEmail != "" && exactEmail {
		email = like.Exact(f.UserEmail)
	}
	limit := int64(-1) // SQLite: no limit
	if f.Limit > 0 && match == "" && exactEmail {
		limit = int64(f.Limit)
	}
	return []any{types, beforeAt, beforeID, limit, since, until, pattern, email}, match, nil
}

// scanEvent reads one row of id, type, message, user_email, details,
// source, created_at.
func scanEvent(r rowScanner) (storage.Event, error) {
	var (
		e       storage.Event
		email   sql.NullString
		details sql.NullString
		created string
	)
	if err := r.Scan(&e.ID, &e.Type, &e.Message, &email, &details, &e.Source, &created); err != nil {
		return storage.Event{}, err
	}
	if email.Valid {
		e.UserEmail = &email.String
	}
	if details.Valid {
		e.Details = json.RawMessage(details.String)
	}
	var err error
	if e.CreatedAt, err = time.Parse(timeLayout, created); err != nil {
		return storage.Event{}, fmt.Errorf("event %d: created_at: %w", e.ID, err)
	}
	return e, nil
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

// DeleteEventsByEmail deletes every event whose user_email is email,
// ignoring case (Unicode too: the comparison is made in Go, since SQLite's
// lower() knows only ASCII), and subtracts them from the retention counts in
// the same transaction.
func (s *Store) DeleteEventsByEmail(ctx context.Context, email string) (int64, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	victims, gone, err := eventsOf(ctx, tx, email)
	if err != nil {
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
	if _, err := tx.ExecContext(ctx, "UPDATE activity_events_count SET n = max(n - ?, 0), vitals_n = max(vitals_n - ?, 0) WHERE id = 1",
		gone.App, gone.Vitals); err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: count: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: delete events by email: commit: %w", err)
	}
	return n, nil
}

// eventsOf returns the ids of the events whose user_email is email,
// ignoring case, and how many there are of each source.
func eventsOf(ctx context.Context, tx *sql.Tx, email string) ([]int64, retention.Count, error) {
	var gone retention.Count
	rows, err := tx.QueryContext(ctx, "SELECT id, user_email, source FROM activity_events WHERE user_email IS NOT NULL")
	if err != nil {
		return nil, gone, err
	}
	defer rows.Close()
	var victims []int64
	for rows.Next() {
		var id int64
		var e, source string
		if err := rows.Scan(&id, &e, &source); err != nil {
			return nil, gone, err
		}
		if strings.EqualFold(e, email) {
			victims = append(victims, id)
			gone.Add(source)
		}
	}
	return victims, gone, rows.Err()
}
