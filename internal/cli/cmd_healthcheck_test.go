package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// `vitals healthcheck` passes only on vitals' own /health: an application
// answering {"status": "ok"} on the port it is pointed at fails it, and
// VITALS_PORT wins over PORT, so beside the application (PORT is the
// application's) it checks vitals.
func TestHealthcheckKnowsVitals(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"ok"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer app.Close()
	lookalike := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/health+json")
		_, _ = w.Write([]byte(`{"status":"pass","checks":{}}`))
	}))
	defer lookalike.Close()
	base, _ := startServe(t, map[string]string{"VITALS_DATA_DIR": t.TempDir(), "VITALS_ADMIN_PASSWORD": "admin-password-for-tests"})
	portOf := func(u string) string { return u[strings.LastIndex(u, ":")+1:] }

	for _, tc := range []struct {
		name    string
		env     map[string]string
		code    int
		errSays string
	}{
		{"vitals", map[string]string{"PORT": portOf(base)}, 0, ""},
		{"the application's port", map[string]string{"PORT": portOf(app.URL)}, 1, "not as vitals"},
		{"health+json that is not vitals", map[string]string{"PORT": portOf(lookalike.URL)}, 1, "not as vitals"},
		{"VITALS_PORT wins over PORT", map[string]string{"PORT": portOf(app.URL), "VITALS_PORT": portOf(base)}, 0, ""},
		{"a bad VITALS_PORT", map[string]string{"PORT": portOf(base), "VITALS_PORT": "http"}, 2, "VITALS_PORT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tc.env, "", "healthcheck")
			if code != tc.code || !strings.Contains(errOut, tc.errSays) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d saying %q", code, out, errOut, tc.code, tc.errSays)
			}
			if code == 0 && !strings.Contains(out, `"serviceId":"vitals"`) {
				t.Errorf("stdout %q does not show vitals' answer", out)
			}
		})
	}
}
