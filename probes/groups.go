package probes

import "strconv"

// Groups returns every group of the Snapshot, in JSON order, each with
// every figure it publishes: the one list that the Sampler, /metrics, the
// page, history and alerts walk. A new group is a field of Snapshot, a
// Result type, a probe, and one entry here.
//
// It is built on each call (nothing here is package state); callers that
// walk it often keep the slice.
func Groups() []Group {
	return []Group{
		Define(cpuGroup()),
		Define(memoryGroup()),
		Define(diskGroup()),
		Define(databaseGroup()),
		Define(redisGroup()),
		Define(loadGroup()),
		Define(networkGroup()),
		Define(processGroup()),
		Define(httpGroup()),
		Define(apiGroup()),
		Define(appGroup()),
		Define(appRoutesGroup()),
	}
}

// one is the state list of a group with one entry.
func one(st Status, reason, source string) []State {
	return []State{{Status: st, Reason: reason, Source: source}}
}

func cpuGroup() Group {
	v := func(f func(*CPU) *float64) func(*Snapshot, int) *float64 {
		return in(func(s *Snapshot) *CPU { return &s.CPU }, f)
	}
	return Group{
		Name:    "cpu",
		Entries: func(s *Snapshot) []State { return one(s.CPU.Status, s.CPU.Reason, s.CPU.Source) },
		Blank:   func(st Status, reason string) Result { return CPU{Status: st, Reason: reason} },
		Figures: []Figure{
			{Field: "percent", Unit: UnitPercent, Kind: KindGauge, Metric: "vitals_cpu_usage_ratio",
				Help:  "CPU used over the last sampling interval, as a share of the cores available (the cgroup's quota inside a container), 0 to 1.",
				Value: v(func(c *CPU) *float64 { return c.Percent })},
			{Field: "cores", Unit: UnitCores, Kind: KindGauge, Metric: "vitals_cpu_cores",
				Help:  "Cores the CPU figures are taken against: the cgroup's quota or cpuset when there is one, else every core.",
				Value: v(func(c *CPU) *float64 { return c.Cores })},
			{Field: "throttled_periods_total", Unit: UnitCount, Kind: KindCounter, Metric: "vitals_cpu_throttled_periods_total",
				Help:  "CFS periods in which the cgroup's CPU quota ran out (nr_throttled).",
				Value: v(func(c *CPU) *float64 { return num(c.ThrottledPeriodsTotal) })},
			{Field: "throttled_ms_total", Unit: UnitMillis, Kind: KindCounter, Metric: "vitals_cpu_throttled_seconds_total",
				Help:  "Time the cgroup was held back by its CPU quota.",
				Value: v(func(c *CPU) *float64 { return c.ThrottledMSTotal })},
			{Field: "throttled_percent", Unit: UnitPercent, Kind: KindGauge, Metric: "vitals_cpu_throttled_ratio",
				Help:  "Share of the last interval's CFS periods in which the cgroup was throttled, 0 to 1.",
				Value: v(func(c *CPU) *float64 { return c.ThrottledPercent })},
			{Field: "usage_seconds_total", Unit: UnitSeconds, Kind: KindCounter, Metric: "vitals_cpu_usage_seconds_total",
				Help:  "CPU time used, summed over cores: the cgroup's inside a container, else the host's non-idle time; rate() over it is cores busy.",
				Value: v(func(c *CPU) *float64 { return c.UsageSecondsTotal })},
		},
	}
}

