package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vitalsdev/vitals/client"
	"github.com/vitalsdev/vitals/internal/config"
)

// defaultEventURL is where `vitals event` posts when neither --url nor
// VITALS_URL says otherwise: a vitals running locally with the defaults.
const defaultEventURL = "http://localhost:8080"

// cmdEvent is `vitals event`: post one event through the Go client, for
// shell scripts and cron. It exits 0 once the server has stored the event
// (or had it already, under the same idempotency key), 2 when the event or
// the flags are wrong (nothing was sent), 1 when the server refused it or
// could not be reached in time. It prints nothing on success, so that cron
// mails nothing.
func cmdEvent(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var (
		url, token, typ, message, email, details, key string
		timeout                                       time.Duration
	)
	spec := config.Command{
		Usage: "vitals event --type TYPE --message TEXT [--email ADDRESS] [--details JSON] [flags]",
		About: "Posts one activity event to a vitals server with an ingest token and waits until it is\n" +
			"stored, retrying while the server is unreachable or busy. Exits 0 when stored, 2 when the\n" +
			"event or a flag is wrong (nothing sent), 1 when the server refused it or --timeout ran out.\n\n" +
			"  vitals event --type stream_started --message \"Stream started\" --details '{\"bitrate\":128}'",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&url, "url", "", "vitals' base URL (env VITALS_URL; default "+defaultEventURL+")")
			fs.StringVar(&token, "token", "", "ingest token (env VITALS_INGEST_TOKEN; the first one when it lists several)")
			fs.StringVar(&typ, "type", "", "event type: lower-case letters, digits, '_' and '.', e.g. user_registered (required)")
			fs.StringVar(&message, "message", "", "what happened, 1 to 2000 characters (required)")
			fs.StringVar(&email, "email", "", "the user's email address, if a user is concerned")
			fs.StringVar(&details, "details", "", "a JSON object with anything else, e.g. '{\"plan\":\"free\"}'")
			fs.StringVar(&key, "idempotency-key", "", "at most 64 characters; posting the same key again stores nothing new (default: a random key per run)")
			fs.DurationVar(&timeout, "timeout", 30*time.Second, "how long to keep trying to deliver (default 30s)")
		},
	}
	_, rest, code, done := parseCommand("vitals event", spec, []string{}, args, getenv, stdout, stderr)
	if done {
		return code
	}
	if len(rest) > 0 {
		return usageError(stderr, spec, "vitals event: unexpected argument %q", rest[0])
	}
	if url == "" {
		url = getenv("VITALS_URL")
	}
	if url == "" {
		url = defaultEventURL
	}
	if token == "" {
		// The server's variable may list several tokens; any one will do.
		token, _, _ = strings.Cut(getenv("VITALS_INGEST_TOKEN"), ",")
		token = strings.TrimSpace(token)
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return usageError(stderr, spec, "vitals event: --url (or VITALS_URL) must start with http:// or https://")
	}
	if token == "" {
		return usageError(stderr, spec, "vitals event: an ingest token is needed: --token or VITALS_INGEST_TOKEN")
	}
	if timeout <= 0 {
		return usageError(stderr, spec, "vitals event: --timeout must be positive")
	}
	ev := client.Event{Type: typ, Message: message, UserEmail: email, IdempotencyKey: key}
	if details != "" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(details), &obj); err != nil || obj == nil {
			return usageError(stderr, spec, "vitals event: --details must be a JSON object, e.g. '{\"plan\":\"free\"}'")
		}
		ev.Details = json.RawMessage(bytes.TrimSpace([]byte(details)))
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var mu sync.Mutex
	var dropReason, fatal error
	c, err := client.New(client.Config{
		URL: url, Token: token,
		BatchSize: 1, FlushInterval: time.Millisecond,
		MinBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second,
		RequestTimeout: min(timeout, 10*time.Second),
		OnDrop: func(_ []client.Event, reason error) {
			mu.Lock()
			dropReason = reason
			mu.Unlock()
		},
		OnRetry: func(err error, _ time.Duration) {
			// A wrong token or URL will not mend itself within one run:
			// say so now rather than after the timeout.
			var se *client.StatusError
			if errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden || se.StatusCode == http.StatusNotFound) {
				mu.Lock()
				fatal = err
				mu.Unlock()
				cancel()
			}
		},
	})
	if err != nil {
		return usageError(stderr, spec, "vitals event: %v", err)
	}
	if err := c.Log(ctx, ev); err != nil {
		_ = c.Close(ctx)
		if errors.Is(err, client.ErrInvalidEvent) {
			return usageError(stderr, spec, "vitals event: %s", strings.TrimPrefix(err.Error(), "vitals client: "))
		}
		fmt.Fprintln(stderr, "vitals event:", err)
		return exitFailed
	}
	if err := c.Close(ctx); err == nil {
		return exitOK
	}
	mu.Lock()
	defer mu.Unlock()
	var rej *client.RejectedError
	switch {
	case fatal != nil:
		fmt.Fprintf(stderr, "vitals event: not stored: %s (check --url and --token)\n", strings.TrimPrefix(fatal.Error(), "vitals client: "))
	case errors.As(dropReason, &rej):
		msg := rej.Detail
		for _, f := range rej.Errors {
			msg += "; " + f.Field + " " + f.Message
		}
		fmt.Fprintf(stderr, "vitals event: the server refused the event (%d): %s\n", rej.Status, msg)
	default:
		last := c.Stats().LastError
		if last == nil {
			last = dropReason
		}
		fmt.Fprintf(stderr, "vitals event: not stored within %s: %v\n", timeout, strings.TrimPrefix(fmt.Sprint(last), "vitals client: "))
	}
	return exitFailed
}
