package client_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type appSnapshot struct {
	App struct {
		Status   string `json:"status"`
		Requests *int   `json:"requests"`
	} `json:"app"`
	AppRoutes []struct {
		Name         string   `json:"name"`
		Requests     int      `json:"requests"`
		ErrorPercent *float64 `json:"error_percent"`
		P95MS        *float64 `json:"p95_ms"`
	} `json:"app_routes"`
}

func snapshotOf(t *testing.T, s *server) appSnapshot {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/system/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap appSnapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	return snap
}

// The middleware names routes by their ServeMux pattern and the slow one
// shows as the slowest, on a real vitals.
func TestMiddlewareReportsRoutes(t *testing.T) {
	s := startServer(t)
	cfg := fast(s.URL)
	cfg.TimingsInterval = 200 * time.Millisecond
	c := mustNew(t, cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tracks/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("POST /reports/{name}", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		w.WriteHeader(http.StatusInternalServerError)
	})
	app := httptest.NewServer(c.Middleware(mux))
	defer app.Close()
	for i := range 30 {
		resp, err := http.Get(app.URL + "/tracks/" + string(rune('a'+i%26)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for range 2 {
		resp, err := http.Post(app.URL+"/reports/weekly", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, _ := http.Get(app.URL + "/nowhere")
	resp.Body.Close()

	var snap appSnapshot
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if snap = snapshotOf(t, s); snap.App.Status == "ok" && snap.App.Requests != nil && *snap.App.Requests == 33 {
			break
		}
	}
	if snap.App.Status != "ok" || snap.App.Requests == nil || *snap.App.Requests != 33 {
		t.Fatalf("app group: %+v", snap.App)
	}
	names := map[string]int{}
	for _, r := range snap.AppRoutes {
		names[r.Name] = r.Requests
	}
	if names["GET /tracks/{id}"] != 30 || names["POST /reports/{name}"] != 2 || names["GET /{unmatched}"] != 1 {
		t.Errorf("routes: %v", names)
	}
	slowest := snap.AppRoutes[0]
	if slowest.Name != "POST /reports/{name}" || *slowest.P95MS < 120 || *slowest.ErrorPercent != 100 {
		t.Errorf("slowest route: %+v", slowest)
	}
}

// A wrong token stops the posting with one log line.
func TestMiddlewareGivesUpOnRefusal(t *testing.T) {
	s := startServer(t)
	var mu sync.Mutex
	var logs bytes.Buffer // written by the client's goroutine, read here: under mu
	cfg := fast(s.URL)
	cfg.Token = "not-a-token-of-this-server"
	cfg.TimingsInterval = 50 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	c := mustNew(t, cfg)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 5 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		time.Sleep(60 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	text := logs.String()
	mu.Unlock()
	if n := strings.Count(text, "request timings refused"); n != 1 {
		t.Errorf("%d log lines, want 1:\n%s", n, text)
	}
}