func memoryGroup() Group {
	v := func(f func(*Memory) *float64) func(*Snapshot, int) *float64 {
		return in(func(s *Snapshot) *Memory { return &s.Memory }, f)
	}
	return Group{
		Name:    "memory",
		Entries: func(s *Snapshot) []State { return one(s.Memory.Status, s.Memory.Reason, s.Memory.Source) },
		Blank:   func(st Status, reason string) Result { return Memory{Status: st, Reason: reason} },
		Figures: []Figure{
			{Field: "percent", Unit: UnitPercent, Kind: KindGauge, Metric: "vitals_memory_usage_ratio",
				Help:  "Memory in use against the limit that applies (the cgroup's, else the host's), 0 to 1.",
				Value: v(func(m *Memory) *float64 { return m.Percent })},
			{Field: "used_bytes", Unit: UnitBytes, Kind: KindGauge, Metric: "vitals_memory_used_bytes",
				Help:  "Memory in use: the working set (cgroup usage less inactive file cache, or MemTotal - MemAvailable on the host).",
				Value: v(func(m *Memory) *float64 { return num(m.UsedBytes) })},
			{Field: "total_bytes", Unit: UnitBytes, Kind: KindGauge, Metric: "vitals_memory_total_bytes",
				Help:  "Memory limit: the cgroup's limit when one applies, else MemTotal.",
				Value: v(func(m *Memory) *float64 { return num(m.TotalBytes) })},
		},
	}
}

func diskGroup() Group {
	v := func(f func(*Disk) *float64) func(*Snapshot, int) *float64 {
		return at(func(s *Snapshot) []Disk { return s.Disk }, f)
	}
	return Group{
		Name:     "disk",
		Key:      "path",
		Metric:   "vitals_disk",
		UpHelp:   "1 when the filesystem holding the path could be read, 0 when not.",
		InfoHelp: "Always 1; the labels describe the filesystem holding the path (kind is disk, overlay, tmpfs or network; data is true for vitals' data directory).",
		Entries: func(s *Snapshot) []State {
			out := make([]State, len(s.Disk))
			for i, d := range s.Disk {
				out[i] = State{Key: d.Path, Status: d.Status, Reason: d.Reason}
				if d.Status == StatusOK {
					out[i].Labels = []string{"mountpoint", d.Mountpoint, "fstype", d.Fstype, "kind", d.Kind, "data", strconv.FormatBool(d.Data)}
				}
			}
			return out
		},
		Blank: func(st Status, reason string) Result {
			if st == StatusNotConfigured {
				return Disks{}
			}
			return Disks{{Status: st, Reason: reason}}
		},
		Figures: []Figure{
			{Field: "percent", Unit: UnitPercent, Kind: KindGauge, Metric: "vitals_disk_usage_ratio",
				Help:  "Filesystem space used, as df reports it: used / (used + available), 0 to 1.",
				Value: v(func(d *Disk) *float64 { return d.Percent })},
			{Field: "used_bytes", Unit: UnitBytes, Kind: KindGauge, Metric: "vitals_disk_used_bytes",
				Help:  "Filesystem space used.",
				Value: v(func(d *Disk) *float64 { return num(d.UsedBytes) })},
			{Field: "total_bytes", Unit: UnitBytes, Kind: KindGauge, Metric: "vitals_disk_total_bytes",
				Help:  "Filesystem size.",
				Value: v(func(d *Disk) *float64 { return num(d.TotalBytes) })},
			{Field: "available_bytes", Unit: UnitBytes, Kind: KindGauge, Metric: "vitals_disk_available_bytes",
				Help:  "Filesystem space available to unprivileged users.",
				Value: v(func(d *Disk) *float64 { return num(d.AvailableBytes) })},
		},
	}
}

