// Package config is every setting vitals reads: the table of variables
// (each with its flag, default and meaning, from which --help and the
// README's table are made), their parsing and validation, and Config, the
// parsed result the rest of vitals is built from.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/notify"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/web"
)

// Config is every setting vitals reads, from the environment with flags
// that mirror each variable (a flag wins over its variable).
type Config struct {
	Port            int
	DatabaseURL     string
	DataDir         string
	PGSchema        string
	SQLiteSyncFull  bool
	EventsKeep      int
	SampleInterval  time.Duration
	HistoryInterval time.Duration
	HistoryKeepRaw  time.Duration
	HistoryKeep5m   time.Duration
	HistoryKeep1h   time.Duration
	PollInterval    time.Duration
	ProbeTimeout    time.Duration
	AdminPassword   string
	ReadTokens      []string
	IngestTokens    []string
	IngestRate      int
	IngestBurst     int
	MetricsPublic   bool
	// MetricsAddr is the private metrics listener's address; empty is off.
	MetricsAddr        string
	MonitorDatabaseURL string
	RedisURL           string
	HTTPChecks         []probes.HTTPTargetConfig
	// HTTPTimeout bounds each request to an HTTP target.
	HTTPTimeout     time.Duration
	DiskPaths       []string
	MachineID       string
	Region          string
	LogFormat       string
	ShutdownTimeout time.Duration
	// The dashboard's (dashboard.go).
	SessionKey string
	SessionTTL time.Duration
	TrustProxy bool
	Timezone   *time.Location
	Thresholds web.Thresholds
	// AlertRules are the built-in rules with VITALS_ALERTS over them.
	AlertRules []alerts.Rule
	// Channels are VITALS_NOTIFY's.
	Channels []notify.Channel
	// HeartbeatURL is called every sample interval (VITALS_HEARTBEAT_URL).
	HeartbeatURL string
}

// Setting describes one variable: its flag, default, meaning, and how it is
// parsed into Config. The README's configuration table is checked against
// this list by a test, so the two cannot drift.
type Setting struct {
	Env     string
	Default string
	Help    string
	// Secret settings are never printed or logged.
	Secret bool
	// Over names the variable this one wins over when both are set: they
	// share that variable's flag and field (VITALS_DATABASE_URL over
	// DATABASE_URL), so that vitals beside an application can take its
	// own value without renaming the application's.
	Over  string
	parse func(c *Config, v string) error
}

// FlagName is the variable's flag: PORT -> --port, VITALS_DATA_DIR ->
// --data-dir; a variable that wins over another has that one's flag.
func (s Setting) FlagName() string {
	if s.Over != "" {
		return Setting{Env: s.Over}.FlagName()
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.Env, "VITALS_")), "_", "-")
}

func Settings() []Setting {
	return slices.Concat(coreSettings(), dashboardSettings(), accessSettings(), sourceSettings(), alertSettings())
}

