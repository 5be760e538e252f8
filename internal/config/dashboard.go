package config

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	// Zone data in the binary, so VITALS_TIMEZONE works on images without
	// /usr/share/zoneinfo (Fly's slim ones).
	_ "time/tzdata"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/web"
)

// dashboardSettings are the dashboard's settings: sign-in, client address,
// time zone and the cards' thresholds.
func dashboardSettings() []Setting {
	list := []Setting{
		{Env: "VITALS_SESSION_KEY", Secret: true,
			Help: fmt.Sprintf("secret that signs the admin's session cookies, at least %d characters; unset, one is generated once and kept in the store", handlers.MinSessionKeyLen),
			parse: func(c *Config, v string) error {
				if v != "" && len(v) < handlers.MinSessionKeyLen {
					return fmt.Errorf("must be at least %d characters", handlers.MinSessionKeyLen)
				}
				c.SessionKey = v
				return nil
			}},
		{Env: "VITALS_SESSION_TTL", Default: "12h", Help: "how long a sign-in lasts (5m to 720h)",
			parse: func(c *Config, v string) (err error) {
				c.SessionTTL, err = durationIn(v, 5*time.Minute, 720*time.Hour)
				return
			}},
		{Env: "VITALS_TRUST_PROXY", Default: "false", Help: "true takes the client address from Fly-Client-IP or X-Forwarded-For (only behind a proxy that sets them); false uses the connection's",
			parse: func(c *Config, v string) error { return boolIn(&c.TrustProxy, v) }},
		{Env: "VITALS_TIMEZONE", Default: "UTC", Help: "time zone of the exact times on the dashboard (an IANA name such as Europe/Moscow)",
			parse: func(c *Config, v string) error {
				loc, err := time.LoadLocation(v)
				if err != nil || v == "" || v == "Local" {
					return errors.New("must be an IANA time zone name such as Europe/Moscow or UTC")
				}
				c.Timezone = loc
				return nil
			}},
	}
	return append(list, thresholdSettings()...)
}

// thresholdSettings are a warning and a critical setting for each figure
// the cards colour (VITALS_WARN_CPU_PERCENT, VITALS_CRIT_CPU_PERCENT, ...);
// defaults are web.DefaultThresholds.
func thresholdSettings() []Setting {
	def := web.DefaultThresholds()
	figures := []struct {
		name, what string
		max        float64
		limit      func(*web.Thresholds) *web.Limit
	}{
		{"CPU_PERCENT", "CPU use in %", 100, func(t *web.Thresholds) *web.Limit { return &t.CPUPercent }},
		{"MEMORY_PERCENT", "memory use in %", 100, func(t *web.Thresholds) *web.Limit { return &t.MemoryPercent }},
		{"DISK_PERCENT", "disk use in %", 100, func(t *web.Thresholds) *web.Limit { return &t.DiskPercent }},
		{"DB_CONNECTIONS_PERCENT", "database connections in % of max_connections", 100, func(t *web.Thresholds) *web.Limit { return &t.ConnectionsPercent }},
		{"DB_LATENCY_MS", "database round trip in ms", 600_000, func(t *web.Thresholds) *web.Limit { return &t.DatabaseLatencyMS }},
		{"REDIS_LATENCY_MS", "Redis round trip in ms", 600_000, func(t *web.Thresholds) *web.Limit { return &t.RedisLatencyMS }},
		{"API_P95_MS", "API 95th-percentile latency in ms", 600_000, func(t *web.Thresholds) *web.Limit { return &t.APIP95MS }},
		{"HTTP_LATENCY_MS", "HTTP target answer time in ms", 600_000, func(t *web.Thresholds) *web.Limit { return &t.HTTPLatencyMS }},
		{"LOAD_PER_CORE", "5-minute load average per core", 1000, func(t *web.Thresholds) *web.Limit { return &t.LoadPerCore }},
	}
	var out []Setting
	for _, f := range figures {
		d := f.limit(&def)
		warnEnv := "VITALS_WARN_" + f.name
		out = append(out,
			Setting{Env: warnEnv, Default: strconv.FormatFloat(d.Warn, 'f', -1, 64),
				Help: f.what + " from which its card shows a warning",
				parse: func(c *Config, v string) error {
					n, err := floatIn(v, f.max)
					f.limit(&c.Thresholds).Warn = n
					return err
				}},
			Setting{Env: "VITALS_CRIT_" + f.name, Default: strconv.FormatFloat(d.Crit, 'f', -1, 64),
				Help: f.what + " from which its card is critical (above the warning)",
				parse: func(c *Config, v string) error {
					n, err := floatIn(v, f.max)
					if err != nil {
						return err
					}
					l := f.limit(&c.Thresholds)
					if n <= l.Warn {
						return fmt.Errorf("must be above %s (%s)", warnEnv, strconv.FormatFloat(l.Warn, 'f', -1, 64))
					}
					l.Crit = n
					return nil
				}},
		)
	}
	return out
}

func floatIn(v string, max float64) (float64, error) {
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n <= 0 || n > max {
		return 0, fmt.Errorf("must be a number above 0 and at most %s", strconv.FormatFloat(max, 'f', -1, 64))
	}
	return n, nil
}
