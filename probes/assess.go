package probes

import "strings"

// Level is a group's state: what its card says (DESIGN.md, "Status: what a
// card says"). Status says whether there is a reading; Level says whether
// that reading, or its absence, needs the admin: a database that cannot be
// reached is down, loud, while Redis that was never configured is quiet.
type Level string

// The states a group can be in. Every group carries exactly one.
const (
	LevelOK            Level = "ok"
	LevelWarning       Level = "warning"
	LevelCritical      Level = "critical"
	LevelDown          Level = "down"
	LevelStale         Level = "stale"
	LevelNotConfigured Level = "not_configured"
	LevelNotApplicable Level = "not_applicable"
)

// Levels lists every state from the quietest to the loudest; Worst and
// the page's summary rank by this order.
func Levels() []Level {
	return []Level{LevelNotApplicable, LevelNotConfigured, LevelOK, LevelStale, LevelWarning, LevelCritical, LevelDown}
}

// Rank orders states from quiet to loud: down is at least as loud as
// critical because a source that cannot be read hides whatever is wrong
// behind it. An unknown state ranks below every known one.
func (l Level) Rank() int {
	for i, x := range Levels() {
		if x == l {
			return i
		}
	}
	return -1
}

// Quiet is true for the states that need nothing from the admin and are
// collapsed into one line on the page.
func (l Level) Quiet() bool { return l == LevelNotConfigured || l == LevelNotApplicable }

// Worst returns the loudest of ls, not_configured for none.
func Worst(ls ...Level) Level {
	w := LevelNotConfigured
	for _, l := range ls {
		if l.Rank() > w.Rank() {
			w = l
		}
	}
	return w
}

// Limit is a warning and a critical threshold for one figure; a figure at
// or above Warn is a warning, at or above Crit critical.
type Limit struct {
	Warn float64
	Crit float64
}

// Level is the state of v against l; ok for an unknown v, whose group's
// status says why it is unknown.
func (l Limit) Level(v *float64) Level {
	switch {
	case v == nil:
		return LevelOK
	case *v >= l.Crit:
		return LevelCritical
	case *v >= l.Warn:
		return LevelWarning
	default:
		return LevelOK
	}
}

// Thresholds are the admin's limits per figure (VITALS_WARN_*,
// VITALS_CRIT_*): the sampler assesses every snapshot by them, so the
// JSON's state and the page's cards agree.
type Thresholds struct {
	CPUPercent    Limit
	MemoryPercent Limit
	DiskPercent   Limit
	// ConnectionsPercent applies to the server's sessions against
	// max_connections, what runs out on a shared server.
	ConnectionsPercent Limit
	DatabaseLatencyMS  Limit
	RedisLatencyMS     Limit
	// APIP95MS applies to the API's 95th percentile.
	APIP95MS      Limit
	HTTPLatencyMS Limit
	// LoadPerCore applies to the 5-minute load average per effective core.
	LoadPerCore Limit
}

// DefaultThresholds are the thresholds used when none are configured; the
// configuration's defaults are the same numbers (a test checks).
func DefaultThresholds() Thresholds {
	return Thresholds{
		CPUPercent:         Limit{70, 90},
		MemoryPercent:      Limit{80, 90},
		DiskPercent:        Limit{80, 90},
		ConnectionsPercent: Limit{70, 90},
		DatabaseLatencyMS:  Limit{50, 200},
		RedisLatencyMS:     Limit{20, 100},
		APIP95MS:           Limit{300, 1000},
		HTTPLatencyMS:      Limit{500, 2000},
		LoadPerCore:        Limit{1, 2},
	}
}

// ReasonStarting is the reason of an HTTP target that has refused
// connections since vitals started, within the start grace: the
// application next to vitals is usually still starting, which is not an
// outage (issue 15).
const ReasonStarting = "waiting for the target to start listening"

// unread is the state of a group whose status is not ok: a configured
// source that failed is down; one whose first reading has not come yet
// (warming up, a target still starting, a probe still running from an
// earlier tick) is stale, never a loud false alarm.
func unread(st Status, reason string) Level {
	switch st {
	case StatusNotConfigured:
		return LevelNotConfigured
	case StatusNotApplicable:
		return LevelNotApplicable
	}
	if reason == reasonWarmingUp || reason == ReasonStarting || strings.HasSuffix(reason, reasonStillRunning) {
		return LevelStale
	}
	return LevelDown
}

