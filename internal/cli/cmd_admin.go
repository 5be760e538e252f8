package cli

import (
	"bufio"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/internal/app"
	"github.com/vitalsdev/vitals/internal/config"
)

// minAdminPassword is the shortest admin password accepted, the same rule
// as for VITALS_ADMIN_PASSWORD.
const minAdminPassword = 8

// cmdAdmin is `vitals admin set-password`: a new admin password, of which
// only the bcrypt hash is stored, replacing the generated one. The password
// never travels as an argument (other users of the machine could read it in
// the process list): it is typed at a prompt, read from standard input, or
// generated and printed once.
func cmdAdmin(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	var generate bool
	spec := config.Command{
		Usage: "vitals admin set-password [--generate] [flags]",
		About: "Replaces the admin password kept in the store (only its bcrypt hash is stored).\n" +
			"The password is typed twice at a prompt when standard input is a terminal, else read\n" +
			"from its first line (echo ... | vitals admin set-password); --generate makes a random\n" +
			"one and prints it once. Every session ends; running servers take the change within a minute.\n" +
			"VITALS_ADMIN_PASSWORD, when set on a server, wins over the stored password.",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&generate, "generate", false, "generate a random password and print it once")
		},
	}
	action, args := leadingWord(args)
	cfg, rest, code, done := parseCommand("vitals admin", spec, storeSettings(), args, getenv, stdout, stderr)
	if done {
		return code
	}
	action, rest = shift(action, rest)
	if msg := adminArgs(action, rest); msg != "" {
		return usageError(stderr, spec, "%s", msg)
	}

	password, err := newAdminPassword(generate, stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "vitals admin set-password:", err)
		return exitUsage
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		fmt.Fprintln(stderr, "vitals admin set-password: hash:", err)
		return exitFailed
	}

	ctx, cancel := commandContext()
	defer cancel()
	store, where, err := openCommandStore(ctx, cfg, false, commandLogger(stderr, false))
	if err != nil {
		fmt.Fprintln(stderr, "vitals admin set-password:", err)
		return exitFailed
	}
	defer store.Close()
	secrets := app.SecretStore(store, cfg.DatabaseURL != "", cfg.DataDir, commandLogger(stderr, false))
	if err := secrets.SetSetting(ctx, app.AdminHashKey, string(hash)); err != nil {
		fmt.Fprintln(stderr, "vitals admin set-password:", err)
		return exitFailed
	}
	// A new session key ends every session signed before the change, on
	// every server (they re-read it within a minute).
	if err := secrets.SetSetting(ctx, handlers.SessionKeySetting, rand.Text()+rand.Text()); err != nil {
		fmt.Fprintln(stderr, "vitals admin set-password: the password was replaced, but not the session key (sessions signed before go on):", err)
		return exitFailed
	}
	if generate {
		// The one secret printed, because it was asked for.
		fmt.Fprintf(stdout, "The new admin password is  %s\nSign in as %q. It is shown only this once.\n", password, handlers.AdminUser)
	}
	fmt.Fprintf(stdout, "Admin password replaced in %s and every session ended; running servers take both within a minute.\n", where)
	if getenv("VITALS_ADMIN_PASSWORD") != "" {
		fmt.Fprintln(stderr, "Note: VITALS_ADMIN_PASSWORD is set here; a server that has it uses that one instead.")
	}
	if getenv("VITALS_SESSION_KEY") != "" {
		fmt.Fprintln(stderr, "Note: VITALS_SESSION_KEY is set here; a server that has it keeps its sessions until that secret is changed.")
	}
	return exitOK
}

// adminArgs says what is wrong with the action and the arguments after
// it, or "" when nothing is.
func adminArgs(action string, rest []string) string {
	switch {
	case action == "":
		return "vitals admin: say set-password"
	case action != "set-password":
		return fmt.Sprintf("vitals admin: unknown action %q", action)
	case len(rest) > 0:
		return "vitals admin set-password: unexpected argument (the password is never an argument: type it at the prompt or pipe it)"
	}
	return ""
}

// newAdminPassword gets the new password: generated, typed twice at a
// terminal without echo, or the first line of a piped standard input.
func newAdminPassword(generate bool, stdin io.Reader, prompt io.Writer) (string, error) {
	if generate {
		return rand.Text(), nil // 26 characters of base32: 130 bits
	}
	var password string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "New admin password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "Again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(first) != string(second) {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		password = string(first)
	} else {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from standard input: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if password == "" {
		return "", errors.New("no password given: type it at the prompt, pipe it on standard input, or use --generate")
	}
	if len(password) < minAdminPassword {
		return "", fmt.Errorf("the password must be at least %d characters; nothing was changed", minAdminPassword)
	}
	if len(password) > 72 {
		// bcrypt reads only the first 72 bytes; refuse rather than
		// silently ignore the rest.
		return "", errors.New("the password must be at most 72 bytes; nothing was changed")
	}
	return password, nil
}