// coreSettings are where vitals listens and stores, and its pace.
func coreSettings() []Setting {
	return []Setting{
		{Env: "PORT", Default: "8080", Help: "TCP port the HTTP server listens on (0 picks a free one)",
			parse: func(c *Config, v string) (err error) { c.Port, err = intIn(v, 0, 65535); return }},
		{Env: "VITALS_PORT", Over: "PORT", Help: "vitals' port when it runs beside an application whose port PORT is; wins over PORT, for the server and every command (healthcheck)",
			parse: func(c *Config, v string) (err error) { c.Port, err = intIn(v, 0, 65535); return }},
		{Env: "DATABASE_URL", Help: "PostgreSQL URL (postgres:// or postgresql://); unset selects SQLite", Secret: true,
			parse: func(c *Config, v string) error {
				if v != "" {
					if err := postgresURL(v); err != nil {
						return err
					}
				}
				c.DatabaseURL = v
				return nil
			}},
		{Env: "VITALS_DATABASE_URL", Over: "DATABASE_URL", Help: "vitals' PostgreSQL URL, winning over DATABASE_URL; also takes the forms Python applications use (postgresql+asyncpg://, postgresql+psycopg://: the driver is dropped; asyncpg's ssl= is read as sslmode=)", Secret: true,
			parse: func(c *Config, v string) error {
				u, err := PythonPostgresURL(v)
				if err != nil {
					return err
				}
				if err := postgresURL(u); err != nil {
					return err
				}
				c.DatabaseURL = u
				return nil
			}},
		{Env: "VITALS_DATA_DIR", Default: "./data", Help: "directory of the SQLite file vitals.db, created on first run",
			parse: func(c *Config, v string) error { return nonEmpty(&c.DataDir, v) }},
		{Env: "VITALS_PG_SCHEMA", Default: "vitals", Help: "PostgreSQL schema that holds every vitals table",
			parse: func(c *Config, v string) error {
				if !identPattern(v) {
					return errors.New("must be a lower-case identifier: letters, digits and '_', starting with a letter, at most 63 characters")
				}
				c.PGSchema = v
				return nil
			}},
		{Env: "VITALS_SQLITE_SYNC", Default: "normal", Help: "SQLite durability: normal (survives a crash of vitals) or full (survives a power loss, slower)",
			parse: func(c *Config, v string) error {
				switch v {
				case "normal":
					c.SQLiteSyncFull = false
				case "full":
					c.SQLiteSyncFull = true
				default:
					return errors.New("must be normal or full")
				}
				return nil
			}},
		{Env: "VITALS_EVENTS_KEEP", Default: "1000", Help: "how many of the newest events to keep; pruning starts at 10 % more",
			parse: func(c *Config, v string) (err error) { c.EventsKeep, err = intIn(v, 10, 10_000_000); return }},
		{Env: "VITALS_SAMPLE_INTERVAL", Default: "5s", Help: "how often the probes run (a Go duration, 1s to 1h)",
			parse: func(c *Config, v string) (err error) {
				c.SampleInterval, err = durationIn(v, time.Second, time.Hour)
				return
			}},
		{Env: "VITALS_HISTORY_INTERVAL", Default: "30s", Help: "how often each instance stores a sample of every figure for the history (5s to 10m)",
			parse: func(c *Config, v string) (err error) {
				c.HistoryInterval, err = durationIn(v, 5*time.Second, 10*time.Minute)
				return
			}},
		{Env: "VITALS_HISTORY_KEEP_RAW", Default: "48h", Help: "how long raw history samples are kept (1h to 720h)",
			parse: func(c *Config, v string) (err error) {
				c.HistoryKeepRaw, err = durationIn(v, time.Hour, 720*time.Hour)
				return
			}},
		{Env: "VITALS_HISTORY_KEEP_5M", Default: "720h", Help: "how long 5-minute roll-ups are kept (24h to 8760h)",
			parse: func(c *Config, v string) (err error) {
				c.HistoryKeep5m, err = durationIn(v, 24*time.Hour, 8760*time.Hour)
				return
			}},
		{Env: "VITALS_HISTORY_KEEP_1H", Default: "8760h", Help: "how long 1-hour roll-ups are kept (168h to 87600h)",
			parse: func(c *Config, v string) (err error) {
				c.HistoryKeep1h, err = durationIn(v, 168*time.Hour, 87600*time.Hour)
				return
			}},
		{Env: "VITALS_POLL_INTERVAL", Default: "30s", Help: "how often the dashboard refreshes (1s to 1h)",
			parse: func(c *Config, v string) (err error) {
				c.PollInterval, err = durationIn(v, time.Second, time.Hour)
				return
			}},
	}
}

