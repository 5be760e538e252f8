// Package migrate runs the embedded goose migrations for a store through the
// goose Provider API. It keeps no goose global state (no SetDialect, no
// SetBaseFS, no global Go migrations), so two stores of different dialects can
// live in one process, as they do in the tests.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"

	"github.com/pressly/goose/v3"

	"github.com/vitalsdev/vitals/storage"
)

// Runner applies and rolls back one dialect's migrations on one database.
type Runner struct {
	p *goose.Provider
}

// New prepares a runner; it does not touch the database. logger receives
// goose's progress lines (nil discards them); extra options such as a
// session locker are passed on to goose.
func New(dialect goose.Dialect, db *sql.DB, fsys fs.FS, logger *slog.Logger, extra ...goose.ProviderOption) (*Runner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := append([]goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(logger),
	}, extra...)
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrate: new provider: %w", err)
	}
	return &Runner{p: p}, nil
}

// Up applies every pending migration.
func (r *Runner) Up(ctx context.Context) error {
	if _, err := r.p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// Down rolls back the most recently applied migration; with none applied it
// does nothing, so that `vitals migrate down` twice is not an error.
func (r *Runner) Down(ctx context.Context) error {
	if _, err := r.p.Down(ctx); err != nil && !errors.Is(err, goose.ErrNoNextVersion) {
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// DownTo rolls back every applied migration above version.
func (r *Runner) DownTo(ctx context.Context, version int64) error {
	if _, err := r.p.DownTo(ctx, version); err != nil {
		return fmt.Errorf("migrate down to %d: %w", version, err)
	}
	return nil
}

// Status lists every known migration, oldest first.
func (r *Runner) Status(ctx context.Context) ([]storage.MigrationStatus, error) {
	st, err := r.p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	out := make([]storage.MigrationStatus, 0, len(st))
	for _, m := range st {
		s := storage.MigrationStatus{Applied: m.State == goose.StateApplied, AppliedAt: m.AppliedAt}
		if m.Source != nil {
			s.Version = m.Source.Version
			s.Name = path.Base(m.Source.Path)
		}
		out = append(out, s)
	}
	return out, nil
}
