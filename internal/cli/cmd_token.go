package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/internal/config"
	"github.com/vitalsdev/vitals/storage"
)

// tokenNamePattern is what a token's name may be: it starts with a letter,
// so that `vitals token revoke 12` can only mean the id.
var tokenNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// cmdToken is `vitals token create|list|revoke`: API tokens kept in the
// store (as SHA-256 hashes), beside VITALS_READ_TOKEN and
// VITALS_INGEST_TOKEN, so that tokens can be rotated without a restart.
// Running servers pick a change up within a second.
func cmdToken(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var req tokenRequest
	spec := tokenCommand(&req)
	// The action, and revoke's target, may come before the flags.
	req.action, args = leadingWord(args)
	if req.action == "revoke" {
		req.target, args = leadingWord(args)
	}
	cfg, rest, code, done := parseCommand("vitals token", spec, storeSettings(), args, getenv, stdout, stderr)
	if done {
		return code
	}
	req.action, rest = shift(req.action, rest)
	if req.action == "revoke" {
		req.target, rest = shift(req.target, rest)
	}
	if msg := req.check(rest); msg != "" {
		return usageError(stderr, spec, "%s", msg)
	}

	ctx, cancel := commandContext()
	defer cancel()
	store, where, err := openCommandStore(ctx, cfg, false, commandLogger(stderr, false))
	if err != nil {
		fmt.Fprintf(stderr, "vitals token %s: %v\n", req.action, err)
		return exitFailed
	}
	defer store.Close()
	switch req.action {
	case "create":
		return tokenCreate(ctx, store, where, req.name, req.kind, stdout, stderr)
	case "list":
		return tokenList(ctx, store, stdout, stderr)
	default:
		return tokenRevoke(ctx, store, req.target, stdout, stderr)
	}
}

// tokenRequest is what `vitals token` was asked to do.
type tokenRequest struct {
	action, target string
	// name and kind are create's flags.
	name, kind string
}

// tokenCommand is `vitals token`, its flags filling req.
func tokenCommand(req *tokenRequest) config.Command {
	return config.Command{
		Usage: "vitals token create --name NAME --kind read|ingest|admin | list | revoke NAME|ID [flags]",
		About: "Manages the API tokens kept in the store; running servers accept or refuse a\n" +
			"change within a second, on every instance. Only a token's SHA-256 is stored.\n" +
			"  create   make a token; it is printed once, alone on standard output:\n" +
			"           TOKEN=$(vitals token create --name ci --kind ingest)\n" +
			"           read tokens read the JSON API and /metrics; ingest tokens post events;\n" +
			"           admin tokens erase one person's events (DELETE /api/v1/events) and read nothing\n" +
			"  list     list every token: id, name, kind, when made, last used, revoked\n" +
			"  revoke   refuse a token from now on, by its name (a live token's) or its id\n" +
			"Creating and revoking a token is recorded in the activity feed (never the token).\n" +
			"The tokens from VITALS_READ_TOKEN and VITALS_INGEST_TOKEN keep working beside these.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&req.name, "name", "", "create: the token's name (a letter, then letters, digits, '_', '.', '-'; at most 64)")
			fs.StringVar(&req.kind, "kind", "", "create: read, ingest or admin")
		},
	}
}

// check says what is wrong with the request and the arguments left after
// it, or "" when nothing is.
func (r tokenRequest) check(rest []string) string {
	switch r.action {
	case "create":
		switch {
		case !tokenNamePattern.MatchString(r.name):
			return fmt.Sprintf("vitals token create: --name must be a letter, then letters, digits, '_', '.' or '-', at most 64 characters; got %q", r.name)
		case r.kind != storage.TokenRead && r.kind != storage.TokenIngest && r.kind != storage.TokenAdmin:
			return fmt.Sprintf("vitals token create: --kind must be read, ingest or admin, got %q", r.kind)
		}
	case "list", "revoke":
		if r.name != "" || r.kind != "" {
			return fmt.Sprintf("vitals token %s: --name and --kind are for create", r.action)
		}
		if r.action == "revoke" && r.target == "" {
			return "vitals token revoke: say which token, by name or id"
		}
	case "":
		return "vitals token: say create, list or revoke"
	default:
		return fmt.Sprintf("vitals token: unknown action %q", r.action)
	}
	if len(rest) > 0 {
		return fmt.Sprintf("vitals token %s: unexpected argument %q", r.action, rest[0])
	}
	return ""
}