// accessSettings are the probes' time limit and who may do what: the admin's
// password, the API tokens, the ingest rate limit, /metrics' openness.
func accessSettings() []Setting {
	return []Setting{
		{Env: "VITALS_PROBE_TIMEOUT", Default: "2s", Help: "how long one probe may take before it is reported unavailable (100ms to 1m)",
			parse: func(c *Config, v string) (err error) {
				c.ProbeTimeout, err = durationIn(v, 100*time.Millisecond, time.Minute)
				return
			}},
		{Env: "VITALS_ADMIN_PASSWORD", Help: "the admin's password; unset, the first start generates one, prints it once and stores only its hash", Secret: true,
			parse: func(c *Config, v string) error {
				if v != "" && len(v) < 8 {
					return errors.New("must be at least 8 characters")
				}
				c.AdminPassword = v
				return nil
			}},
		{Env: "VITALS_READ_TOKEN", Help: "bearer token(s) that may read the JSON API, comma-separated", Secret: true,
			parse: func(c *Config, v string) (err error) { c.ReadTokens, err = tokens(v); return }},
		{Env: "VITALS_INGEST_TOKEN", Help: "bearer token(s) that may post events, comma-separated", Secret: true,
			parse: func(c *Config, v string) (err error) { c.IngestTokens, err = tokens(v); return }},
		{Env: "VITALS_INGEST_RATE", Default: "200", Help: "requests a second each ingest token may post on average (a batch counts as one request); 0 turns the limit off",
			parse: func(c *Config, v string) (err error) { c.IngestRate, err = intIn(v, 0, 1_000_000); return }},
		{Env: "VITALS_INGEST_BURST", Default: "400", Help: "requests an ingest token may post at once above its rate before it gets 429",
			parse: func(c *Config, v string) (err error) { c.IngestBurst, err = intIn(v, 1, 1_000_000); return }},
		{Env: "VITALS_METRICS_PUBLIC", Default: "false", Help: "true lets GET /metrics (Prometheus) answer without a credential; false asks for a read token",
			parse: func(c *Config, v string) error { return boolIn(&c.MetricsPublic, v) }},
		{Env: "VITALS_METRICS_ADDR", Help: "host:port of a second listener that serves GET /metrics alone without a credential, for a platform's scraper on a private network (Fly's [fdaa::...]:9091, or :9091); unset, off",
			parse: func(c *Config, v string) error {
				if v != "" {
					host, port, err := net.SplitHostPort(v)
					if err != nil || strings.ContainsAny(host, " /") {
						return errors.New("must be host:port, such as 127.0.0.1:9091, [fdaa::1]:9091 or :9091")
					}
					if _, err := intIn(port, 1, 65535); err != nil {
						return errors.New("must be host:port with a port from 1 to 65535")
					}
				}
				c.MetricsAddr = v
				return nil
			}},
	}
}

// sourceSettings are what vitals watches besides its own host (the
// application's database, Redis, HTTP targets, disks), the instance's
// identity, the log and the stop.
func sourceSettings() []Setting {
	return []Setting{
		{Env: "VITALS_MONITOR_DATABASE_URL", Help: "PostgreSQL URL of the database to monitor, when it is not the store's (the application's)", Secret: true,
			parse: func(c *Config, v string) error {
				if v != "" {
					if err := postgresURL(v); err != nil {
						return err
					}
				}
				c.MonitorDatabaseURL = v
				return nil
			}},
		{Env: "REDIS_URL", Help: "Redis URL (redis:// or rediss://) to monitor; unset shows Redis as not configured", Secret: true,
			parse: func(c *Config, v string) error {
				if v != "" {
					u, err := url.Parse(v)
					if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
						return errors.New("must be a redis:// or rediss:// URL with a host")
					}
				}
				c.RedisURL = v
				return nil
			}},
		{Env: "VITALS_HTTP_CHECKS", Help: "HTTP targets to time, as name=url pairs, comma-separated (api=http://app.internal/health)",
			parse: func(c *Config, v string) error {
				checks, err := probes.ParseHTTPTargets(v)
				if err != nil {
					return errors.New(strings.TrimPrefix(err.Error(), "probes: "))
				}
				c.HTTPChecks = checks
				return nil
			}},
		{Env: "VITALS_HTTP_TIMEOUT", Default: "5s", Help: "how long one request to an HTTP target may take before the target is down (100ms to 1m; above the critical latency, so a slow target is measured)",
			parse: func(c *Config, v string) (err error) {
				c.HTTPTimeout, err = durationIn(v, 100*time.Millisecond, time.Minute)
				return
			}},
		{Env: "VITALS_DISK_PATHS", Help: "paths whose filesystems are reported, comma-separated; default / and the data directory",
			parse: func(c *Config, v string) error { c.DiskPaths = splitList(v); return nil }},
		{Env: "FLY_MACHINE_ID", Help: "instance id (set by Fly.io); default the host name",
			parse: func(c *Config, v string) error { c.MachineID = v; return nil }},
		{Env: "FLY_REGION", Help: "instance region (set by Fly.io)",
			parse: func(c *Config, v string) error { c.Region = v; return nil }},
		{Env: "VITALS_LOG_FORMAT", Default: "auto", Help: "log format: auto (text on a terminal, JSON otherwise), text or json",
			parse: func(c *Config, v string) error {
				switch v {
				case "auto", "text", "json":
					c.LogFormat = v
					return nil
				}
				return errors.New("must be auto, text or json")
			}},
		{Env: "VITALS_SHUTDOWN_TIMEOUT", Default: "8s", Help: "how long a stop (SIGINT or SIGTERM) waits for requests in flight before closing the store; keep it below the platform's kill timeout (1s to 5m)",
			parse: func(c *Config, v string) (err error) {
				c.ShutdownTimeout, err = durationIn(v, time.Second, 5*time.Minute)
				return
			}},
	}
}

