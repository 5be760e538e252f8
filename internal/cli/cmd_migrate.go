package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/vitalsdev/vitals/internal/config"
	"github.com/vitalsdev/vitals/storage"
)

// cmdMigrate is `vitals migrate up|down|status`: the store's schema moved
// or listed on its own, for a deploy step (Fly's release_command) or before
// going back to an older binary. `vitals serve` applies pending migrations
// by itself; this is for doing it apart from the server.
func cmdMigrate(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	spec := migrateCommand()
	// The action may come before or after the flags.
	action, args := leadingWord(args)
	cfg, rest, code, done := parseCommand("vitals migrate", spec, storeSettings(), args, getenv, stdout, stderr)
	if done {
		return code
	}
	action, rest = shift(action, rest)
	downTo, msg := migrateArgs(action, rest)
	if msg != "" {
		return usageError(stderr, spec, "%s", msg)
	}

	ctx, cancel := commandContext()
	defer cancel()
	store, where, err := openCommandStore(ctx, cfg, true, commandLogger(stderr, action != "status"))
	if err != nil {
		fmt.Fprintln(stderr, "vitals migrate:", err)
		return exitFailed
	}
	defer store.Close()
	m, ok := store.(storage.Migrator)
	if !ok {
		fmt.Fprintf(stderr, "vitals migrate: the %s store has no migrations\n", store.Backend())
		return exitFailed
	}
	if err := migrate(ctx, m, action, downTo); err != nil {
		fmt.Fprintf(stderr, "vitals migrate %s: %v\n", action, err)
		return exitFailed
	}
	list, err := m.MigrationStatus(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "vitals migrate status: %v\n(a PostgreSQL schema that was never migrated has no migration table yet: `vitals migrate up` creates it)\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "store: %s\n", where)
	printMigrations(stdout, list)
	return exitOK
}

// migrateCommand is `vitals migrate`, for its --help.
func migrateCommand() config.Command {
	return config.Command{
		Usage: "vitals migrate up|down [VERSION]|status [flags]",
		About: "Moves or lists the store's schema migrations (embedded in the binary):\n" +
			"  up               apply every pending migration\n" +
			"  down             roll back the most recently applied migration\n" +
			"  down VERSION     roll back every applied migration above VERSION (0: all)\n" +
			"  status           list every migration, applied (when) or pending\n" +
			"The store is DATABASE_URL's PostgreSQL schema, or the SQLite file in VITALS_DATA_DIR.",
	}
}

// migrateArgs checks the action and the arguments after it: downTo is
// down's VERSION (-1 without one); msg says what is wrong, or is "".
func migrateArgs(action string, rest []string) (downTo int64, msg string) {
	downTo = -1
	switch {
	case action == "":
		return downTo, "vitals migrate: say up, down or status"
	case action != "up" && action != "down" && action != "status":
		return downTo, fmt.Sprintf("vitals migrate: unknown action %q", action)
	case action == "down" && len(rest) == 1:
		v, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || v < 0 {
			return downTo, fmt.Sprintf("vitals migrate down: VERSION must be a whole number, 0 or more, got %q", rest[0])
		}
		downTo, rest = v, nil
	}
	if len(rest) > 0 {
		return downTo, fmt.Sprintf("vitals migrate %s: unexpected argument %q", action, rest[0])
	}
	return downTo, ""
}

// migrate moves the schema as action says; status moves nothing.
func migrate(ctx context.Context, m storage.Migrator, action string, downTo int64) error {
	switch {
	case action == "up":
		return m.MigrateUp(ctx)
	case action == "down" && downTo >= 0:
		return m.MigrateDownTo(ctx, downTo)
	case action == "down":
		return m.MigrateDown(ctx)
	}
	return nil
}

// printMigrations writes the migration list as an aligned table.
func printMigrations(w io.Writer, list []storage.MigrationStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATE")
	for _, m := range list {
		state := "pending"
		if m.Applied {
			state = "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, state)
	}
	_ = tw.Flush()
}
