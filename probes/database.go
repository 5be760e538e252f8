package probes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DatabaseProbe reports the database: on PostgreSQL connections against
// max_connections, by state, the database size and the SELECT 1 round
// trip; on SQLite only the store's ping, connection figures being
// not_applicable to an in-process database.
type DatabaseProbe struct {
	backend string
	ping    func(context.Context) error
	pool    *pgxpool.Pool
}

// NewDatabaseProbe returns the probe of the "database" group. backend is
// "postgres" or "sqlite" (the store's Backend()); ping is the store's Ping,
// timed for the latency on SQLite; pool is the PostgreSQL pool to read,
// the store's or a separately monitored database's, nil on SQLite. The
// pool may be lazy and point at a server that is down: the group is then
// unavailable with a short reason that never carries the connection
// string.
func NewDatabaseProbe(backend string, ping func(ctx context.Context) error, pool *pgxpool.Pool) *DatabaseProbe {
	return &DatabaseProbe{backend: backend, ping: ping, pool: pool}
}

// Name returns "database".
func (p *DatabaseProbe) Name() string { return "database" }

// Unavailable keeps the backend, and on SQLite that connection figures do
// not apply, since both are known without I/O.
func (p *DatabaseProbe) Unavailable(reason string) Result {
	d := Database{Status: StatusUnavailable, Reason: reason, Backend: p.backend}
	if p.pool == nil && p.backend == "sqlite" {
		d.ConnectionsStatus, d.ConnectionsReason = sqliteConnections()
	}
	return d
}

func sqliteConnections() (Status, string) {
	return StatusNotApplicable, "SQLite runs inside the vitals process: no connections to count"
}

// samples is how many round trips a latency figure is the median of.
const samples = 3

// Read returns the database group.
func (p *DatabaseProbe) Read(ctx context.Context) Result {
	switch {
	case p.pool != nil:
		return p.collectPostgres(ctx)
	case p.ping != nil:
		return p.collectPing(ctx)
	default:
		return Database{Status: StatusNotConfigured, Reason: "no database configured", Backend: p.backend}
	}
}

// collectPing times the store's ping: the latency on SQLite, and all that
// is known of PostgreSQL when no pool was given.
func (p *DatabaseProbe) collectPing(ctx context.Context) Database {
	d := Database{Backend: p.backend}
	if p.backend == "sqlite" {
		d.ConnectionsStatus, d.ConnectionsReason = sqliteConnections()
	} else {
		d.ConnectionsStatus, d.ConnectionsReason = StatusUnavailable, "no connection pool to read the figures from"
	}
	started := time.Now()
	var lat [samples]time.Duration
	for i := range lat {
		t := time.Now()
		if err := p.ping(ctx); err != nil {
			d.Status, d.Reason = StatusUnavailable, "ping: "+pgReason(err, deadlineOf(ctx, started))
			return d
		}
		lat[i] = time.Since(t)
	}
	d.Status, d.LatencyMS = StatusOK, fptr(ms(median(lat[:])))
	return d
}

// The seed's query, kept word for word: sessions of this database that
// have a state, i.e. client connections, not background workers.
const pgConnectionsQuery = `SELECT count(*) FROM pg_stat_activity WHERE state IS NOT NULL AND datname = current_database()`

// pgDetailQuery reads everything else in the same round trip. The fourth
// column counts sessions of other roles whose state (and backend_type)
// this role may not see: without pg_monitor they exist but are left out of
// the count above. Background workers have no usename and are not counted.
const pgDetailQuery = `SELECT
  count(*) FILTER (WHERE state = 'active'),
  count(*) FILTER (WHERE state = 'idle'),
  count(*) FILTER (WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')),
  count(*) FILTER (WHERE state IS NULL AND coalesce(backend_type, 'client backend') = 'client backend'
    AND usename IS NOT NULL AND usename <> current_user),
  pg_database_size(current_database()),
  pg_has_role(current_user, 'pg_monitor', 'MEMBER')
    OR coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false),
  quote_ident(current_user)
FROM pg_stat_activity
WHERE datname = current_database()`

// pgServerQuery reads the whole server's client sessions (every database)
// and the oldest transaction and idle-in-transaction ages, in seconds.
const pgServerQuery = `SELECT
  count(*) FILTER (WHERE state IS NOT NULL),
  coalesce(extract(epoch FROM max(now() - xact_start)), 0)::float8,
  coalesce(extract(epoch FROM max(now() - state_change) FILTER (WHERE state IN ('idle in transaction', 'idle in transaction (aborted)'))), 0)::float8
FROM pg_stat_activity
WHERE coalesce(backend_type, 'client backend') = 'client backend'`

