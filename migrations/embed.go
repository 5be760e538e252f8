// Package migrations holds the goose SQL migrations of both storage
// backends, embedded in the binary so that a store migrates itself at start-up
// with nothing on disk. The same version number in postgres/ and sqlite/ is the
// same logical change; PostgreSQL is the reference.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

// FS holds postgres/*.sql and sqlite/*.sql. It is a variable only because
// the embed directive requires one; nothing writes to it.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS

// Postgres returns the PostgreSQL migrations, rooted at their directory as
// goose expects.
func Postgres() (fs.FS, error) { return sub("postgres") }

// SQLite returns the SQLite migrations, rooted at their directory as goose
// expects.
func SQLite() (fs.FS, error) { return sub("sqlite") }

func sub(dir string) (fs.FS, error) {
	f, err := fs.Sub(FS, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %s: %w", dir, err)
	}
	return f, nil
}
