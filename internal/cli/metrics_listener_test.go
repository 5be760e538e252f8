package cli

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// VITALS_METRICS_ADDR opens a second listener that serves /metrics alone
// without a credential (a platform's scraper on a private network), while
// /metrics on the public port still asks for a read token.
func TestMetricsListener(t *testing.T) {
	const reader = "read-token-for-the-metrics-listener"
	addr := "127.0.0.1:" + freePort(t)
	base, _ := startServe(t, map[string]string{"VITALS_DATA_DIR": t.TempDir(), "VITALS_ADMIN_PASSWORD": "admin-password-for-tests",
		"VITALS_READ_TOKEN": reader, "VITALS_METRICS_ADDR": addr})
	get := func(method, url, token string) (int, http.Header, string) {
		req, _ := http.NewRequest(method, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	status, header, body := get(http.MethodGet, "http://"+addr+"/metrics", "")
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "text/plain; version=0.0.4") ||
		!strings.Contains(body, "vitals_build_info{") || !strings.Contains(body, "go_goroutines ") {
		t.Fatalf("private /metrics without a token: %d %q\n%.500s", status, header.Get("Content-Type"), body)
	}
	for _, tc := range []struct {
		method, url, token string
		want               int
	}{
		{http.MethodGet, "http://" + addr + "/api/v1/events", "", http.StatusNotFound},
		{http.MethodGet, "http://" + addr + "/", "", http.StatusNotFound},
		{http.MethodPost, "http://" + addr + "/metrics", "", http.StatusMethodNotAllowed},
		{http.MethodGet, base + "/metrics", "", http.StatusUnauthorized},
		{http.MethodGet, base + "/metrics", reader, http.StatusOK},
	} {
		if status, header, body := get(tc.method, tc.url, tc.token); status != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.url, status, body, tc.want)
		} else if status >= 400 && header.Get("Content-Type") != "application/problem+json" && !strings.HasPrefix(header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s %s: %d as %q, want problem+json", tc.method, tc.url, status, header.Get("Content-Type"))
		}
	}
}
