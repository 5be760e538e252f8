package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vitalsdev/vitals/storage"
)

// WriteHealth is the outcome of the store's last writes, for /health.
func (s *Store) WriteHealth() *storage.WriteHealth { return s.writes }

// spaceReason names why PostgreSQL refused a write for want of room, or ""
// when err is not such a refusal.
func spaceReason(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return ""
	}
	switch pgErr.Code {
	case "53100": // disk_full
		return "disk full"
	case "25006": // read_only_sql_transaction: a hot standby, or default_transaction_read_only
		return "read-only"
	case "53400": // configuration_limit_exceeded, such as temp_file_limit
		return "a limit of the server reached"
	}
	return ""
}

// observe reports a write's outcome to the write health and returns err,
// marked storage.ErrNoSpace when it was refused for room. Failures of
// other kinds (the server unreachable) say nothing about room.
func (s *Store) observe(err error) error {
	if err == nil {
		s.writes.Succeeded()
		return nil
	}
	if reason := spaceReason(err); reason != "" {
		marked, _ := s.writes.Failed(reason, err)
		return marked
	}
	return err
}