func databaseGroup() Group {
	v := func(f func(*Database) *float64) func(*Snapshot, int) *float64 {
		return in(func(s *Snapshot) *Database { return &s.Database }, f)
	}
	const byState = "Sessions of the database by state."
	return Group{
		Name:     "database",
		Metric:   "vitals_database",
		InfoHelp: "Always 1; backend is postgres or sqlite.",
		Entries: func(s *Snapshot) []State {
			d := s.Database
			sts := one(d.Status, d.Reason, "")
			if d.Backend != "" && d.Status != StatusNotConfigured {
				sts[0].Labels = []string{"backend", d.Backend}
			}
			return sts
		},
		Parts: func(s *Snapshot) []State {
			if s.Database.ConnectionsStatus == "" {
				return nil
			}
			return []State{{Part: "connections", Status: s.Database.ConnectionsStatus, Reason: s.Database.ConnectionsReason}}
		},
		Blank: func(st Status, reason string) Result { return Database{Status: st, Reason: reason} },
		Figures: []Figure{
			{Field: "latency_ms", Unit: UnitMillis, Kind: KindGauge, Metric: "vitals_database_latency_seconds",
				Help:  "Round trip of SELECT 1 to the database (median of three).",
				Value: v(func(d *Database) *float64 { return d.LatencyMS })},
			{Field: "connections", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_database_connections",
				Help:  "Sessions of the database that have a state (the count from pg_stat_activity).",
				Value: v(func(d *Database) *float64 { return num(d.Connections) })},
			{Field: "max_connections", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_database_max_connections",
				Help:  "The server's max_connections.",
				Value: v(func(d *Database) *float64 { return num(d.MaxConnections) })},
			{Field: "connections_percent", Unit: UnitPercent, Kind: KindGauge, Metric: "vitals_database_connections_usage_ratio",
				Help:  "Connections against max_connections, 0 to 1.",
				Value: v(func(d *Database) *float64 { return d.ConnectionsPercent })},
			{Field: "connections_active", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_database_connections_by_state",
				Labels: []string{"state", "active"}, Help: byState,
				Value: v(func(d *Database) *float64 { return num(d.ConnectionsActive) })},
			{Field: "connections_idle", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_database_connections_by_state",
				Labels: []string{"state", "idle"}, Help: byState,
				Value: v(func(d *Database) *float64 { return num(d.ConnectionsIdle) })},
			{Field: "connections_idle_in_transaction", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_database_connections_by_state",
				Labels: []string{"state", "idle_in_transaction"}, Help: byState,
				Value: v(func(d *Database) *float64 { return num(d.ConnectionsIdleInTransaction) })},
			{Field: "server_connections", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_database_server_connections",
				Help:  "Client sessions of every database of the server: what runs out against max_connections.",
				Value: v(func(d *Database) *float64 { return num(d.ServerConnections) })},
			{Field: "server_connections_percent", Unit: UnitPercent, Kind: KindGauge, Metric: "vitals_database_server_connections_usage_ratio",
				Help:  "The server's client sessions against max_connections, 0 to 1.",
				Value: v(func(d *Database) *float64 { return d.ServerConnectionsPercent })},
			{Field: "oldest_xact_age_seconds", Unit: UnitSeconds, Kind: KindGauge, Metric: "vitals_database_oldest_transaction_age_seconds",
				Help:  "Age of the oldest open transaction of any client session on the server (0 for none).",
				Value: v(func(d *Database) *float64 { return d.OldestXactAgeSeconds })},
			{Field: "oldest_idle_in_transaction_seconds", Unit: UnitSeconds, Kind: KindGauge, Metric: "vitals_database_oldest_idle_in_transaction_seconds",
				Help:  "How long the longest idle-in-transaction session on the server has waited (0 for none).",
				Value: v(func(d *Database) *float64 { return d.OldestIdleInTransactionSeconds })},
			{Field: "size_bytes", Unit: UnitBytes, Kind: KindGauge, Metric: "vitals_database_size_bytes",
				Help:  "pg_database_size of the database.",
				Value: v(func(d *Database) *float64 { return num(d.SizeBytes) })},
			{Field: "partial", Unit: UnitBool, Kind: KindGauge, Metric: "vitals_database_connections_partial",
				Help: "1 when vitals' role lacks pg_monitor, so other roles' sessions are not counted and the connection figures may be low.",
				// Only meaningful where there are connection figures.
				Value: v(func(d *Database) *float64 {
					if d.Connections == nil {
						return nil
					}
					return flag(&d.Partial)
				})},
		},
	}
}

