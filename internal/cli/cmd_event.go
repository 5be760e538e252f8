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
	var f eventFlags
	spec := f.command()
	_, rest, code, done := parseCommand("vitals event", spec, []string{}, args, getenv, stdout, stderr)
	if done {
		return code
	}
	if len(rest) > 0 {
		return usageError(stderr, spec, "vitals event: unexpected argument %q", rest[0])
	}
	ev, msg := f.resolve(getenv)
	if msg != "" {
		return usageError(stderr, spec, "%s", msg)
	}
	return sendEvent(f, ev, spec, stderr)
}

// eventFlags are `vitals event`'s flags.
type eventFlags struct {
	url, token, typ, message, email, details, key string
	timeout                                       time.Duration
}

// command is `vitals event`, its flags filling f.
func (f *eventFlags) command() config.Command {
	return config.Command{
		Usage: "vitals event --type TYPE --message TEXT [--email ADDRESS] [--details JSON] [flags]",
		About: "Posts one activity event to a vitals server with an ingest token and waits until it is\n" +
			"stored, retrying while the server is unreachable or busy. Exits 0 when stored, 2 when the\n" +
			"event or a flag is wrong (nothing sent), 1 when the server refused it or --timeout ran out.\n\n" +
			"  vitals event --type stream_started --message \"Stream started\" --details '{\"bitrate\":128}'",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&f.url, "url", "", "vitals' base URL (env VITALS_URL; default "+defaultEventURL+")")
			fs.StringVar(&f.token, "token", "", "ingest token (env VITALS_INGEST_TOKEN; the first one when it lists several)")
			fs.StringVar(&f.typ, "type", "", "event type: lower-case letters, digits, '_' and '.', e.g. user_registered (required)")
			fs.StringVar(&f.message, "message", "", "what happened, 1 to 2000 characters (required)")
			fs.StringVar(&f.email, "email", "", "the user's email address, if a user is concerned")
			fs.StringVar(&f.details, "details", "", "a JSON object with anything else, e.g. '{\"plan\":\"free\"}'")
			fs.StringVar(&f.key, "idempotency-key", "", "at most 64 characters; posting the same key again stores nothing new (default: a random key per run)")
			fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to keep trying to deliver (default 30s)")
		},
	}
}

// resolve fills the URL and the token from the environment where the
// flags left them out, and makes the event; msg says what is wrong, or is
// "".
func (f *eventFlags) resolve(getenv func(string) string) (ev client.Event, msg string) {
	if f.url == "" {
		f.url = getenv("VITALS_URL")
	}
	if f.url == "" {
		f.url = defaultEventURL
	}
	if f.token == "" {
		// The server's variable may list several tokens; any one will do.
		f.token, _, _ = strings.Cut(getenv("VITALS_INGEST_TOKEN"), ",")
		f.token = strings.TrimSpace(f.token)
	}
	switch {
	case !strings.HasPrefix(f.url, "http://") && !strings.HasPrefix(f.url, "https://"):
		return ev, "vitals event: --url (or VITALS_URL) must start with http:// or https://"
	case f.token == "":
		return ev, "vitals event: an ingest token is needed: --token or VITALS_INGEST_TOKEN"
	case f.timeout <= 0:
		return ev, "vitals event: --timeout must be positive"
	}
	ev = client.Event{Type: f.typ, Message: f.message, UserEmail: f.email, IdempotencyKey: f.key}
	if f.details != "" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(f.details), &obj); err != nil || obj == nil {
			return ev, "vitals event: --details must be a JSON object, e.g. '{\"plan\":\"free\"}'"
		}
		ev.Details = json.RawMessage(bytes.TrimSpace([]byte(f.details)))
	}
	return ev, ""
}

// sendEvent delivers ev through the Go client within f.timeout and says
// how it went.
func sendEvent(f eventFlags, ev client.Event, spec config.Command, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	var o eventOutcome
	c, err := client.New(client.Config{
		URL: f.url, Token: f.token,
		BatchSize: 1, FlushInterval: time.Millisecond,
		MinBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second,
		RequestTimeout: min(f.timeout, 10*time.Second),
		OnDrop:         o.dropped,
		OnRetry:        func(err error, _ time.Duration) { o.retried(err, cancel) },
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
	o.report(stderr, c, f.timeout)
	return exitFailed
}

// eventOutcome gathers what the client reported while delivering.
type eventOutcome struct {
	mu                sync.Mutex
	dropReason, fatal error
}

func (o *eventOutcome) dropped(_ []client.Event, reason error) {
	o.mu.Lock()
	o.dropReason = reason
	o.mu.Unlock()
}

// retried gives up at once (cancel) on an answer that a wrong token or URL
// gets: it will not mend itself within one run, so say so now rather than
// after the timeout.
func (o *eventOutcome) retried(err error, cancel context.CancelFunc) {
	var se *client.StatusError
	if errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden || se.StatusCode == http.StatusNotFound) {
		o.mu.Lock()
		o.fatal = err
		o.mu.Unlock()
		cancel()
	}
}

// report says why the event was not stored.
func (o *eventOutcome) report(stderr io.Writer, c *client.Client, timeout time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var rej *client.RejectedError
	switch {
	case o.fatal != nil:
		fmt.Fprintf(stderr, "vitals event: not stored: %s (check --url and --token)\n", strings.TrimPrefix(o.fatal.Error(), "vitals client: "))
	case errors.As(o.dropReason, &rej):
		msg := rej.Detail
		for _, f := range rej.Errors {
			msg += "; " + f.Field + " " + f.Message
		}
		fmt.Fprintf(stderr, "vitals event: the server refused the event (%d): %s\n", rej.Status, msg)
	default:
		last := c.Stats().LastError
		if last == nil {
			last = o.dropReason
		}
		fmt.Fprintf(stderr, "vitals event: not stored within %s: %v\n", timeout, strings.TrimPrefix(fmt.Sprint(last), "vitals client: "))
	}
}
