package probes

import (
	"encoding/json"
	"time"
)

// Status says whether a group's figures could be read.
type Status string

// The statuses a group can have (docs/architecture.md, "The snapshot").
const (
	StatusOK            Status = "ok"
	StatusUnavailable   Status = "unavailable"
	StatusNotConfigured Status = "not_configured"
	StatusNotApplicable Status = "not_applicable"
)

// Sources name where a figure came from, so that an admin can tell a
// container's figure from the host's.
const (
	SourceCgroupV2 = "cgroup v2"
	SourceCgroupV1 = "cgroup v1"
	SourceHost     = "host"
)

// Snapshot is everything the sampler knows at one instant. It is the JSON
// contract of GET /api/v1/system/metrics: a field once published keeps its
// name and meaning. Numbers are pointers so that a group whose status is not
// ok carries null, never a stale value or a fake 0.
//
// Each group is written by exactly one probe, whose Name is the group's JSON
// name, through the Result it returns; that is what lets probes run
// concurrently. Groups describes every group and its figures; Each and
// States walk a snapshot by that list.
type Snapshot struct {
	// CollectedAt is when the tick started, in UTC; JSON carries it as
	// RFC 3339 with exactly three fractional digits (see MarshalJSON).
	CollectedAt time.Time    `json:"collected_at"`
	Instance    Instance     `json:"instance"`
	CPU         CPU          `json:"cpu"`
	Memory      Memory       `json:"memory"`
	Disk        []Disk       `json:"disk"`
	Database    Database     `json:"database"`
	Redis       Redis        `json:"redis"`
	Load        Load         `json:"load"`
	Network     Network      `json:"network"`
	Process     Process      `json:"process"`
	HTTP        []HTTPTarget `json:"http"`
	API         API          `json:"api"`
	App         App          `json:"app"`
	AppRoutes   []AppRoute   `json:"app_routes"`
}

// jsonTimeLayout is RFC 3339 with milliseconds always present, so that
// clients can parse collected_at with one fixed layout.
const jsonTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes collected_at in UTC with millisecond precision
// ("2026-11-26T10:15:30.123Z"); time.Time's own encoding would carry
// nanoseconds and the local offset.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	// plain has the same fields but not this method, so encoding it does
	// not recurse; the outer CollectedAt shadows the embedded one.
	type plain Snapshot
	return json.Marshal(struct {
		CollectedAt string `json:"collected_at"`
		plain
	}{
		CollectedAt: s.CollectedAt.UTC().Format(jsonTimeLayout),
		plain:       plain(s),
	})
}

// Instance identifies the vitals process that took the snapshot.
type Instance struct {
	ID     string `json:"id"`
	Region string `json:"region"`
}

// CPU is processor usage over the last sampling interval.
type CPU struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State   Level    `json:"state"`
	Percent *float64 `json:"percent"`
	// Cores is the effective number of cores the figure is taken against:
	// min(quota/period, cpuset size, NumCPU) in a cgroup, NumCPU on the host.
	Cores  *float64 `json:"cores"`
	Source string   `json:"source,omitempty"`
	// ThrottledPeriodsTotal is the cgroup's nr_throttled counter: CFS
	// periods in which the quota ran out. Null when the source is the host.
	ThrottledPeriodsTotal *uint64 `json:"throttled_periods_total"`
	// ThrottledMSTotal is the total time the cgroup was held back by its
	// quota (throttled_usec in v2, throttled_time in v1), in milliseconds.
	ThrottledMSTotal *float64 `json:"throttled_ms_total"`
	// ThrottledPercent is the share of the CFS periods of the last interval
	// in which the cgroup was throttled: above a few percent the quota, not
	// the work, sets the response times.
	ThrottledPercent *float64 `json:"throttled_percent"`
	// UsageSecondsTotal is the CPU time used since an arbitrary start,
	// summed over cores: the cgroup's usage when the figures are the
	// cgroup's, else every core's non-idle time from /proc/stat. A counter,
	// for Prometheus' rate().
	UsageSecondsTotal *float64 `json:"usage_seconds_total"`
}