func redisGroup() Group {
	v := func(f func(*Redis) *float64) func(*Snapshot, int) *float64 {
		return in(func(s *Snapshot) *Redis { return &s.Redis }, f)
	}
	return Group{
		Name:    "redis",
		Entries: func(s *Snapshot) []State { return one(s.Redis.Status, s.Redis.Reason, "") },
		Blank:   func(st Status, reason string) Result { return Redis{Status: st, Reason: reason} },
		Figures: []Figure{
			{Field: "latency_ms", Unit: UnitMillis, Kind: KindGauge, Metric: "vitals_redis_latency_seconds",
				Help:  "Round trip of PING to Redis (median of three).",
				Value: v(func(r *Redis) *float64 { return r.LatencyMS })},
			{Field: "connected_clients", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_redis_connected_clients",
				Help:  "Redis' connected_clients.",
				Value: v(func(r *Redis) *float64 { return num(r.ConnectedClients) })},
			{Field: "used_memory_bytes", Unit: UnitBytes, Kind: KindGauge, Metric: "vitals_redis_used_memory_bytes",
				Help:  "Redis' used_memory.",
				Value: v(func(r *Redis) *float64 { return num(r.UsedMemoryBytes) })},
		},
	}
}

func loadGroup() Group {
	v := func(f func(*Load) *float64) func(*Snapshot, int) *float64 {
		return in(func(s *Snapshot) *Load { return &s.Load }, f)
	}
	g := func(field string, unit Unit, metric, help string, f func(*Load) *float64) Figure {
		return Figure{Field: field, Unit: unit, Kind: KindGauge, Metric: metric, Help: help, Value: v(f)}
	}
	return Group{
		Name:    "load",
		Entries: func(s *Snapshot) []State { return one(s.Load.Status, s.Load.Reason, s.Load.Source) },
		Blank:   func(st Status, reason string) Result { return Load{Status: st, Reason: reason} },
		Figures: []Figure{
			g("load1", UnitLoad, "vitals_load1", "Load average over 1 minute.", func(l *Load) *float64 { return l.Load1 }),
			g("load5", UnitLoad, "vitals_load5", "Load average over 5 minutes.", func(l *Load) *float64 { return l.Load5 }),
			g("load15", UnitLoad, "vitals_load15", "Load average over 15 minutes.", func(l *Load) *float64 { return l.Load15 }),
			g("cores", UnitCores, "vitals_load_cores", "Cores the per-core load averages divide by (as vitals_cpu_cores).",
				func(l *Load) *float64 { return l.Cores }),
			g("load1_per_core", UnitLoad, "vitals_load1_per_core", "Load average over 1 minute per available core; above 1, work is waiting.",
				func(l *Load) *float64 { return l.Load1PerCore }),
			g("load5_per_core", UnitLoad, "vitals_load5_per_core", "Load average over 5 minutes per available core.",
				func(l *Load) *float64 { return l.Load5PerCore }),
			g("load15_per_core", UnitLoad, "vitals_load15_per_core", "Load average over 15 minutes per available core.",
				func(l *Load) *float64 { return l.Load15PerCore }),
			g("host_uptime_seconds", UnitSeconds, "vitals_host_uptime_seconds", "Time since the kernel booted.",
				func(l *Load) *float64 { return l.HostUptimeSeconds }),
		},
	}
}

