package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vitalsdev/vitals/internal/config"
	"github.com/vitalsdev/vitals/internal/logging"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/sqlite"
)

// commandTimeout bounds a one-off command that talks to the store, so that
// a database that accepts and never answers cannot hang a deploy step.
const commandTimeout = 2 * time.Minute

// parseCommand reads a command's own flags and the settings named in only.
// done is true when the command must return code at once: its --help was
// printed (0), or a flag or setting was bad (2, said on stderr).
func parseCommand(name string, spec config.Command, only, args []string, getenv func(string) string, stdout, stderr io.Writer) (cfg config.Config, rest []string, code int, done bool) {
	cfg, rest, err := config.LoadCommand(spec, only, args, getenv, stdout)
	if errors.Is(err, config.ErrHelp) {
		return cfg, nil, exitOK, true
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return cfg, nil, exitUsage, true
	}
	return cfg, rest, exitOK, false
}

// usageError reports a wrong argument with the command's synopsis and
// returns exit status 2.
func usageError(stderr io.Writer, spec config.Command, format string, a ...any) int {
	fmt.Fprintf(stderr, "%s\nusage: %s (see --help)\n", fmt.Sprintf(format, a...), spec.Usage)
	return exitUsage
}

// leadingWord splits off the first argument when it is a word, not a
// flag: a command's action may come before its flags.
func leadingWord(args []string) (string, []string) {
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "", args
}

// shift fills word, when it is still empty, with the first of the
// arguments left after the flags: the action may come after them too.
func shift(word string, rest []string) (string, []string) {
	if word == "" && len(rest) > 0 {
		return rest[0], rest[1:]
	}
	return word, rest
}

// storeSettings are the variables that say where the store is, read by
// every command that opens it.
func storeSettings() []string {
	return []string{"DATABASE_URL", "VITALS_DATA_DIR", "VITALS_PG_SCHEMA", "VITALS_SQLITE_SYNC", "VITALS_EVENTS_KEEP"}
}

// commandContext is cancelled by SIGINT or SIGTERM, or after commandTimeout.
func commandContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	return ctx, func() { cancel(); stop() }
}

// commandLogger is a one-off command's logger: text on stderr, warnings
// and errors only unless verbose.
func commandLogger(stderr io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(stderr, logging.HandlerOptions(level)))
}

// openCommandStore opens the store a one-off command works on, and says
// which it is in words fit to print (never a password). The store is
// migrated and, on PostgreSQL, connected in one attempt; with migrateOnly it
// is opened as it is, for the Migrator methods alone (`vitals migrate`).
func openCommandStore(ctx context.Context, cfg config.Config, migrateOnly bool, logger *slog.Logger) (storage.Store, string, error) {
	if cfg.DatabaseURL == "" {
		s, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "vitals.db"), sqlite.Options{
			EventsKeep: cfg.EventsKeep, SyncFull: cfg.SQLiteSyncFull, Logger: logger, MigrateOnly: migrateOnly,
		})
		if err != nil {
			return nil, "", err
		}
		return s, "sqlite " + s.Path(), nil
	}
	s, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Schema: cfg.PGSchema, EventsKeep: cfg.EventsKeep, Logger: logger})
	if err != nil {
		return nil, "", err
	}
	if !migrateOnly {
		if err := s.Connect(ctx); err != nil {
			_ = s.Close()
			return nil, "", err
		}
	}
	return s, "postgres " + config.RedactURL(cfg.DatabaseURL) + ", schema " + cfg.PGSchema, nil
}
