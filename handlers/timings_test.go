package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

func timingsHarness(t *testing.T) (*harness, *probes.AppProbe) {
	at := probes.NewAppTimings()
	h := newHarnessConfig(t, sqlitetest.Open(t, sqlite.Options{}), func(c *handlers.Config) { c.AppTimings = at })
	return h, probes.NewAppProbe(at, time.Minute)
}

func appOf(p *probes.AppProbe) probes.AppResult {
	return p.Read(context.Background()).(probes.AppResult)
}

func TestPostTimings(t *testing.T) {
	h, p := timingsHarness(t)
	bin := probes.LatencyBin(3 * time.Millisecond)
	slow := probes.LatencyBin(900 * time.Millisecond)
	body := fmt.Sprintf(`{"routes": [
		{"method": "GET", "route": "/tracks/{id}", "count": 40, "errors": 0, "bins": [[%d, 40]]},
		{"method": "POST", "route": "/streams", "count": 2, "errors": 1, "bins": [[%d, 2]]}]}`, bin, slow)
	status, _, out := h.do("POST", "/api/v1/timings", []byte(body), "application/json", asIngest)
	if status != 204 {
		t.Fatalf("post: %d %s", status, out)
	}
	// An idle interval's post: no routes.
	if status, _, out := h.do("POST", "/api/v1/timings", []byte(`{"routes": []}`), "application/json", asIngest); status != 204 {
		t.Fatalf("empty post: %d %s", status, out)
	}
	r := appOf(p)
	if r.App.Status != probes.StatusOK || *r.App.Requests != 42 || len(r.Routes) != 2 || r.Routes[0].Name != "POST /streams" {
		t.Fatalf("after the post: %+v %+v", r.App, r.Routes)
	}
	if p95 := *r.Routes[0].P95MS; p95 < 800 || p95 > 1000 {
		t.Errorf("the slow route's p95 is %v ms", p95)
	}
}

func TestPostTimingsRefusals(t *testing.T) {
	h, p := timingsHarness(t)
	good := `{"method": "GET", "route": "/a", "count": 1, "bins": [[10, 1]]}`
	for name, tc := range map[string]struct {
		body, field string
	}{
		"not an object":      {`[` + good + `]`, "body"},
		"unknown key":        {`{"routes": [], "app": "x"}`, "body"},
		"no routes":          {`{}`, "routes"},
		"lower-case method":  {`{"routes": [{"method": "get", "route": "/a", "count": 1, "bins": [[10, 1]]}]}`, "routes[0].method"},
		"raw path":           {`{"routes": [{"method": "GET", "route": "tracks/1", "count": 1, "bins": [[10, 1]]}]}`, "routes[0].route"},
		"space in route":     {`{"routes": [{"method": "GET", "route": "/a b", "count": 1, "bins": [[10, 1]]}]}`, "routes[0].route"},
		"no count":           {`{"routes": [{"method": "GET", "route": "/a", "bins": [[10, 1]]}]}`, "routes[0].count"},
		"errors over count":  {`{"routes": [{"method": "GET", "route": "/a", "count": 1, "errors": 2, "bins": [[10, 1]]}]}`, "routes[0].errors"},
		"bins do not sum":    {`{"routes": [{"method": "GET", "route": "/a", "count": 3, "bins": [[10, 1]]}]}`, "routes[0].bins"},
		"bin past the last":  {fmt.Sprintf(`{"routes": [{"method": "GET", "route": "/a", "count": 1, "bins": [[%d, 1]]}]}`, probes.AppLatencyBins), "routes[0].bins[0]"},
		"negative count":     {`{"routes": [{"method": "GET", "route": "/a", "count": -1, "bins": []}]}`, "body"},
		"route twice":        {`{"routes": [` + good + `, ` + good + `]}`, "routes[1].route"},
		"two values":         {`{"routes": []} {"routes": []}`, ""},
		"too many routes":    {`{"routes": [` + strings.Repeat(good+",", 500) + good + `]}`, "routes"},
		"route too long":     {`{"routes": [{"method": "GET", "route": "/` + strings.Repeat("a", 200) + `", "count": 1, "bins": [[10, 1]]}]}`, "routes[0].route"},
		"bad one among good": {`{"routes": [` + good + `, {"method": "GET", "route": "/b", "count": 1, "bins": [[10, 2]]}]}`, "routes[1].bins"},
	} {
		status, hdr, out := h.do("POST", "/api/v1/timings", []byte(tc.body), "application/json", asIngest)
		if status != 400 || hdr.Get("Content-Type") != "application/problem+json" || (tc.field != "" && !strings.Contains(string(out), `"field":"`+tc.field+`"`)) {
			t.Errorf("%s: %d %s, want 400 naming %q", name, status, out, tc.field)
		}
	}
	if status, _, _ := h.do("POST", "/api/v1/timings", []byte(`{"routes": []}`), "text/plain", asIngest); status != 415 {
		t.Errorf("text/plain: %d, want 415", status)
	}
	if status, _, _ := h.do("POST", "/api/v1/timings", []byte(`{"routes": []}`), "application/json", anon); status != 401 {
		t.Errorf("no credential: %d, want 401", status)
	}
	if status, _, _ := h.do("POST", "/api/v1/timings", []byte(`{"routes": []}`), "application/json", asReader); status != 403 {
		t.Errorf("read token: %d, want 403", status)
	}
	if r := appOf(p); r.App.Status != probes.StatusNotConfigured {
		t.Errorf("refused posts changed the app group: %+v", r.App)
	}
}