func networkGroup() Group {
	v := func(f func(*Network) *float64) func(*Snapshot, int) *float64 {
		return in(func(s *Snapshot) *Network { return &s.Network }, f)
	}
	return Group{
		Name:    "network",
		Entries: func(s *Snapshot) []State { return one(s.Network.Status, s.Network.Reason, s.Network.Source) },
		Blank:   func(st Status, reason string) Result { return Network{Status: st, Reason: reason} },
		Figures: []Figure{
			{Field: "receive_bytes_per_second", Unit: UnitBytesPerSecond, Kind: KindGauge, Metric: "vitals_network_receive_bytes_per_second",
				Help:  "Bytes received per second over the last sampling interval, every interface but loopback.",
				Value: v(func(n *Network) *float64 { return n.ReceiveBytesPerSecond })},
			{Field: "transmit_bytes_per_second", Unit: UnitBytesPerSecond, Kind: KindGauge, Metric: "vitals_network_transmit_bytes_per_second",
				Help:  "Bytes sent per second over the last sampling interval, every interface but loopback.",
				Value: v(func(n *Network) *float64 { return n.TransmitBytesPerSecond })},
			{Field: "interfaces", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_network_interfaces",
				Help:  "Network interfaces summed in the traffic figures.",
				Value: v(func(n *Network) *float64 { return num(n.Interfaces) })},
			{Field: "receive_bytes_total", Unit: UnitBytes, Kind: KindCounter, Metric: "vitals_network_receive_bytes_total",
				Help:  "Bytes received, every interface but loopback, summed.",
				Value: v(func(n *Network) *float64 { return num(n.ReceiveBytesTotal) })},
			{Field: "transmit_bytes_total", Unit: UnitBytes, Kind: KindCounter, Metric: "vitals_network_transmit_bytes_total",
				Help:  "Bytes sent, every interface but loopback, summed.",
				Value: v(func(n *Network) *float64 { return num(n.TransmitBytesTotal) })},
		},
	}
}

func processGroup() Group {
	v := func(f func(*Process) *float64) func(*Snapshot, int) *float64 {
		return in(func(s *Snapshot) *Process { return &s.Process }, f)
	}
	return Group{
		Name:    "process",
		Entries: func(s *Snapshot) []State { return one(s.Process.Status, s.Process.Reason, "") },
		Blank:   func(st Status, reason string) Result { return Process{Status: st, Reason: reason} },
		Figures: []Figure{
			{Field: "rss_bytes", Unit: UnitBytes, Kind: KindGauge, Metric: "vitals_process_resident_memory_bytes",
				Help:  "Resident memory of the vitals process.",
				Value: v(func(p *Process) *float64 { return num(p.RSSBytes) })},
			{Field: "goroutines", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_process_goroutines",
				Help:  "Goroutines of the vitals process.",
				Value: v(func(p *Process) *float64 { return num(p.Goroutines) })},
			{Field: "uptime_seconds", Unit: UnitSeconds, Kind: KindGauge, Metric: "vitals_process_uptime_seconds",
				Help:  "Time since the vitals process started.",
				Value: v(func(p *Process) *float64 { return p.UptimeSeconds })},
			{Field: "cpu_seconds_total", Unit: UnitSeconds, Kind: KindCounter, Metric: "vitals_process_cpu_seconds_total",
				Help:  "CPU time the vitals process has used, user and system.",
				Value: v(func(p *Process) *float64 { return p.CPUSecondsTotal })},
			{Field: "virtual_memory_bytes", Unit: UnitBytes, Kind: KindGauge, Metric: "vitals_process_virtual_memory_bytes",
				Help:  "Virtual memory size of the vitals process.",
				Value: v(func(p *Process) *float64 { return num(p.VirtualMemoryBytes) })},
			{Field: "open_fds", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_process_open_fds",
				Help:  "File descriptors the vitals process holds open.",
				Value: v(func(p *Process) *float64 { return num(p.OpenFDs) })},
			{Field: "max_fds", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_process_max_fds",
				Help:  "The vitals process' soft limit of open file descriptors.",
				Value: v(func(p *Process) *float64 { return num(p.MaxFDs) })},
		},
	}
}