func tokenCreate(ctx context.Context, store storage.Store, where, name, kind string, stdout, stderr io.Writer) int {
	token, hash := handlers.NewToken()
	t, err := store.CreateToken(ctx, storage.NewToken{Name: name, Kind: kind, Hash: hash})
	if errors.Is(err, storage.ErrConflict) {
		fmt.Fprintf(stderr, "vitals token create: a token named %q exists; revoke it first or choose another name\n", name)
		return exitFailed
	}
	if err != nil {
		fmt.Fprintln(stderr, "vitals token create:", err)
		return exitFailed
	}
	recordTokenEvent(ctx, store, storage.TypeTokenCreated, fmt.Sprintf("API token %q (%s) created", t.Name, t.Kind), t, stderr)
	// The token alone on standard output, for $(...); the words around it
	// on standard error. The one secret vitals prints, because it was asked
	// for, and only this once.
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stderr, "Token %q (%s, id %d) created in %s. It is shown only this once.\n"+
		"Send it as \"Authorization: Bearer <token>\"; running servers accept it within a second.\n",
		t.Name, t.Kind, t.ID, where)
	return exitOK
}

func tokenList(ctx context.Context, store storage.Store, stdout, stderr io.Writer) int {
	list, err := store.Tokens(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "vitals token list:", err)
		return exitFailed
	}
	if len(list) == 0 {
		fmt.Fprintln(stderr, "No stored tokens. Make one with: vitals token create --name NAME --kind read|ingest")
		return exitOK
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tKIND\tCREATED\tLAST USED\tREVOKED")
	for _, t := range list {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Kind, t.CreatedAt.Format(listTime),
			timeOr(t.LastUsedAt, "never"), timeOr(t.RevokedAt, "-"))
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(stderr, "vitals token list:", err)
		return exitFailed
	}
	return exitOK
}

// listTime is how `vitals token list` shows times: UTC, to the second.
const listTime = "2006-01-02 15:04:05Z"

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(listTime)
}

func tokenRevoke(ctx context.Context, store storage.Store, target string, stdout, stderr io.Writer) int {
	list, err := store.Tokens(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "vitals token revoke:", err)
		return exitFailed
	}
	var found *storage.Token
	if id, err := strconv.ParseInt(target, 10, 64); err == nil {
		for i := range list {
			if list[i].ID == id {
				found = &list[i]
			}
		}
	} else {
		for i := range list {
			if list[i].Name == target && list[i].RevokedAt == nil {
				found = &list[i]
			}
		}
	}
	if found == nil {
		fmt.Fprintf(stderr, "vitals token revoke: no live token named %q and no token with that id (see vitals token list)\n", target)
		return exitFailed
	}
	if found.RevokedAt != nil {
		fmt.Fprintf(stdout, "Token %q (id %d) was already revoked at %s.\n", found.Name, found.ID, found.RevokedAt.UTC().Format(listTime))
		return exitOK
	}
	t, err := store.RevokeToken(ctx, found.ID)
	if err != nil {
		fmt.Fprintln(stderr, "vitals token revoke:", err)
		return exitFailed
	}
	recordTokenEvent(ctx, store, storage.TypeTokenRevoked, fmt.Sprintf("API token %q (%s) revoked", t.Name, t.Kind), t, stderr)
	fmt.Fprintf(stdout, "Token %q (%s, id %d) revoked; running servers refuse it within a second.\n", t.Name, t.Kind, t.ID)
	return exitOK
}

// recordTokenEvent writes the activity event of a change to the tokens;
// the change is made either way, so a failure is only reported.
func recordTokenEvent(ctx context.Context, store storage.Store, typ, message string, t storage.Token, stderr io.Writer) {
	details, _ := json.Marshal(map[string]any{"token_id": t.ID, "name": t.Name, "kind": t.Kind}) // always encodes
	if _, err := store.InsertEvents(ctx, []storage.NewEvent{{Type: typ, Message: message, Details: details, Source: storage.SourceVitals}}); err != nil {
		fmt.Fprintf(stderr, "vitals token: the change is made, but recording it in the activity feed failed: %v\n", err)
	}
}