// reasonStillRunning ends the reason of a probe skipped because its
// previous read has not returned: its last reading is old, not failed.
const reasonStillRunning = "previous run still in progress"

// by is the state of a group: unread when its status is not ok, else the
// loudest of the levels its figures reach.
func by(st Status, reason string, ls ...Level) Level {
	if st != StatusOK {
		return unread(st, reason)
	}
	return Worst(append(ls, LevelOK)...)
}

// DatabaseConnections is the state of the database's connection figures
// (the connections card): not_applicable on SQLite.
func (t Thresholds) DatabaseConnections(d Database) Level {
	if d.Status == StatusOK && d.ConnectionsStatus != "" && d.ConnectionsStatus != StatusOK {
		return unread(d.ConnectionsStatus, d.ConnectionsReason)
	}
	pct := d.ServerConnectionsPercent
	if pct == nil {
		pct = d.ConnectionsPercent
	}
	return by(d.Status, d.Reason, t.ConnectionsPercent.Level(pct))
}

// DatabaseLatency is the state of the database's round trip (the latency
// card).
func (t Thresholds) DatabaseLatency(d Database) Level {
	return by(d.Status, d.Reason, t.DatabaseLatencyMS.Level(d.LatencyMS))
}

// HTTPTarget is the state of one target: down when it refused, failed or
// timed out; critical when it answered with an error status; else by its
// latency, so a slow target shows its figure with a warning.
func (t Thresholds) HTTPTarget(h HTTPTarget) Level {
	if h.Status == StatusOK && h.Healthy != nil && !*h.Healthy {
		return LevelCritical
	}
	return by(h.Status, h.Reason, t.HTTPLatencyMS.Level(h.LatencyMS))
}

// Assess sets every group's State from its status and t. The sampler calls
// it once per tick, before the snapshot is rendered, so that nothing on a
// read path computes a state.
func (s *Snapshot) Assess(t Thresholds) {
	s.CPU.State = by(s.CPU.Status, s.CPU.Reason, t.CPUPercent.Level(s.CPU.Percent))
	s.Memory.State = by(s.Memory.Status, s.Memory.Reason, t.MemoryPercent.Level(s.Memory.Percent))
	for i := range s.Disk {
		d := &s.Disk[i]
		d.State = by(d.Status, d.Reason, t.DiskPercent.Level(d.Percent))
	}
	db := &s.Database
	if db.Status == StatusOK {
		// On SQLite the connection figures are not applicable but the
		// round trip is: the group is judged by what it has.
		conn := t.DatabaseConnections(*db)
		if conn.Quiet() {
			conn = LevelOK
		}
		db.State = Worst(conn, t.DatabaseLatency(*db))
	} else {
		db.State = unread(db.Status, db.Reason)
	}
	s.Redis.State = by(s.Redis.Status, s.Redis.Reason, t.RedisLatencyMS.Level(s.Redis.LatencyMS))
	s.Load.State = by(s.Load.Status, s.Load.Reason, t.LoadPerCore.Level(s.Load.Load5PerCore))
	s.Network.State = by(s.Network.Status, s.Network.Reason)
	s.Process.State = by(s.Process.Status, s.Process.Reason)
	for i := range s.HTTP {
		s.HTTP[i].State = t.HTTPTarget(s.HTTP[i])
	}
	s.API.State = by(s.API.Status, s.API.Reason, t.APIP95MS.Level(s.API.P95MS))
	s.App.State = by(s.App.Status, s.App.Reason, t.APIP95MS.Level(s.App.P95MS))
}

// HTTPLevel is the state of the http group as one card: its loudest
// target's, not_configured without targets.
func (s *Snapshot) HTTPLevel() Level {
	return worstOf(s.HTTP, func(h HTTPTarget) Level { return h.State })
}

// DiskLevel is the state of the disk group as a whole.
func (s *Snapshot) DiskLevel() Level {
	return worstOf(s.Disk, func(d Disk) Level { return d.State })
}

// worstOf is the loudest state among a group's members, not_configured
// when it has none.
func worstOf[T any](members []T, state func(T) Level) Level {
	w := LevelNotConfigured
	for _, m := range members {
		w = Worst(w, state(m))
	}
	return w
}
