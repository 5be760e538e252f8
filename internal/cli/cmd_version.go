package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/vitalsdev/vitals/internal/config"
	"github.com/vitalsdev/vitals/internal/version"
)

// cmdVersion is `vitals version`: the version set at build time, the Go
// release and the source revision when the build recorded one.
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	spec := config.Command{Usage: "vitals version", About: "Prints the version, the Go release and the source revision."}
	noEnv := func(string) string { return "" }
	_, rest, code, done := parseCommand("vitals version", spec, []string{}, args, noEnv, stdout, stderr)
	if done {
		return code
	}
	if len(rest) > 0 {
		return usageError(stderr, spec, "vitals version: unexpected argument %q", rest[0])
	}
	line := "vitals " + version.Version + " (" + runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				line += ", " + s.Value[:12]
			}
		}
	}
	fmt.Fprintln(stdout, line+")")
	return exitOK
}