func httpGroup() Group {
	v := func(f func(*HTTPTarget) *float64) func(*Snapshot, int) *float64 {
		return at(func(s *Snapshot) []HTTPTarget { return s.HTTP }, f)
	}
	return Group{
		Name:     "http",
		Key:      "name",
		Metric:   "vitals_http_target",
		UpHelp:   "1 when the target answered (whatever the status), 0 on a connection failure or timeout.",
		InfoHelp: "Always 1; url is the target without credentials or query.",
		Entries: func(s *Snapshot) []State {
			out := make([]State, len(s.HTTP))
			for i, h := range s.HTTP {
				out[i] = State{Key: h.Name, Status: h.Status, Reason: h.Reason, Labels: []string{"url", h.URL}}
			}
			return out
		},
		// No entry even when unavailable: the targets are the probe's to
		// name (HTTPProbe.Unavailable).
		Blank: func(Status, string) Result { return HTTPTargets{} },
		Figures: []Figure{
			{Field: "latency_ms", Unit: UnitMillis, Kind: KindGauge, Metric: "vitals_http_target_latency_seconds",
				Help:  "Time to the end of the target's answer (median of three requests).",
				Value: v(func(h *HTTPTarget) *float64 { return h.LatencyMS })},
			{Field: "code", Unit: UnitStatusCode, Kind: KindGauge, Metric: "vitals_http_target_status_code",
				Help:  "HTTP status the target answered with.",
				Value: v(func(h *HTTPTarget) *float64 { return num(h.Code) })},
			{Field: "healthy", Unit: UnitBool, Kind: KindGauge, Metric: "vitals_http_target_healthy",
				Help:  "1 when the target answered 2xx or 3xx, else 0.",
				Value: v(func(h *HTTPTarget) *float64 { return flag(h.Healthy) })},
		},
	}
}

func apiGroup() Group {
	v := func(f func(*API) *float64) func(*Snapshot, int) *float64 {
		return in(func(s *Snapshot) *API { return &s.API }, f)
	}
	// The label is Prometheus' "quantile" (0.95, not 95): /metrics sends
	// these figures as one summary, the window's quantiles with the
	// cumulative histogram's count and sum, as client_golang's summaries
	// have them.
	const pctHelp = "Latency quantiles of the requests of the last window (up to 12.5 % error), with the count and sum of every request since start; vitals_api_request_duration_seconds is the cumulative histogram."
	pct := func(field, label string, f func(*API) *float64) Figure {
		return Figure{Field: field, Unit: UnitMillis, Kind: KindGauge, Metric: "vitals_api_window_latency_seconds",
			Labels: []string{"quantile", label}, Help: pctHelp, Value: v(f)}
	}
	return Group{
		Name:    "api",
		Entries: func(s *Snapshot) []State { return one(s.API.Status, s.API.Reason, "") },
		Blank:   func(st Status, reason string) Result { return API{Status: st, Reason: reason} },
		Figures: []Figure{
			{Field: "window_seconds", Unit: UnitSeconds, Kind: KindGauge, Metric: "vitals_api_window_seconds",
				Help:  "Length of the sliding window of the vitals_api_window_* figures.",
				Value: v(func(a *API) *float64 { return a.WindowSeconds })},
			{Field: "requests", Unit: UnitCount, Kind: KindGauge, Metric: "vitals_api_window_requests",
				Help:  "Requests vitals answered within the window.",
				Value: v(func(a *API) *float64 { return num(a.Requests) })},
			{Field: "error_percent", Unit: UnitPercent, Kind: KindGauge, Metric: "vitals_api_window_error_ratio",
				Help:  "Share of the window's requests answered with a 5xx status, 0 to 1.",
				Value: v(func(a *API) *float64 { return a.ErrorPercent })},
			pct("p50_ms", "0.5", func(a *API) *float64 { return a.P50MS }),
			pct("p95_ms", "0.95", func(a *API) *float64 { return a.P95MS }),
			pct("p99_ms", "0.99", func(a *API) *float64 { return a.P99MS }),
		},
	}
}

