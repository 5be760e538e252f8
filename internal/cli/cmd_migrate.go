package cli

import (
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
	spec := config.Command{
		Usage: "vitals migrate up|down [VERSION]|status [flags]",
		About: "Moves or lists the store's schema migrations (embedded in the binary):\n" +
			"  up               apply every pending migration\n" +
			"  down             roll back the most recently applied migration\n" +
			"  down VERSION     roll back every applied migration above VERSION (0: all)\n" +
			"  status           list every migration, applied (when) or pending\n" +
			"The store is DATABASE_URL's PostgreSQL schema, or the SQLite file in VITALS_DATA_DIR.",
	}
	// The action may come before or after the flags.
	var action string
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		action, args = args[0], args[1:]
	}
	cfg, rest, code, done := parseCommand("vitals migrate", spec, storeSettings(), args, getenv, stdout, stderr)
	if done {
		return code
	}
	if action == "" && len(rest) > 0 {
		action, rest = rest[0], rest[1:]
	}
	downTo := int64(-1)
	switch {
	case action == "":
		return usageError(stderr, spec, "vitals migrate: say up, down or status")
	case action != "up" && action != "down" && action != "status":
		return usageError(stderr, spec, "vitals migrate: unknown action %q", action)
	case action == "down" && len(rest) == 1:
		v, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || v < 0 {
			return usageError(stderr, spec, "vitals migrate down: VERSION must be a whole number, 0 or more, got %q", rest[0])
		}
		downTo, rest = v, nil
	}
	if len(rest) > 0 {
		return usageError(stderr, spec, "vitals migrate %s: unexpected argument %q", action, rest[0])
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
	switch {
	case action == "up":
		err = m.MigrateUp(ctx)
	case action == "down" && downTo >= 0:
		err = m.MigrateDownTo(ctx, downTo)
	case action == "down":
		err = m.MigrateDown(ctx)
	}
	if err != nil {
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
