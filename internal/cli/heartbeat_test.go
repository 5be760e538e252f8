package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// VITALS_HEARTBEAT_URL is called every sample interval, and its token is
// not in the log.
func TestHeartbeatIsCalledEveryInterval(t *testing.T) {
	var calls atomic.Int64
	sw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping/secret-switch-token" {
			calls.Add(1)
		}
	}))
	defer sw.Close()
	bin := buildVitals(t, t.TempDir())
	p := startVitals(t, bin, map[string]string{"PORT": "0", "VITALS_DATA_DIR": t.TempDir(), "VITALS_ADMIN_PASSWORD": "admin-password-for-tests",
		"VITALS_SAMPLE_INTERVAL": "1s", "VITALS_HEARTBEAT_URL": sw.URL + "/ping/secret-switch-token"})
	for end := time.Now().Add(20 * time.Second); calls.Load() < 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d heartbeat calls in 20 s at a 1 s interval", calls.Load())
		}
	}
	sw.Close() // the switch goes away: one warning, no token in it
	time.Sleep(2500 * time.Millisecond)
	log := p.stderr.String() + p.stdout.String()
	if strings.Contains(log, "secret-switch-token") {
		t.Errorf("the heartbeat URL's token is in the log:\n%s", log)
	}
	if n := strings.Count(log, "heartbeat: the dead-man's switch did not take the call"); n != 1 {
		t.Errorf("%d warnings about the switch, want 1:\n%s", n, log)
	}
}
