package probes

import "testing"

func TestLimitLevel(t *testing.T) {
	l := Limit{Warn: 70, Crit: 90}
	for v, want := range map[float64]Level{0: LevelOK, 69.9: LevelOK, 70: LevelWarning, 89.9: LevelWarning, 90: LevelCritical, 100: LevelCritical} {
		if got := l.Level(&v); got != want {
			t.Errorf("%v: %s, want %s", v, got, want)
		}
	}
}

func TestAssessHTTPTargets(t *testing.T) {
	th := DefaultThresholds()
	cases := []struct {
		name string
		h    HTTPTarget
		want Level
	}{
		{"fast", HTTPTarget{Status: StatusOK, Healthy: ptr(true), LatencyMS: ptr(20.0)}, LevelOK},
		// The case: 0.8 s is a warning with its figure, not N/A.
		{"slow", HTTPTarget{Status: StatusOK, Healthy: ptr(true), LatencyMS: ptr(800.0)}, LevelWarning},
		{"very slow", HTTPTarget{Status: StatusOK, Healthy: ptr(true), LatencyMS: ptr(2500.0)}, LevelCritical},
		{"error status", HTTPTarget{Status: StatusOK, Healthy: ptr(false), LatencyMS: ptr(5.0)}, LevelCritical},
		{"refused", HTTPTarget{Status: StatusUnavailable, Reason: "connection refused"}, LevelDown},
		{"timed out", HTTPTarget{Status: StatusUnavailable, Reason: "timeout after 5s"}, LevelDown},
		{"starting", HTTPTarget{Status: StatusUnavailable, Reason: ReasonStarting}, LevelStale},
	}
	for _, c := range cases {
		if got := th.HTTPTarget(c.h); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestAssessSnapshot(t *testing.T) {
	s := Snapshot{
		CPU:      CPU{Status: StatusOK, Percent: ptr(95.0)},
		Memory:   Memory{Status: StatusUnavailable, Reason: reasonWarmingUp},
		Database: Database{Status: StatusUnavailable, Reason: "connection refused"},
		Redis:    Redis{Status: StatusNotConfigured, Reason: "REDIS_URL is not set"},
		Load:     Load{Status: StatusOK, Load5PerCore: ptr(1.5)},
		Network:  Network{Status: StatusOK},
		Process:  Process{Status: StatusNotApplicable},
		API:      API{Status: StatusOK},
	}
	s.Assess(DefaultThresholds())
	for name, got := range map[string][2]Level{
		"cpu":      {s.CPU.State, LevelCritical},
		"memory":   {s.Memory.State, LevelStale},
		"database": {s.Database.State, LevelDown},
		"redis":    {s.Redis.State, LevelNotConfigured},
		"load":     {s.Load.State, LevelWarning},
		"network":  {s.Network.State, LevelOK},
		"process":  {s.Process.State, LevelNotApplicable},
		"api":      {s.API.State, LevelOK},
		"http":     {s.HTTPLevel(), LevelNotConfigured},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: %s, want %s", name, got[0], got[1])
		}
	}
	if w := Worst(s.CPU.State, s.Database.State, s.Redis.State); w != LevelDown {
		t.Errorf("worst %s, want down (at least as loud as critical)", w)
	}

	// SQLite: connections not applicable, the group judged by its latency.
	sqlite := Database{Status: StatusOK, LatencyMS: ptr(0.2), ConnectionsStatus: StatusNotApplicable, ConnectionsReason: "SQLite"}
	th := DefaultThresholds()
	if th.DatabaseConnections(sqlite) != LevelNotApplicable || th.DatabaseLatency(sqlite) != LevelOK {
		t.Errorf("sqlite cards: %s, %s", th.DatabaseConnections(sqlite), th.DatabaseLatency(sqlite))
	}
	s = Snapshot{Database: sqlite}
	s.Assess(th)
	if s.Database.State != LevelOK {
		t.Errorf("sqlite group %s, want ok", s.Database.State)
	}
}
