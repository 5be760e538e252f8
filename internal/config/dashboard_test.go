package config

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/web"
)

// The thresholds' defaults are the page's own defaults, and the dashboard's
// settings parse.
func TestDashboardSettings(t *testing.T) {
	c, err := Load(nil, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Thresholds != web.DefaultThresholds() {
		t.Fatalf("default thresholds %+v, want %+v", c.Thresholds, web.DefaultThresholds())
	}
	if c.SessionTTL != 12*time.Hour || c.TrustProxy || c.SessionKey != "" || c.Timezone != time.UTC {
		t.Fatalf("defaults: ttl %s, trust %v, tz %v", c.SessionTTL, c.TrustProxy, c.Timezone)
	}
	c, err = Load(nil, envOf(map[string]string{
		"VITALS_WARN_CPU_PERCENT": "50", "VITALS_CRIT_CPU_PERCENT": "75.5", "VITALS_WARN_LOAD_PER_CORE": "0.8",
		"VITALS_TIMEZONE": "Europe/Moscow", "VITALS_TRUST_PROXY": "true", "VITALS_SESSION_TTL": "30m",
		"VITALS_SESSION_KEY": strings.Repeat("k", 32),
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Thresholds.CPUPercent != (web.Limit{Warn: 50, Crit: 75.5}) || c.Thresholds.LoadPerCore.Warn != 0.8 ||
		c.Timezone.String() != "Europe/Moscow" || !c.TrustProxy || c.SessionTTL != 30*time.Minute || len(c.SessionKey) != 32 {
		t.Fatalf("parsed: %+v", c)
	}
}

func TestDashboardSettingsBadValues(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"VITALS_CRIT_CPU_PERCENT": "60"}, "VITALS_CRIT_CPU_PERCENT: must be above VITALS_WARN_CPU_PERCENT (70)"},
		{map[string]string{"VITALS_WARN_DISK_PERCENT": "101"}, "VITALS_WARN_DISK_PERCENT: must be a number above 0 and at most 100"},
		{map[string]string{"VITALS_WARN_DB_LATENCY_MS": "-1"}, "VITALS_WARN_DB_LATENCY_MS"},
		{map[string]string{"VITALS_WARN_API_P95_MS": "fast"}, "VITALS_WARN_API_P95_MS"},
		{map[string]string{"VITALS_TIMEZONE": "Mars/Olympus"}, "VITALS_TIMEZONE: must be an IANA time zone"},
		{map[string]string{"VITALS_TRUST_PROXY": "yes"}, "VITALS_TRUST_PROXY: must be true or false"},
		{map[string]string{"VITALS_SESSION_TTL": "1m"}, "VITALS_SESSION_TTL"},
		{map[string]string{"VITALS_SESSION_KEY": "short-secret"}, "VITALS_SESSION_KEY: must be at least 32 characters"},
	} {
		_, err := Load(nil, envOf(tc.env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "short-secret") {
			t.Errorf("the error echoes the secret: %v", err)
		}
	}
}
