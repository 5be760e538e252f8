package config

import (
	"errors"
	"net/url"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/notify"
)

// alertSettings are the alert rules (DESIGN.md, "Alerts").
func alertSettings() []Setting {
	return []Setting{
		{Env: "VITALS_ALERTS",
			Help: "alert rules, `name: CONDITION [for DURATION] [clear CONDITION]` separated by `;`, over the built-in ones (cpu_high, memory_high, disk_full, db_connections_high, db_down, redis_down, http_down); a rule of the same name replaces one, `name: off` disables it (see Alerts below)",
			parse: func(c *Config, v string) (err error) {
				c.AlertRules, err = alerts.Parse(v)
				return err
			}},
		{Env: "VITALS_NOTIFY", Secret: true,
			Help: "where alerts are sent: URLs separated by spaces, the scheme naming the kind: https://... (JSON webhook, `?secret=` signs it), slack+https://, discord+https://, ntfy+https://HOST/TOPIC, telegram+https://HOST/bot<TOKEN>?chat_id=ID, smtp:// or smtps://user:pass@host:port?from=&to=",
			parse: func(c *Config, v string) (err error) {
				c.Channels, err = notify.Parse(v)
				return err
			}},
		{Env: "VITALS_HEARTBEAT_URL", Secret: true,
			Help: "an outside dead-man's switch (healthchecks.io, Uptime Kuma's push URL, ...) vitals calls every sample interval with GET; when the calls stop, vitals itself has stopped",
			parse: func(c *Config, v string) error {
				if v == "" {
					c.HeartbeatURL = ""
					return nil
				}
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("must be an http:// or https:// URL")
				}
				c.HeartbeatURL = v
				return nil
			}},
	}
}
