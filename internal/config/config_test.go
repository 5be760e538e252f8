package config

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := Load(nil, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.DataDir != "./data" || c.PGSchema != "vitals" || c.EventsKeep != 1000 ||
		c.SampleInterval != 5*time.Second || c.PollInterval != 30*time.Second || c.ProbeTimeout != 2*time.Second ||
		c.DatabaseURL != "" || c.SQLiteSyncFull || c.LogFormat != "auto" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigFlagsWin(t *testing.T) {
	c, err := Load([]string{"--port", "9000", "--data-dir=/tmp/x"}, envOf(map[string]string{"PORT": "7000", "VITALS_EVENTS_KEEP": "50"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9000 || c.DataDir != "/tmp/x" || c.EventsKeep != 50 {
		t.Fatalf("%+v", c)
	}
}

// A bad value names the variable and what it accepts, and never echoes a
// secret value.
func TestConfigBadValues(t *testing.T) {
	cases := []struct {
		env, value, want string
	}{
		{"PORT", "http", "PORT: must be a whole number from 0 to 65535"},
		{"PORT", "70000", "PORT"},
		{"DATABASE_URL", "mysql://root:hunter2@db/app", "DATABASE_URL: must be a postgres:// or postgresql:// URL"},
		{"DATABASE_URL", "./vitals.db", "DATABASE_URL"},
		{"VITALS_PG_SCHEMA", "Public; drop", "VITALS_PG_SCHEMA"},
		{"VITALS_SQLITE_SYNC", "off", "VITALS_SQLITE_SYNC: must be normal or full"},
		{"VITALS_EVENTS_KEEP", "0", "VITALS_EVENTS_KEEP"},
		{"VITALS_SAMPLE_INTERVAL", "5", "VITALS_SAMPLE_INTERVAL: must be a duration"},
		{"VITALS_SAMPLE_INTERVAL", "10ms", "VITALS_SAMPLE_INTERVAL"},
		{"VITALS_POLL_INTERVAL", "forever", "VITALS_POLL_INTERVAL"},
		{"VITALS_PROBE_TIMEOUT", "0s", "VITALS_PROBE_TIMEOUT"},
		{"VITALS_ADMIN_PASSWORD", "short", "VITALS_ADMIN_PASSWORD: must be at least 8"},
		{"VITALS_READ_TOKEN", "abc", "VITALS_READ_TOKEN"},
		{"VITALS_INGEST_TOKEN", "good-token-0123456789,bad", "VITALS_INGEST_TOKEN"},
		{"VITALS_MONITOR_DATABASE_URL", "redis://x", "VITALS_MONITOR_DATABASE_URL"},
		{"REDIS_URL", "localhost:6379", "REDIS_URL"},
		{"VITALS_HTTP_CHECKS", "api", "VITALS_HTTP_CHECKS"},
		{"VITALS_HTTP_CHECKS", "api=ftp://x", "VITALS_HTTP_CHECKS"},
		{"VITALS_HTTP_CHECKS", "a=http://x,a=http://y", "VITALS_HTTP_CHECKS"},
		{"VITALS_LOG_FORMAT", "xml", "VITALS_LOG_FORMAT"},
		{"VITALS_METRICS_ADDR", "9091", "VITALS_METRICS_ADDR: must be host:port"},
		{"VITALS_METRICS_ADDR", "localhost:metrics", "VITALS_METRICS_ADDR"},
		{"VITALS_METRICS_ADDR", ":0", "VITALS_METRICS_ADDR"},
		{"VITALS_METRICS_ADDR", "fdaa::1:9091", "VITALS_METRICS_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			_, err := Load(nil, envOf(map[string]string{tc.env: tc.value}), &bytes.Buffer{})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("no Error: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error echoes a secret: %q", err)
			}
		})
	}
	// The flag is named when the flag was wrong.
	_, err := Load([]string{"--port", "x"}, envOf(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--port") {
		t.Fatalf("%v", err)
	}
}

// configTable renders the README's configuration table from Settings().
func configTable() string {
	var b strings.Builder
	b.WriteString("| variable | flag | default | meaning |\n|---|---|---|---|\n")
	for _, s := range Settings() {
		def := "(unset)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		b.WriteString("| `" + s.Env + "` | `--" + s.FlagName() + "` | " + def + " | " + s.Help + " |\n")
	}
	return b.String()
}

// readmePath is the repository's README.md, seen from this package.
const readmePath = "../../README.md"

// The README's configuration table is the one the code defines. Run with
// VITALS_UPDATE_README=1 to rewrite it.
func TestREADMEConfigTable(t *testing.T) {
	const start, end = "<!-- config-table:start -->\n", "<!-- config-table:end -->"
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md has no config-table markers")
	}
	want := configTable()
	if got := s[i+len(start) : j]; got != want {
		if os.Getenv("VITALS_UPDATE_README") == "1" {
			s = s[:i+len(start)] + want + s[j:]
			if err := os.WriteFile(readmePath, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("README.md's configuration table differs from Settings(); run VITALS_UPDATE_README=1 go test -run TestREADMEConfigTable ./internal/config\nwant:\n%s", want)
	}
}

// VITALS_DATABASE_URL wins over DATABASE_URL, which is then not read at
// all (beside an application it is the application's, in a Python form),
// and takes the forms Python applications use; DATABASE_URL stays strict.
// VITALS_PORT wins over PORT the same way, for every command.
func TestConfigVitalsVariablesWin(t *testing.T) {
	const plain = "postgres://vitals:hunter2@db.internal:5432/app"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"DATABASE_URL alone", map[string]string{"DATABASE_URL": plain}, nil, plain},
		{"VITALS_DATABASE_URL alone", map[string]string{"VITALS_DATABASE_URL": plain}, nil, plain},
		{"VITALS_DATABASE_URL wins", map[string]string{"DATABASE_URL": "postgres://app@other/app", "VITALS_DATABASE_URL": plain}, nil, plain},
		{"the application's asyncpg form is not read", map[string]string{"DATABASE_URL": "postgresql+asyncpg://app:hunter2@db/app", "VITALS_DATABASE_URL": plain}, nil, plain},
		{"asyncpg", map[string]string{"VITALS_DATABASE_URL": "postgresql+asyncpg://vitals:hunter2@db.internal:5432/app"}, nil, "postgresql://vitals:hunter2@db.internal:5432/app"},
		{"psycopg", map[string]string{"VITALS_DATABASE_URL": "postgresql+psycopg://vitals:hunter2@db.internal:5432/app"}, nil, "postgresql://vitals:hunter2@db.internal:5432/app"},
		{"postgres+psycopg2", map[string]string{"VITALS_DATABASE_URL": "postgres+psycopg2://vitals:hunter2@db.internal:5432/app"}, nil, "postgres://vitals:hunter2@db.internal:5432/app"},
		{"asyncpg's ssl", map[string]string{"VITALS_DATABASE_URL": "postgresql+asyncpg://vitals@db/app?ssl=require"}, nil, "postgresql://vitals@db/app?sslmode=require"},
		{"sslmode kept over ssl", map[string]string{"VITALS_DATABASE_URL": "postgresql+asyncpg://vitals@db/app?ssl=require&sslmode=disable"}, nil, "postgresql://vitals@db/app?sslmode=disable"},
		{"the flag wins over both", map[string]string{"VITALS_DATABASE_URL": plain}, []string{"--database-url", "postgres://flag@db/app"}, "postgres://flag@db/app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, envOf(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if c.DatabaseURL != tc.want {
				t.Fatalf("DatabaseURL = %q, want %q", c.DatabaseURL, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		env      map[string]string
		name     string
		notQuote string
	}{
		// DATABASE_URL stays as strict as it was.
		{map[string]string{"DATABASE_URL": "postgresql+asyncpg://app:hunter2@db/app"}, "DATABASE_URL", "hunter2"},
		{map[string]string{"VITALS_DATABASE_URL": "mysql+pymysql://app:hunter2@db/app"}, "VITALS_DATABASE_URL", "hunter2"},
		{map[string]string{"VITALS_DATABASE_URL": "postgresql+://app:hunter2@db/app"}, "VITALS_DATABASE_URL", "hunter2"},
		{map[string]string{"VITALS_DATABASE_URL": "postgresql+asyncpg://app:hunter2@db/app?sslmode=sometimes"}, "VITALS_DATABASE_URL", "hunter2"},
		{map[string]string{"VITALS_DATABASE_URL": "./vitals.db"}, "VITALS_DATABASE_URL", ""},
		{map[string]string{"VITALS_PORT": "http", "PORT": "8080"}, "VITALS_PORT", ""},
	} {
		_, err := Load(nil, envOf(tc.env), &bytes.Buffer{})
		var ce *Error
		if !errors.As(err, &ce) || ce.Name != tc.name {
			t.Errorf("%v: %v, want an Error naming %s", tc.env, err, tc.name)
			continue
		}
		if tc.notQuote != "" && strings.Contains(err.Error(), tc.notQuote) {
			t.Errorf("the error echoes a secret: %q", err)
		}
	}

	for _, tc := range []struct {
		env  map[string]string
		args []string
		want int
	}{
		{map[string]string{"PORT": "8080"}, nil, 8080},
		{map[string]string{"PORT": "8080", "VITALS_PORT": "9090"}, nil, 9090},
		{map[string]string{"PORT": "not-read", "VITALS_PORT": "9090"}, nil, 9090},
		{map[string]string{"PORT": "8080", "VITALS_PORT": "9090"}, []string{"--port", "7000"}, 7000},
	} {
		// A command that reads only PORT reads VITALS_PORT too.
		c, _, err := LoadCommand(Command{Usage: "vitals healthcheck"}, []string{"PORT"}, tc.args, envOf(tc.env), &bytes.Buffer{})
		if err != nil || c.Port != tc.want {
			t.Errorf("%v %v: port %d, %v; want %d", tc.env, tc.args, c.Port, err, tc.want)
		}
	}
	var help bytes.Buffer
	if _, _, err := LoadCommand(Command{Usage: "vitals migrate"}, []string{"DATABASE_URL"}, []string{"--help"}, envOf(nil), &help); !errors.Is(err, ErrHelp) ||
		!strings.Contains(help.String(), "VITALS_DATABASE_URL or DATABASE_URL") {
		t.Errorf("--help does not name both variables: %v\n%s", err, &help)
	}
}