// Memory is memory in use against the limit that applies.
type Memory struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State   Level    `json:"state"`
	Percent *float64 `json:"percent"`
	// UsedBytes is the working set: MemTotal - MemAvailable on the host
	// (what free(1) reports), usage minus inactive file cache in a cgroup
	// (what docker stats and cAdvisor report).
	UsedBytes *uint64 `json:"used_bytes"`
	// TotalBytes is the cgroup's limit when one applies, else MemTotal.
	TotalBytes *uint64 `json:"total_bytes"`
	Source     string  `json:"source,omitempty"`
}

// Disk kinds: what kind of filesystem holds a path, because an overlay or
// tmpfs root does not keep what is written to it.
const (
	DiskKindDisk    = "disk"
	DiskKindOverlay = "overlay"
	DiskKindTmpfs   = "tmpfs"
	DiskKindNetwork = "network"
)

// Disk is the usage of the filesystem holding one path. Paths on the same
// mount are reported once, under the first configured path.
type Disk struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State      Level  `json:"state"`
	Path       string `json:"path"`
	Mountpoint string `json:"mountpoint,omitempty"`
	Fstype     string `json:"fstype,omitempty"`
	// Kind is one of the DiskKind constants.
	Kind string `json:"kind,omitempty"`
	// Data is true for the mount holding vitals' data directory (the
	// SQLite file).
	Data bool `json:"data"`
	// Note warns about a filesystem that loses what is written to it
	// (overlay or tmpfs), in one line.
	Note string `json:"note,omitempty"`
	// Percent is used / (used + available), as df(1) reports it: the
	// blocks reserved for root count as neither.
	Percent        *float64 `json:"percent"`
	UsedBytes      *uint64  `json:"used_bytes"`
	TotalBytes     *uint64  `json:"total_bytes"`
	AvailableBytes *uint64  `json:"available_bytes"`
}

// Database is the store's (or the monitored application's) database.
type Database struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State Level `json:"state"`
	// Backend is "postgres" or "sqlite".
	Backend string `json:"backend,omitempty"`
	// Connections counts this database's sessions that have a state (the
	// seed's pg_stat_activity query).
	Connections    *int64 `json:"connections"`
	MaxConnections *int64 `json:"max_connections"`
	// LatencyMS is the median of three SELECT 1 round trips (the store's
	// ping on SQLite).
	LatencyMS *float64 `json:"latency_ms"`
	// ConnectionsStatus is not_applicable on SQLite, where there are no
	// connection figures though the latency is known.
	ConnectionsStatus Status `json:"connections_status,omitempty"`
	ConnectionsReason string `json:"connections_reason,omitempty"`
	// ConnectionsPercent is connections against max_connections.
	ConnectionsPercent *float64 `json:"connections_percent"`
	// Connections by state: active, idle, and idle in transaction
	// (aborted ones included), the last being the one that holds locks.
	ConnectionsActive            *int64 `json:"connections_active"`
	ConnectionsIdle              *int64 `json:"connections_idle"`
	ConnectionsIdleInTransaction *int64 `json:"connections_idle_in_transaction"`
	// ServerConnections counts the client sessions of every database of
	// the server: what runs out against max_connections on a shared
	// server, so the thresholds apply to ServerConnectionsPercent.
	ServerConnections        *int64   `json:"server_connections"`
	ServerConnectionsPercent *float64 `json:"server_connections_percent"`
	// OldestXactAgeSeconds is the age of the oldest open transaction of any
	// client session on the server; OldestIdleInTransactionSeconds how long
	// the longest idle-in-transaction session has been waiting (it holds
	// locks and blocks vacuum). 0 when there is none.
	OldestXactAgeSeconds           *float64 `json:"oldest_xact_age_seconds"`
	OldestIdleInTransactionSeconds *float64 `json:"oldest_idle_in_transaction_seconds"`
	// SizeBytes is pg_database_size(current_database()).
	SizeBytes *int64 `json:"size_bytes"`
	// Partial is true when the role lacks pg_monitor, so other roles'
	// sessions show no state and the counts may be low.
	Partial       bool   `json:"partial"`
	PartialReason string `json:"partial_reason,omitempty"`
}

