package config

import "github.com/vitalsdev/vitals/alerts"

// alertSettings are the alert rules (DESIGN.md, "Alerts").
func alertSettings() []Setting {
	return []Setting{
		{Env: "VITALS_ALERTS",
			Help: "alert rules, `name: CONDITION [for DURATION] [clear CONDITION]` separated by `;`, over the built-in ones (cpu_high, memory_high, disk_full, db_connections_high, db_down, redis_down, http_down); a rule of the same name replaces one, `name: off` disables it (see Alerts below)",
			parse: func(c *Config, v string) (err error) {
				c.AlertRules, err = alerts.Parse(v)
				return err
			}},
	}
}
