// Package migrate runs the embedded goose migrations for a store through the
// goose Provider API. It keeps no goose global state (no SetDialect, no
// SetBaseFS, no global Go migrations), so two stores of different dialects can
// live in one process, as they do in the tests.
//
// A Runner is also both stores' storage.Migrator: each embeds one, so that
// `vitals migrate up|down|status` works the same on either backend.
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
	"github.com/pressly/goose/v3/lock"

	"github.com/vitalsdev/vitals/storage"
)

// Options configure a Runner.
type Options struct {
	// Logger receives goose's progress lines; nil discards them.
	Logger *slog.Logger
	// Wrap adds the store's context to the errors of the
	// storage.Migrator methods ("sqlite: ...", or PostgreSQL's
	// unavailability); nil leaves them as they are.
	Wrap func(error) error
	// BeforeUp, when set, runs before every Up (PostgreSQL creates its
	// schema there).
	BeforeUp func(ctx context.Context) error
	// Locker, when set, serialises migrations across processes.
	Locker lock.SessionLocker
}

// Runner applies and rolls back one dialect's migrations on one database.
type Runner struct {
	p    *goose.Provider
	opts Options
}

// Compile-time check that a Runner is the stores' Migrator.
var _ storage.Migrator = (*Runner)(nil)

// New prepares a runner; it does not touch the database.
func New(dialect goose.Dialect, db *sql.DB, fsys fs.FS, opts Options) (*Runner, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	po := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(logger),
	}
	if opts.Locker != nil {
		po = append(po, goose.WithSessionLocker(opts.Locker))
	}
	p, err := goose.NewProvider(dialect, db, fsys, po...)
	if err != nil {
		return nil, fmt.Errorf("migrate: new provider: %w", err)
	}
	if opts.Wrap == nil {
		opts.Wrap = func(err error) error { return err }
	}
	return &Runner{p: p, opts: opts}, nil
}

// Up runs BeforeUp, then applies every pending migration; its error is not
// wrapped, for the store's own start-up path.
func (r *Runner) Up(ctx context.Context) error {
	if r.opts.BeforeUp != nil {
		if err := r.opts.BeforeUp(ctx); err != nil {
			return err
		}
	}
	if _, err := r.p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// MigrateUp applies every pending migration.
func (r *Runner) MigrateUp(ctx context.Context) error {
	if err := r.Up(ctx); err != nil {
		return r.opts.Wrap(err)
	}
	return nil
}

// MigrateDown rolls back the most recently applied migration; with none
// applied it does nothing, so that `vitals migrate down` twice is not an
// error.
func (r *Runner) MigrateDown(ctx context.Context) error {
	if _, err := r.p.Down(ctx); err != nil && !errors.Is(err, goose.ErrNoNextVersion) {
		return r.opts.Wrap(fmt.Errorf("migrate down: %w", err))
	}
	return nil
}

// MigrateDownTo rolls back every applied migration above version.
func (r *Runner) MigrateDownTo(ctx context.Context, version int64) error {
	if _, err := r.p.DownTo(ctx, version); err != nil {
		return r.opts.Wrap(fmt.Errorf("migrate down to %d: %w", version, err))
	}
	return nil
}

// MigrationStatus lists every known migration, oldest first.
func (r *Runner) MigrationStatus(ctx context.Context) ([]storage.MigrationStatus, error) {
	st, err := r.p.Status(ctx)
	if err != nil {
		return nil, r.opts.Wrap(fmt.Errorf("migrate status: %w", err))
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