// Redis is the Redis server the application uses.
type Redis struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State Level `json:"state"`
	// LatencyMS is the median of three PING round trips.
	LatencyMS        *float64 `json:"latency_ms"`
	ConnectedClients *int64   `json:"connected_clients"`
	UsedMemoryBytes  *uint64  `json:"used_memory_bytes"`
}

// Load is the host's run-queue load and uptime, as uptime(1) shows them.
type Load struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State  Level    `json:"state"`
	Load1  *float64 `json:"load1"`
	Load5  *float64 `json:"load5"`
	Load15 *float64 `json:"load15"`
	// Cores is the effective core count (as in CPU) the per-core figures
	// divide by; above 1 per core, work is waiting.
	Cores         *float64 `json:"cores"`
	Load1PerCore  *float64 `json:"load1_per_core"`
	Load5PerCore  *float64 `json:"load5_per_core"`
	Load15PerCore *float64 `json:"load15_per_core"`
	// HostUptimeSeconds is the time since the kernel booted.
	HostUptimeSeconds *float64 `json:"host_uptime_seconds"`
	Source            string   `json:"source,omitempty"`
}

// Network is the traffic of the network namespace's interfaces, loopback
// excluded, over the last sampling interval.
type Network struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State                  Level    `json:"state"`
	ReceiveBytesPerSecond  *float64 `json:"receive_bytes_per_second"`
	TransmitBytesPerSecond *float64 `json:"transmit_bytes_per_second"`
	// Interfaces counts the interfaces summed (loopback excluded).
	Interfaces *int64 `json:"interfaces"`
	// ReceiveBytesTotal and TransmitBytesTotal are the same interfaces'
	// byte counters, summed: counters, for Prometheus' rate().
	ReceiveBytesTotal  *uint64 `json:"receive_bytes_total"`
	TransmitBytesTotal *uint64 `json:"transmit_bytes_total"`
	Source             string  `json:"source,omitempty"`
}

// Process is vitals' own footprint, so that the monitor can be seen not to
// be the problem.
type Process struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State         Level    `json:"state"`
	RSSBytes      *uint64  `json:"rss_bytes"`
	Goroutines    *int64   `json:"goroutines"`
	UptimeSeconds *float64 `json:"uptime_seconds"`
	// CPUSecondsTotal is the CPU time vitals has used (user and system),
	// VirtualMemoryBytes its address space: with RSSBytes, what
	// Prometheus' process_* series say, read once per tick, not per scrape.
	CPUSecondsTotal    *float64 `json:"cpu_seconds_total"`
	VirtualMemoryBytes *uint64  `json:"virtual_memory_bytes"`
	// OpenFDs and MaxFDs are the descriptors vitals holds and its soft
	// limit: a leak of connections or files shows here long before
	// "too many open files" does.
	OpenFDs *uint64 `json:"open_fds"`
	MaxFDs  *uint64 `json:"max_fds"`
}

// HTTPTarget is one configured URL's answer. A non-2xx/3xx answer is still
// status ok (the target answered) with Healthy false; a connection failure
// or timeout is unavailable.
type HTTPTarget struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State Level  `json:"state"`
	Name  string `json:"name"`
	// URL is the target without credentials or query string.
	URL  string `json:"url"`
	Code *int   `json:"code"`
	// Healthy is true for a 2xx or 3xx answer; null unless status is ok.
	Healthy *bool `json:"healthy"`
	// LatencyMS is the median of three requests, each to the end of the
	// (bounded) body.
	LatencyMS *float64 `json:"latency_ms"`
}

// API is the latency of the requests vitals itself served over the last
// window (5 minutes), for when vitals runs inside the application or in
// front of it. Percentiles are null while no request was served in the
// window; they are read from a histogram whose bins are at most 12.5 %
// wide, so they carry that much error.
type API struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// State is what the card says (see Level); set by Snapshot.Assess.
	State         Level    `json:"state"`
	WindowSeconds *float64 `json:"window_seconds"`
	Requests      *uint64  `json:"requests"`
	// ErrorPercent is the share of requests answered with a 5xx status.
	ErrorPercent *float64 `json:"error_percent"`
	P50MS        *float64 `json:"p50_ms"`
	P95MS        *float64 `json:"p95_ms"`
	P99MS        *float64 `json:"p99_ms"`
}
