package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A rule with a syntax error stops the start with exit 2, naming the rule
// and its position.
func TestAlertRuleSyntaxErrorStopsTheStart(t *testing.T) {
	bin := buildVitals(t, t.TempDir())
	code, _, stderr := runVitals(t, bin, map[string]string{"PORT": "0", "VITALS_DATA_DIR": t.TempDir(),
		"VITALS_ALERTS": "fine: cpu.percent > 50; broken: cpu.percent >> 90"}, "", "serve")
	if code != 2 || !strings.Contains(stderr, `rule "broken" at position 46: "> 90" is not a number`) || !strings.Contains(stderr, "VITALS_ALERTS") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}

// A rule that holds fires once, into the feed and GET /api/v1/alerts, and
// a restart does not fire it again.
func TestAlertFiresOnceAcrossRestarts(t *testing.T) {
	bin := buildVitals(t, t.TempDir())
	dir := t.TempDir()
	env := map[string]string{"PORT": "0", "VITALS_DATA_DIR": dir, "VITALS_ADMIN_PASSWORD": "admin-password-for-tests",
		"VITALS_READ_TOKEN": eventTestRead, "VITALS_SAMPLE_INTERVAL": "1s", "VITALS_ALERTS": "always: process.goroutines > 0"}
	firing := func(base string) bool {
		req, _ := http.NewRequest("GET", base+"/api/v1/alerts", nil)
		req.Header.Set("Authorization", "Bearer "+eventTestRead)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var doc struct {
			Rules []struct {
				Name   string
				Alerts []struct{ Phase string }
			}
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("alerts: %s", body)
		}
		for _, r := range doc.Rules {
			if r.Name == "always" && len(r.Alerts) == 1 && r.Alerts[0].Phase == "firing" {
				return true
			}
		}
		return false
	}
	count := func(base string) int {
		n := 0
		for _, e := range listedEvents(t, base) {
			if e.Type == "alert.firing" {
				n++
			}
		}
		return n
	}
	p := startVitals(t, bin, env)
	for end := time.Now().Add(30 * time.Second); !firing(p.base) || count(p.base) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the rule did not fire within 30 s")
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
	p = startVitals(t, bin, env)
	time.Sleep(4 * time.Second) // several ticks
	if !firing(p.base) {
		t.Error("after the restart the alert is not firing")
	}
	if n := count(p.base); n != 1 {
		t.Errorf("%d alert.firing events after a restart, want 1", n)
	}
}
