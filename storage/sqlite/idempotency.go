package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

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
			key, keyCreated                             string
			e                                           storage.Event
			typ, msg, email, details, source, createdAt sql.NullString
		)
		if err := rows.Scan(&key, &e.ID, &keyCreated, &typ, &msg, &email, &details, &source, &createdAt); err != nil {
			return nil, fmt.Errorf("idempotency keys: %w", err)
		}
		if typ.Valid {
			e.Type, e.Message, e.Source = typ.String, msg.String, source.String
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
	SELECT k.key, k.event_id, k.event_created_at, e.type, e.message, e.user_email, e.details, e.source, e.created_at
	FROM idempotency_keys k LEFT JOIN activity_events e ON e.id = k.event_id
	WHERE k.key `

// insertKeys stores the idempotency key of each keyed event of r, inserted,
// stamped now.
func (s *Store) insertKeys(ctx context.Context, tx *sql.Tx, r rows, now string) error {
	var args []any
	for i, e := range r.events {
		if e.IdempotencyKey != "" {
			args = append(args, e.IdempotencyKey, r.ids[i], r.ts[i], now)
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

// pruneKeysSQL deletes the keys stored before ?1 and those older than the
// ?2 newest (ties kept); the created_at index makes both range scans, the
// second one over ?2 entries, once a minute.
const pruneKeysSQL = `DELETE FROM idempotency_keys WHERE created_at < ?1
	OR created_at < (SELECT created_at FROM idempotency_keys ORDER BY created_at DESC LIMIT 1 OFFSET ?2 - 1)`

// PruneIdempotencyKeys deletes the idempotency keys stored before before,
// and those beyond the newest KeysKeep.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.writer.ExecContext(ctx, pruneKeysSQL,
		before.UTC().Truncate(time.Millisecond).Format(timeLayout), s.keysKeep)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune idempotency keys: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune idempotency keys: %w", err)
	}
	return n, nil
}
