package sqlite

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vitalsdev/vitals/storage"
)

// WriteHealth is the outcome of the store's last writes, for /health.
func (s *Store) WriteHealth() *storage.WriteHealth { return s.writes }

// spaceReason names why SQLite refused a write for want of room, or "" when
// err is not such a refusal.
func spaceReason(err error) string {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return "disk full"
	case sqlite3.SQLITE_READONLY:
		return "read-only"
	case sqlite3.SQLITE_IOERR:
		return "disk I/O error"
	}
	return ""
}

// observe reports a write's outcome to the write health and returns err,
// marked storage.ErrNoSpace when it was refused for room. Both a refusal
// and the first success after refusals checkpoint the WAL and truncate it:
// a full volume gets the WAL's space back, and a WAL that grew while the
// volume was full does not keep it.
func (s *Store) observe(err error) error {
	if err == nil {
		if s.writes.Succeeded() {
			s.reclaimedAt.Store(0) // the first success after refusals always reclaims
			s.reclaim()
		}
		return nil
	}
	reason := spaceReason(err)
	if reason == "" {
		return err
	}
	marked, _ := s.writes.Failed(reason, err)
	s.reclaim()
	return marked
}

// reclaim truncates the WAL, at most once a second: refused writes can
// come by the thousand.
func (s *Store) reclaim() {
	now := time.Now().UnixNano()
	last := s.reclaimedAt.Load()
	if now-last < int64(time.Second) || !s.reclaimedAt.CompareAndSwap(last, now) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = s.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
}

// walPageBytes is SQLite's default page size, which vitals keeps.
const walPageBytes = 4096

// walPages is how many pages the WAL may hold before the writer
// checkpoints it: SQLite's default 1000 (4 MB), or an eighth of a small
// volume. A checkpoint copies the WAL's pages into the database file, which
// needs room of its own: a WAL allowed to fill a small volume can never be
// checkpointed again, and then nothing is written however much room is
// freed. At least 64 pages (256 KB), so that small volumes still batch.
func walPages(dir string) int {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 1000
	}
	share := int64(st.Blocks) * st.Bsize / 8 / walPageBytes
	return int(min(max(share, 64), 1000))
}

// reclaimClock is reclaim's rate limit (Unix nanoseconds of the last run).
type reclaimClock = atomic.Int64