func appGroup() Group {
	v := func(f func(*AppFigures) *float64) func(*Snapshot, int) *float64 {
		return in(func(s *Snapshot) *AppFigures { return &s.App.AppFigures }, f)
	}
	return Group{
		Name:    "app",
		Entries: func(s *Snapshot) []State { return one(s.App.Status, s.App.Reason, "") },
		Blank:   func(st Status, reason string) Result { return AppResult{App: App{Status: st, Reason: reason}} },
		Figures: append([]Figure{
			{Field: "window_seconds", Unit: UnitSeconds, Kind: KindGauge, Metric: "vitals_app_window_seconds",
				Help:  "Length of the sliding window of the vitals_app_* figures.",
				Value: in(func(s *Snapshot) *App { return &s.App }, func(a *App) *float64 { return a.WindowSeconds })},
		}, appFigureList("vitals_app_window", "the application's requests, as its clients' middleware posted them", v)...),
	}
}

func appRoutesGroup() Group {
	v := func(f func(*AppFigures) *float64) func(*Snapshot, int) *float64 {
		return at(func(s *Snapshot) []AppRoute { return s.AppRoutes }, func(r *AppRoute) *float64 { return f(&r.AppFigures) })
	}
	return Group{
		Name:   "app_routes",
		Key:    "route",
		Metric: "vitals_app_route",
		UpHelp: "1 for each route the snapshot names (the slowest 20 by p95, and other).",
		Entries: func(s *Snapshot) []State {
			out := make([]State, len(s.AppRoutes))
			for i, r := range s.AppRoutes {
				out[i] = State{Key: r.Name, Status: r.Status, Reason: r.Reason}
			}
			return out
		},
		Blank:   func(Status, string) Result { return AppRoutes{} },
		Figures: appFigureList("vitals_app_route_window", `one route's requests (route="other" sums the routes past the slowest 20)`, v),
	}
}

// appFigureList is AppFigures as published, the whole application's and
// each route's alike; of says whose requests they are, in the help texts.
func appFigureList(prefix, of string, v func(func(*AppFigures) *float64) func(*Snapshot, int) *float64) []Figure {
	// The label is percentile, not Prometheus' quantile: quantile belongs
	// to summaries (promtool refuses it on a gauge), and a summary needs a
	// cumulative count and sum, which posted windows do not give.
	pctHelp := "Latency percentiles of " + of + ", over the window (up to 12.5 % error)."
	pct := func(field, label string, f func(*AppFigures) *float64) Figure {
		return Figure{Field: field, Unit: UnitMillis, Kind: KindGauge, Metric: prefix + "_latency_seconds",
			Labels: []string{"percentile", label}, Help: pctHelp, Value: v(f)}
	}
	return []Figure{
		{Field: "requests", Unit: UnitCount, Kind: KindGauge, Metric: prefix + "_requests",
			Help:  "Count of " + of + ", within the window.",
			Value: v(func(a *AppFigures) *float64 { return num(a.Requests) })},
		{Field: "rate_per_second", Unit: UnitCount, Kind: KindGauge, Metric: prefix + "_requests_per_second",
			Help:  "Rate per second of " + of + ", over the window.",
			Value: v(func(a *AppFigures) *float64 { return a.RatePerSecond })},
		{Field: "error_percent", Unit: UnitPercent, Kind: KindGauge, Metric: prefix + "_error_ratio",
			Help:  "Share answered with a 5xx status of " + of + ", 0 to 1.",
			Value: v(func(a *AppFigures) *float64 { return a.ErrorPercent })},
		pct("p50_ms", "50", func(a *AppFigures) *float64 { return a.P50MS }),
		pct("p95_ms", "95", func(a *AppFigures) *float64 { return a.P95MS }),
		pct("p99_ms", "99", func(a *AppFigures) *float64 { return a.P99MS }),
	}
}
