// Package cli is the vitals command line: it dispatches to the command
// named by the first argument (serve, the default, or one of the one-off
// commands), parses its flags and settings, and turns the outcome into an
// exit status.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vitalsdev/vitals/internal/app"
	"github.com/vitalsdev/vitals/internal/config"
)

// Main runs the command of the process's arguments and returns its exit
// status.
func Main() int {
	return runIO(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
}

// run is Main without the process: it returns the exit status, so tests can
// drive the real start-up path. Standard input is empty.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runIO(args, getenv, strings.NewReader(""), stdout, stderr)
}

// Exit statuses: 0 done, 1 failed while running, 2 bad usage or
// configuration (nothing was changed).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// command runs one command with its arguments (the command's name removed).
type command func(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int

// commands are every command by name.
func commands() map[string]command {
	return map[string]command{
		"serve": func(args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) int {
			ctx, stop := signalContext()
			defer stop()
			return serve(ctx, args, getenv, stdout, stderr, nil)
		},
		"migrate":     noStdin(cmdMigrate),
		"healthcheck": noStdin(cmdHealthcheck),
		// Posts one event through the Go client (cmd_event.go).
		"event": noStdin(cmdEvent),
		// Stored API tokens: create, list, revoke (cmd_token.go).
		"token": noStdin(cmdToken),
		"admin": cmdAdmin,
		"demo":  noStdin(cmdDemo),
		"version": func(args []string, _ func(string) string, _ io.Reader, stdout, stderr io.Writer) int {
			return cmdVersion(args, stdout, stderr)
		},
	}
}

// noStdin adapts a command that reads no standard input.
func noStdin(f func(args []string, getenv func(string) string, stdout, stderr io.Writer) int) command {
	return func(args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) int {
		return f(args, getenv, stdout, stderr)
	}
}

// runIO dispatches to the command named by the first argument; without one
// (or with a flag first) it serves.
func runIO(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "help" || a == "-h" || a == "--help" || a == "-help":
			if len(args) > 1 && args[0] == "help" {
				// "vitals help migrate" is "vitals migrate --help".
				return runIO([]string{args[1], "--help"}, getenv, stdin, stdout, stderr)
			}
			fmt.Fprint(stdout, usage)
			return exitOK
		case a != "" && a[0] != '-':
			name, args = a, args[1:]
		}
	}
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(stderr, "vitals: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	return cmd(args, getenv, stdin, stdout, stderr)
}

const usage = `usage: vitals [command] [flags]

commands:
  serve         serve the dashboard, the API and /health (the default)
  migrate       apply, roll back or list the store's migrations: up | down | status
  healthcheck   exit 0 when the local server's /health passes (for container health checks)
  event         post one event to a vitals server
  token         create, list or revoke API tokens
  admin         set-password: replace the admin password kept in the store
  demo          fill a development store with a day of realistic events
  version       print the version

Run "vitals <command> --help" for a command's flags; each mirrors an
environment variable (the README lists them all).
`

// signalContext is cancelled by the first SIGINT or SIGTERM. After that a
// second Ctrl-C (SIGINT) stops at once instead of waiting for the graceful
// shutdown, while further SIGTERMs are ignored: a supervisor repeating its
// stop request must not cut the shutdown short. stop cancels it and waits
// for its goroutine.
func signalContext() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer signal.Stop(ch)
		select {
		case <-ch:
			signal.Ignore(syscall.SIGTERM)
			signal.Reset(os.Interrupt)
			cancel()
		case <-ctx.Done():
		}
	})
	return ctx, func() { cancel(); wg.Wait() }
}

// serve is `vitals serve`: it runs the server (internal/app) until ctx is
// done, then shuts down gracefully: stop accepting, let the requests in
// flight finish (within VITALS_SHUTDOWN_TIMEOUT), stop the background
// work, and close the store. When ready is not nil the listener's address
// is sent on it once the server accepts connections.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) int {
	started := time.Now()
	cfg, err := config.Load(args, getenv, stdout)
	if err != nil {
		if errors.Is(err, config.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "vitals:", err)
		return exitUsage
	}
	a, err := app.New(ctx, cfg, app.Options{Stdout: stdout, Stderr: stderr, Getenv: getenv, Started: started, Ready: ready})
	var bad *config.Error
	switch {
	case errors.As(err, &bad):
		fmt.Fprintln(stderr, "vitals:", err)
		return exitUsage
	case err != nil:
		// New has logged what failed.
		return exitFailed
	}
	if err := a.Run(ctx); err != nil {
		return exitFailed
	}
	return exitOK
}
