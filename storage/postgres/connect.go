package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vitalsdev/vitals/storage"
)

// Connect makes one attempt to create the schema and apply pending
// migrations; on success the store is ready. It is safe to call again, also
// once ready (for instance after the server came back).
func (s *Store) Connect(ctx context.Context) error {
	s.connectMu.Lock()
	defer s.connectMu.Unlock()
	if err := s.Up(ctx); err != nil {
		return fmt.Errorf("postgres: connect: %w", classify(err))
	}
	s.ready.Store(true)
	return nil
}

// RetryInterval is the longest ConnectLoop lets pass between two attempts
// to reach the server while it is away, however long the outage.
const RetryInterval = 2 * time.Second

// retryDelay is how long ConnectLoop waits after starting attempt (1, 2,
// ...) before it starts the next: 250 ms doubling up to RetryInterval, each
// jittered to between half and all of it by u (uniform in [0, 1)), so that
// a fleet restarted together does not retry in step.
func retryDelay(attempt int, u float64) time.Duration {
	d := min(backoffMin<<min(max(attempt-1, 0), 16), RetryInterval)
	return d/2 + time.Duration(u*float64(d/2))
}

// ConnectLoop reaches the server and calls Connect until that succeeds, ctx
// is done or the store is closed; it returns nil once connected, otherwise
// why it stopped. logger may be nil. Close stops it and waits for it.
//
// An attempt starts at least every RetryInterval (see retryDelay), whatever
// the previous one is doing: each opens one connection, bounded by the
// connect timeout, and only an attempt that got through runs Connect (the
// schema and migrations, bounded by Options.AttemptTimeout). Against a
// server that refuses, attempts fail at once; against one that accepts and
// never answers (blackholed), several may be waiting at a time, each until
// its connect timeout. Either way the first success comes within
// RetryInterval of the server accepting connections.
func (s *Store) ConnectLoop(ctx context.Context, logger *slog.Logger) error {
	if !s.enterLoop() {
		return errors.New("postgres: connect loop: store closed")
	}
	defer s.loops.Done()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var dials sync.WaitGroup
	defer dials.Wait() // after cancel, below: the dials end with ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()
	results := make(chan error)
	failures := failureLog{logger: logger}
	for attempt := 1; ; attempt++ {
		dials.Go(func() {
			err := s.dial(ctx)
			select {
			case results <- err:
			case <-ctx.Done():
			}
		})
		next := time.NewTimer(retryDelay(attempt, rand.Float64()))
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				next.Stop()
				if s.closing.Err() != nil {
					return errors.New("postgres: connect loop: store closed")
				}
				return fmt.Errorf("postgres: connect loop: %w", ctx.Err())
			case <-next.C:
				waiting = false
			case err := <-results:
				if err == nil {
					err = s.attempt(ctx)
				}
				if err == nil {
					next.Stop()
					logger.Info("postgres connected and migrated", slog.String("schema", s.schema), slog.Int("attempt", attempt))
					return nil
				}
				failures.note(err, attempt)
			}
		}
	}
}

// ConnectInBackground runs ConnectLoop on a goroutine the store owns: Close
// stops it and waits for it. The channel is closed once the store is
// connected and migrated; it stays open if the store closes first.
func (s *Store) ConnectInBackground(logger *slog.Logger) <-chan struct{} {
	ready := make(chan struct{})
	go func() {
		if s.ConnectLoop(context.Background(), logger) == nil {
			close(ready)
		}
	}()
	return ready
}

// enterLoop registers a running ConnectLoop for Close to wait for; false
// once the store is closed.
func (s *Store) enterLoop() bool {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	if s.closed {
		return false
	}
	s.loops.Add(1)
	return true
}

// dial opens and closes one connection, outside the pool: the cheap test
// that the server accepts connections, bounded by the connect timeout.
func (s *Store) dial(ctx context.Context) error {
	c, err := pgconn.ConnectConfig(ctx, s.dialConfig)
	if err != nil {
		return classify(err)
	}
	return c.Close(ctx)
}

// attempt is one Connect within Options.AttemptTimeout.
func (s *Store) attempt(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.attemptTimeout)
	defer cancel()
	return s.Connect(ctx)
}

// failureLog says that the server is away on the first failure and then at
// most every failureLogEvery, with the number of failures in between, so
// that retrying every two seconds through a long outage does not flood the
// log.
type failureLog struct {
	logger *slog.Logger
	last   time.Time
	since  int
}

const failureLogEvery = 30 * time.Second

func (l *failureLog) note(err error, attempt int) {
	l.since++
	if !l.last.IsZero() && time.Since(l.last) < failureLogEvery {
		return
	}
	l.logger.Warn("postgres unavailable, retrying",
		slog.String("error", err.Error()), slog.Int("attempt", attempt),
		slog.Int("failures", l.since), slog.Duration("retry_every", RetryInterval))
	l.last, l.since = time.Now(), 0
}

// createSchema creates the schema if it is missing; it runs before every
// migration (migrate.Options.BeforeUp).
func (s *Store) createSchema(ctx context.Context) error {
	// Look before creating: CREATE SCHEMA IF NOT EXISTS needs the CREATE
	// privilege on the database even when the schema exists, and a
	// least-privileged role may be given only a schema an admin made.
	var exists bool
	err := s.pool.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.schema).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look up schema %s: %w", s.schema, err)
	}
	if exists {
		return nil
	}
	_, err = s.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.schema}.Sanitize())
	// Two instances creating the schema at once: the loser's IF NOT EXISTS
	// check ran before the winner committed, and it fails on the catalog's
	// unique index. The schema exists, which is all we need.
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P06")) {
		return fmt.Errorf("create schema %s: %w", s.schema, err)
	}
	return nil
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

// ParseErrorReason is the short reason of an error from parsing a
// PostgreSQL URL (pgxpool.ParseConfig, pgx.ParseConfig): "invalid port",
// "sslmode is invalid". The error's own text quotes the connection string,
// redacted only best effort, and its wrapped error (from net/url) quotes
// the URL, password included; the reason quotes neither. An error of
// another kind, or one whose text is not as pgx writes it, is "cannot be
// parsed".
func ParseErrorReason(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return "cannot be parsed"
	}
	// The text is "cannot parse `CONN`: MSG" or "... MSG (WRAPPED)":
	// drop the wrapped part exactly, then keep what follows the last
	// "`: ", which only pgx's own MSG can follow.
	msg := pe.Error()
	if inner := pe.Unwrap(); inner != nil {
		msg = strings.TrimSuffix(msg, " ("+inner.Error()+")")
	}
	i := strings.LastIndex(msg, "`: ")
	if i < 0 {
		return "cannot be parsed"
	}
	msg = msg[i+len("`: "):]
	if j := strings.Index(msg, " ("); j >= 0 {
		msg = msg[:j]
	}
	return msg
}