// collectPostgres reads PostgreSQL on one acquired connection: three
// SELECT 1 round trips (timed without the acquire, which may include
// connecting), then the figures in one batch.
func (p *DatabaseProbe) collectPostgres(ctx context.Context) Database {
	started := time.Now()
	d := Database{Backend: p.backend}
	if d.Backend == "" {
		d.Backend = "postgres"
	}
	fail := func(what string, err error) Database {
		return Database{Status: StatusUnavailable, Reason: what + pgReason(err, deadlineOf(ctx, started)), Backend: d.Backend}
	}
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fail("", err)
	}
	defer conn.Release()

	var lat [samples]time.Duration
	for i := range lat {
		var one int
		t := time.Now()
		// Simple protocol: one round trip, no prepare, so the figure is
		// the network and the server, not pgx's statement cache.
		err := conn.QueryRow(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol).Scan(&one)
		if err != nil {
			return fail("SELECT 1: ", err)
		}
		lat[i] = time.Since(t)
	}

	var (
		server                                    int64
		oldestXact, oldestIdleTx                  float64
		conns, active, idle, idleTx, hidden, size int64
		maxText, role                             string
		privileged                                bool
	)
	b := &pgx.Batch{}
	b.Queue(pgConnectionsQuery).QueryRow(func(r pgx.Row) error { return r.Scan(&conns) })
	b.Queue("SHOW max_connections").QueryRow(func(r pgx.Row) error { return r.Scan(&maxText) })
	b.Queue(pgDetailQuery).QueryRow(func(r pgx.Row) error {
		return r.Scan(&active, &idle, &idleTx, &hidden, &size, &privileged, &role)
	})
	b.Queue(pgServerQuery).QueryRow(func(r pgx.Row) error { return r.Scan(&server, &oldestXact, &oldestIdleTx) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fail("", err)
	}
	maxConns, err := strconv.ParseInt(maxText, 10, 64)
	if err != nil || maxConns <= 0 {
		return Database{Status: StatusUnavailable, Reason: "max_connections is not a positive number", Backend: d.Backend}
	}

	d.Status = StatusOK
	d.LatencyMS = fptr(ms(median(lat[:])))
	d.Connections, d.MaxConnections = ptr(conns), ptr(maxConns)
	d.ConnectionsStatus = StatusOK
	d.ConnectionsPercent = fptr(percent(float64(conns), float64(maxConns)))
	d.ConnectionsActive, d.ConnectionsIdle, d.ConnectionsIdleInTransaction = ptr(active), ptr(idle), ptr(idleTx)
	// Without pg_monitor other roles' sessions show no state in either
	// count: the server's is never below this database's.
	d.ServerConnections = ptr(max(server, conns))
	d.ServerConnectionsPercent = fptr(percent(float64(*d.ServerConnections), float64(maxConns)))
	d.OldestXactAgeSeconds, d.OldestIdleInTransactionSeconds = fptr(round(oldestXact, 3)), fptr(round(oldestIdleTx, 3))
	d.SizeBytes = ptr(size)
	if !privileged {
		d.Partial = true
		d.PartialReason = partialReason(role, hidden)
	}
	return d
}

// partialReason explains a connection count that may be low and names the
// grant that fixes it.
func partialReason(role string, hidden int64) string {
	return fmt.Sprintf("role %s is not a member of pg_monitor: other roles' sessions show no state "+
		"and are not counted (%d now); GRANT pg_monitor TO %s", role, hidden, role)
}

// pgReason names a PostgreSQL failure in a few words, by SQLSTATE where
// the server answered, without the connection string, user or host.
func pgReason(err error, timeout time.Duration) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			return "authentication failed"
		case "3D000":
			return "database does not exist"
		case "53300":
			return "too many connections"
		case "57P01", "57P02", "57P03":
			return "server is shutting down or starting up"
		case "42501":
			return "permission denied"
		}
		return "server error " + pgErr.Code
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return timeoutReason(timeout)
	}
	r := shortReason(err, timeout)
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) && r == redact(err.Error()) {
		// Not one of the network failures shortReason names: do not
		// echo pgx's message, which quotes user and database.
		return "cannot connect to PostgreSQL"
	}
	return r
}