// ErrHelp is returned when the flags asked for help, which was printed.
var ErrHelp = errors.New("help requested")

// Error is a bad setting; the commands exit with status 2 on it.
type Error struct {
	Name string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("configuration: %s: %v", e.Name, e.Err) }

// Load reads every setting from getenv and args (flags win), for
// `vitals serve`; --help is printed to helpOut.
func Load(args []string, getenv func(string) string, helpOut io.Writer) (Config, error) {
	c, rest, err := LoadCommand(serveCommand(), nil, args, getenv, helpOut)
	if err != nil {
		return Config{}, err
	}
	if len(rest) > 0 {
		return Config{}, &Error{Name: "flags", Err: fmt.Errorf("unexpected argument %q", rest[0])}
	}
	return c, nil
}

// Command describes a command for its flags and its --help.
type Command struct {
	// Usage is the synopsis, e.g. "vitals migrate up|down|status [flags]".
	Usage string
	// About says what the command does, in a few lines.
	About string
	// Flags, when set, adds the command's own flags (those that mirror no
	// variable, such as --generate).
	Flags func(fs *flag.FlagSet)
}

// serveCommand is `vitals serve`, for its --help.
func serveCommand() Command {
	return Command{
		Usage: "vitals [serve] [flags]",
		About: "Serves the dashboard, the JSON API, /metrics and /health until SIGINT or SIGTERM,\n" +
			"then finishes the requests in flight and closes the store. The default command.",
	}
}

// LoadCommand reads the settings named in only (every setting when only is
// nil) from getenv and args, flags winning, and returns the arguments left
// after the flags. A command reads and validates only what it uses, and its
// --help lists only those flags. A bad value is a *Error naming the
// variable (or the flag) and what it accepts; --help prints the usage to
// helpOut and returns ErrHelp.
func LoadCommand(help Command, only []string, args []string, getenv func(string) string, helpOut io.Writer) (Config, []string, error) {
	var list []Setting
	// winners maps a variable to the one that wins over it, which a
	// command reads whenever it reads the other.
	winners := map[string]Setting{}
	for _, s := range Settings() {
		if s.Over != "" {
			winners[s.Over] = s
			continue
		}
		if only == nil || slices.Contains(only, s.Env) {
			list = append(list, s)
		}
	}
	fs := flag.NewFlagSet(help.Usage, flag.ContinueOnError)
	// The flag package's own messages are not printed: a bad flag comes
	// back as an Error, and --help prints the usage below.
	fs.SetOutput(io.Discard)
	flags := make([]*string, len(list))
	for i, s := range list {
		flags[i] = fs.String(s.FlagName(), "", s.Help+" (env "+s.Env+")")
	}
	own := flag.NewFlagSet(help.Usage, flag.ContinueOnError)
	if help.Flags != nil {
		help.Flags(own)
		own.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(helpOut, help, own, list)
			return Config{}, nil, ErrHelp
		}
		return Config{}, nil, &Error{Name: "flags", Err: fmt.Errorf("%w (see --help)", err)}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var c Config
	for i, s := range list {
		v, name := getenv(s.Env), s.Env
		if w, ok := winners[s.Env]; ok && !set[s.FlagName()] {
			if wv := getenv(w.Env); wv != "" {
				// The other variable is not read at all: beside an
				// application it is the application's, in a form vitals
				// need not accept.
				s, v, name = w, wv, w.Env
			}
		}
		if set[s.FlagName()] {
			v, name = *flags[i], "--"+s.FlagName()
		}
		if v == "" {
			v = s.Default
		}
		if err := s.parse(&c, v); err != nil {
			return Config{}, nil, &Error{Name: name, Err: err}
		}
	}
	return c, fs.Args(), nil
}

