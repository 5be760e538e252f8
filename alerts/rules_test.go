package alerts

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultsParse(t *testing.T) {
	rules, err := Parse("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rules {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, " "); got != "cpu_high memory_high disk_full db_connections_high db_down redis_down http_down" {
		t.Errorf("defaults: %s", got)
	}
	if rules[0].For != 5*time.Minute || rules[0].When.Series != "cpu.percent" || rules[0].When.Value != 90 || rules[0].Shared {
		t.Errorf("cpu_high: %+v", rules[0])
	}
	if r := rules[4]; r.When.Kind != KindState || r.When.Series != "database" || r.When.State != "down" || !r.Shared {
		t.Errorf("db_down: %+v", r)
	}
}

func TestParseReplacesAndDisables(t *testing.T) {
	rules, err := Parse("cpu_high: cpu.percent > 95 for 10m; disk_full: off; no_streams: absent(stream_started) for 30m; " +
		"rejections: count(user_rejected, 10m) > 20; slow_api: app.p95_ms > 500 for 2m clear app.p95_ms < 300")
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Rule{}
	for _, r := range rules {
		by[r.Name] = r
	}
	if _, ok := by["disk_full"]; ok {
		t.Error("disk_full: off left it on")
	}
	if r := by["cpu_high"]; r.When.Value != 95 || r.For != 10*time.Minute {
		t.Errorf("cpu_high not replaced: %+v", r)
	}
	if r := by["no_streams"]; r.When.Kind != KindAbsent || r.When.EventType != "stream_started" || r.When.Window != 30*time.Minute {
		t.Errorf("absent: %+v", r)
	}
	if r := by["rejections"]; r.When.Kind != KindCount || r.When.Window != 10*time.Minute || r.When.Op != ">" || r.When.Value != 20 {
		t.Errorf("count: %+v", r)
	}
	if r := by["slow_api"]; r.Clear == nil || r.Clear.Op != "<" || r.Clear.Value != 300 {
		t.Errorf("clear: %+v", r)
	}
}

func TestSyntaxErrorsNameTheRuleAndPosition(t *testing.T) {
	for spec, want := range map[string]string{
		"cpu_high cpu.percent > 90":                  `rule "cpu_high cpu.percent > 90" at position 1`,
		"ok: cpu.percent > 90; Bad: cpu.percent > 1": `rule "Bad" at position 23`,
		"x: cpu.nope > 1":                            `cpu has no figure "nope"`,
		"x: gpu.percent > 1":                         `there is no group "gpu"`,
		"x: disk.percent > 1":                        "disk has one entry per key",
		"x: cpu.percent > ninety":                    `"ninety" is not a number`,
		"x: cpu.percent > 90 for soon":               `"soon" is not a duration`,
		"x: database.state == sleepy":                "a state is compared with == or !=",
		"x: absent(stream_started)":                  "absent(TYPE) needs a duration",
		"x: count(user_rejected) > 1":                "count(TYPE, WINDOW)",
		"x: cpu.percent > 1; x: cpu.percent > 2":     "is given twice",
	} {
		_, err := Parse(spec)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want a syntax error with %q", spec, err, want)
		}
	}
}
