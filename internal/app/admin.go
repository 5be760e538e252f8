package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/storage"
)

// AdminHashKey is the setting that holds the bcrypt hash of the admin
// password (generated on a first start, or set with `vitals admin
// set-password`).
const AdminHashKey = "admin_password_hash"

// provisionAdmin loads the admin password hash from the store, or on the
// very first start generates a password, stores only its hash and prints the
// password once to out: the one secret vitals ever prints. With
// VITALS_ADMIN_PASSWORD set it does nothing.
//
// On that first start it first waits settle (or until ctx is done): the
// bcrypt hash costs tens of milliseconds of CPU, which would otherwise be
// spent just when the platform's first health check arrives.
func provisionAdmin(ctx context.Context, store storage.Store, creds *handlers.Credentials, out io.Writer, settle time.Duration) error {
	if creds.AdminFromEnv() {
		return nil
	}
	hash, err := store.Setting(ctx, AdminHashKey)
	if err == nil {
		creds.SetAdminHash([]byte(hash))
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("admin password: %w", err)
	}
	t := time.NewTimer(settle)
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C:
	}
	password := rand.Text() // 26 characters of base32: 130 bits
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("admin password: hash: %w", err)
	}
	stored, err := store.SetSettingIfAbsent(ctx, AdminHashKey, string(h))
	if err != nil {
		return fmt.Errorf("admin password: store: %w", err)
	}
	creds.SetAdminHash([]byte(stored))
	if stored == string(h) {
		// Another instance may have won the race; then its password holds
		// and ours is never shown.
		fmt.Fprintf(out, "\n  First start: the admin password is  %s\n  Sign in as %q. It is shown only this once; set VITALS_ADMIN_PASSWORD to choose your own.\n\n", password, handlers.AdminUser)
	}
	return nil
}