// printUsage writes a command's --help: synopsis, what it does, its own
// flags, and each setting's flag with the variable it mirrors and its
// default.
func printUsage(w io.Writer, help Command, own *flag.FlagSet, list []Setting) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", help.Usage, help.About)
	first := true
	own.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintln(w, "\nflags:")
			first = false
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = "  (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  --%s%s\n      %s\n", f.Name, def, f.Usage)
	})
	if len(list) == 0 {
		return
	}
	fmt.Fprintln(w, "\nsettings (each flag mirrors an environment variable; the flag wins):")
	winners := map[string]Setting{}
	for _, s := range Settings() {
		if s.Over != "" {
			winners[s.Over] = s
		}
	}
	for _, s := range list {
		def := ""
		if s.Default != "" {
			def = ", default " + s.Default
		}
		env := s.Env
		if w, ok := winners[s.Env]; ok {
			env = w.Env + " or " + s.Env
		}
		fmt.Fprintf(w, "  --%s  (%s%s)\n      %s\n", s.FlagName(), env, def, s.Help)
	}
}

func intIn(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

func durationIn(v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("must be a duration such as 5s or 1m, from %s to %s", lo, hi)
	}
	return d, nil
}

func boolIn(dst *bool, v string) error {
	switch v {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return errors.New("must be true or false")
	}
	return nil
}

func nonEmpty(dst *string, v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	*dst = v
	return nil
}

func postgresURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Never echo the value: it may hold a password.
		return errors.New("must be a postgres:// or postgresql:// URL")
	}
	// What pgx would refuse later (a bad sslmode, connect_timeout or
	// pool_max_conns) is refused now, with the start. No I/O happens here.
	if _, err := pgxpool.ParseConfig(v); err != nil {
		return fmt.Errorf("must be a valid postgres:// or postgresql:// URL: %s", postgres.ParseErrorReason(err))
	}
	return nil
}

// PythonPostgresURL turns the PostgreSQL URL forms Python applications
// use into one pgx reads: SQLAlchemy's driver suffix
// (postgresql+asyncpg://, postgresql+psycopg://, postgres+psycopg2://) is
// dropped, and asyncpg's ssl= query parameter becomes sslmode= (pgx would
// send an unknown parameter to the server as a setting, which refuses it).
// Anything else is returned as it is, for postgresURL to judge. The value
// is never quoted in the error: it may hold a password.
func PythonPostgresURL(v string) (string, error) {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return v, nil
	}
	base, driver, suffixed := strings.Cut(scheme, "+")
	if !suffixed {
		return v, nil
	}
	if base != "postgres" && base != "postgresql" || driver == "" || strings.ContainsAny(driver, "+/:") {
		return "", errors.New("must be a postgres:// or postgresql:// URL, optionally with a driver (postgresql+asyncpg://)")
	}
	u, err := url.Parse(base + "://" + rest)
	if err != nil {
		return "", errors.New("must be a valid postgres:// or postgresql:// URL")
	}
	if q := u.Query(); q.Has("ssl") {
		if !q.Has("sslmode") {
			q.Set("sslmode", q.Get("ssl"))
		}
		q.Del("ssl")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

func identPattern(v string) bool {
	if v == "" || len(v) > 63 || v[0] < 'a' || v[0] > 'z' {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func tokens(v string) ([]string, error) {
	list := splitList(v)
	for _, t := range list {
		if len(t) < 16 {
			return nil, errors.New("each token must be at least 16 characters")
		}
	}
	return list, nil
}

// RedactURL is a database URL fit for a log line or a command's output:
// scheme, user, host, port and database, never the password or the query
// (which may hold one).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	out := u.Host + u.Path
	if u.User != nil && u.User.Username() != "" {
		out = u.User.Username() + "@" + out
	}
	return out
}
