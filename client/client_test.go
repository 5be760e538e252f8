package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/client"
)

// fast is a configuration for tests: small batches, quick retries.
func fast(url string) client.Config {
	return client.Config{
		URL: url, Token: ingestToken,
		BatchSize: 10, FlushInterval: 20 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		RequestTimeout: 5 * time.Second,
	}
}

func mustNew(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// closeWithin closes c, giving it up to a minute to deliver.
func closeWithin(t *testing.T, c *client.Client) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Close(ctx)
}

// expectOnce checks that messages msg-0..msg-(n-1) are each stored
// exactly once.
func expectOnce(t *testing.T, got map[string]int, prefix string, n int) {
	t.Helper()
	for i := range n {
		m := fmt.Sprintf("%s-%d", prefix, i)
		if got[m] != 1 {
			t.Fatalf("%q stored %d times, want exactly once", m, got[m])
		}
	}
	total := 0
	for m, k := range got {
		if strings.HasPrefix(m, prefix+"-") {
			total += k
		}
	}
	if total != n {
		t.Fatalf("%d events with prefix %q stored, want %d", total, prefix, n)
	}
}

func TestLogDeliversEveryEventOnce(t *testing.T) {
	srv := startServer(t)
	c := mustNew(t, fast(srv.URL))
	types := []string{"user_registered", "user_approved", "user_rejected", "stream_started", "stream_stopped", "track_added"}
	const n = 250
	for i := range n {
		ev := client.Event{Type: types[i%len(types)], Message: fmt.Sprintf("msg-%d", i)}
		if i%2 == 0 {
			ev.UserEmail = fmt.Sprintf("user%d@example.com", i)
			ev.Details = map[string]any{"n": i, "title": "Ночь"}
		}
		if err := c.Log(t.Context(), ev); err != nil {
			t.Fatalf("log %d: %v", i, err)
		}
	}
	if err := closeWithin(t, c); err != nil {
		t.Fatalf("close: %v", err)
	}
	st := c.Stats()
	if st.Logged != n || st.Sent != n || st.Dropped() != 0 || st.Pending != 0 {
		t.Fatalf("stats: %+v", st)
	}
	evs := srv.events(t)
	expectOnce(t, countMessages(evs), "msg", n)
	for _, e := range evs {
		if e.Message == "msg-2" {
			if e.UserEmail == nil || *e.UserEmail != "user2@example.com" || !bytes.Contains(e.Details, []byte("Ночь")) || e.Type != "user_rejected" {
				t.Fatalf("msg-2 stored as %+v", e)
			}
		}
	}
	if err := c.Log(t.Context(), client.Event{Type: "x", Message: "late"}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("log after close: %v", err)
	}
}

func TestFlushWaitsForAcknowledgement(t *testing.T) {
	srv := startServer(t)
	cfg := fast(srv.URL)
	cfg.FlushInterval = time.Hour // only Flush sends a partial batch
	c := mustNew(t, cfg)
	for i := range 3 {
		if err := c.Log(t.Context(), client.Event{Type: "track_added", Message: fmt.Sprintf("flush-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	// Acknowledged means stored: it is there before Close.
	expectOnce(t, countMessages(srv.events(t)), "flush", 3)
}

// TestServerDownAndBack kills the server with SIGKILL while the
// application keeps logging, keeps it down while the client retries, then
// starts it again on the same data: every event arrives, none twice.
func TestServerDownAndBack(t *testing.T) {
	srv := startServer(t)
	var retries atomic.Int64
	cfg := fast(srv.URL)
	cfg.OnRetry = func(error, time.Duration) { retries.Add(1) }
	c := mustNew(t, cfg)

	const n = 600
	logged := make(chan int, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if err := c.Log(context.Background(), client.Event{Type: "track_added", Message: fmt.Sprintf("down-%d", i)}); err != nil {
				t.Errorf("log %d: %v", i, err)
				return
			}
			logged <- i
			time.Sleep(time.Millisecond) // an application's pace, so that the kill lands mid-stream
		}
	}()
	for i := range logged {
		if i == 150 {
			break
		}
	}
	srv.kill()
	// Down for a while: long enough for several failed attempts.
	for retries.Load() < 5 {
		time.Sleep(10 * time.Millisecond)
	}
	srv.start()
	wg.Wait()
	if err := closeWithin(t, c); err != nil {
		t.Fatalf("close: %v", err)
	}
	st := c.Stats()
	if st.Sent != n || st.Dropped() != 0 || st.Retries == 0 {
		t.Fatalf("stats: %+v", st)
	}
	expectOnce(t, countMessages(srv.events(t)), "down", n)
}

// dropAnswers is a proxy in front of the server that forwards each request
// but, for the first drops requests, cuts the connection instead of
// relaying the answer: the server stored the batch, the client never
// heard so.
func dropAnswers(t *testing.T, target string, drops int64) (*httptest.Server, *atomic.Int64) {
	var left atomic.Int64
	left.Store(drops)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if r.Method == http.MethodPost && left.Add(-1) >= 0 {
			panic(http.ErrAbortHandler) // close the connection, no answer
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(proxy.Close)
	return proxy, &left
}

func TestLostAcknowledgementIsNotStoredTwice(t *testing.T) {
	srv := startServer(t)
	proxy, left := dropAnswers(t, srv.URL, 3)
	// The proxy's own logging of the aborted handler is expected.
	proxy.Config.ErrorLog = nil
	c := mustNew(t, fast(proxy.URL))
	const n = 100
	for i := range n {
		if err := c.Log(t.Context(), client.Event{Type: "user_approved", Message: fmt.Sprintf("ack-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := closeWithin(t, c); err != nil {
		t.Fatalf("close: %v", err)
	}
	if left.Load() >= 0 {
		t.Fatalf("the proxy cut only %d answers", 3-left.Load())
	}
	if st := c.Stats(); st.Retries < 3 || st.Sent != n {
		t.Fatalf("stats: %+v", st)
	}
	expectOnce(t, countMessages(srv.events(t)), "ack", n)
}

func TestServerRejectionIsReported(t *testing.T) {
	srv := startServer(t)
	var mu sync.Mutex
	var dropped []client.Event
	var reasons []error
	cfg := fast(srv.URL)
	cfg.FlushInterval = time.Hour
	cfg.OnDrop = func(evs []client.Event, reason error) {
		mu.Lock()
		defer mu.Unlock()
		dropped = append(dropped, evs...)
		reasons = append(reasons, reason)
	}
	c := mustNew(t, cfg)
	// PostgreSQL's jsonb cannot hold NUL, so vitals refuses it in details
	// on every backend; the client does not check that itself, so the
	// refusal comes from the server, for that event only.
	for i, details := range []any{map[string]any{"ok": 1}, map[string]any{"bad": "a\x00b"}, nil} {
		if err := c.Log(t.Context(), client.Event{Type: "track_added", Message: fmt.Sprintf("rej-%d", i), Details: details}); err != nil {
			t.Fatal(err)
		}
	}
	err := closeWithin(t, c)
	var de *client.DropError
	if !errors.As(err, &de) || de.Stats.DroppedRejected != 1 || de.Stats.Sent != 2 {
		t.Fatalf("close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var re *client.RejectedError
	if len(dropped) != 1 || dropped[0].Message != "rej-1" || !errors.As(reasons[0], &re) || re.Status != http.StatusBadRequest {
		t.Fatalf("dropped %+v for %v", dropped, reasons)
	}
	if len(re.Errors) == 0 || re.Errors[0].Field != "details" {
		t.Fatalf("the rejection should name details: %v", re)
	}
	got := countMessages(srv.events(t))
	if got["rej-0"] != 1 || got["rej-2"] != 1 || got["rej-1"] != 0 {
		t.Fatalf("stored: %v", got)
	}
}

// TestFullBufferDropsAndReports: with the server hanging, Log still
// returns at once; past the buffer it refuses events and says so, and
// Close gives up at its deadline and reports what never left.
func TestFullBufferDropsAndReports(t *testing.T) {
	var mu sync.Mutex
	reasons := map[string]int{}
	cfg := fast(hangingListener(t))
	cfg.BufferSize = 20
	cfg.RequestTimeout = time.Hour
	cfg.OnDrop = func(evs []client.Event, reason error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(reason, client.ErrBufferFull):
			reasons["full"] += len(evs)
		case errors.Is(reason, client.ErrClosed):
			reasons["unsent"] += len(evs)
		default:
			reasons[reason.Error()] += len(evs)
		}
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	full := 0
	for i := range 50 {
		err := c.Log(t.Context(), client.Event{Type: "track_added", Message: fmt.Sprintf("m%d", i)})
		switch {
		case errors.Is(err, client.ErrBufferFull):
			full++
		case err != nil:
			t.Fatal(err)
		}
	}
	if full != 30 {
		t.Fatalf("%d events refused, want 30", full)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = c.Close(ctx)
	var de *client.DropError
	if !errors.As(err, &de) {
		t.Fatalf("close: %v", err)
	}
	if s := de.Stats; s.DroppedFull != 30 || s.DroppedUnsent != 20 || s.Sent != 0 || s.Pending != 0 {
		t.Fatalf("stats: %+v", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if reasons["full"] != 30 || reasons["unsent"] != 20 || len(reasons) != 2 {
		t.Fatalf("OnDrop reasons: %v", reasons)
	}
	if again := c.Close(context.Background()); again != err {
		t.Fatalf("second close: %v", again)
	}
}

func TestLogChecksTheEvent(t *testing.T) {
	c := mustNew(t, fast(hangingListener(t)))
	for _, tc := range []struct {
		ev    client.Event
		field string
	}{
		{client.Event{Message: "m"}, "type"},
		{client.Event{Type: "Bad", Message: "m"}, "type"},
		{client.Event{Type: "1x", Message: "m"}, "type"},
		{client.Event{Type: strings.Repeat("a", 51), Message: "m"}, "type"},
		{client.Event{Type: "a"}, "message"},
		{client.Event{Type: "a", Message: strings.Repeat("я", 2001)}, "message"},
		{client.Event{Type: "a", Message: "bad\xffutf8"}, "message"},
		{client.Event{Type: "a", Message: "m", UserEmail: "not an email"}, "user_email"},
		{client.Event{Type: "a", Message: "m", Details: []int{1}}, "details"},
		{client.Event{Type: "a", Message: "m", Details: map[string]string{"x": strings.Repeat("x", 17<<10)}}, "details"},
		{client.Event{Type: "a", Message: "m", Details: func() {}}, "details"},
		{client.Event{Type: "a", Message: "m", IdempotencyKey: strings.Repeat("k", 65)}, "idempotency_key"},
		{client.Event{Type: "a", Message: "m", IdempotencyKey: "a\nb"}, "idempotency_key"},
	} {
		err := c.Log(t.Context(), tc.ev)
		if !errors.Is(err, client.ErrInvalidEvent) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: %v, want an invalid %s", tc.ev, err, tc.field)
		}
	}
	if st := c.Stats(); st.Logged != 0 || st.Dropped() != 0 {
		t.Fatalf("invalid events were counted: %+v", st)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Log(ctx, client.Event{Type: "a", Message: "m"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("log with a cancelled context: %v", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, cfg := range []client.Config{
		{Token: ingestToken},
		{URL: "vitals.internal", Token: ingestToken},
		{URL: "http://vitals.internal"},
	} {
		if _, err := client.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestRetryAfterAndRateLimit: a 429 or 503 keeps the batch, which goes
// again after the wait; the stub stands in for a server under load,
// which the real one cannot be made to be on demand.
func TestRetryAfterAndRateLimit(t *testing.T) {
	var calls atomic.Int64
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"status":429,"detail":"rate limit"}`))
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 3:
			// Something at the URL that is not vitals: not an
			// acknowledgement, so the events are kept.
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>welcome</html>"))
		default:
			body, _ := io.ReadAll(r.Body)
			n := bytes.Count(body, []byte(`"type"`))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"events":[%s]}`, strings.TrimSuffix(strings.Repeat(`{"id":1},`, n), ","))
		}
	}))
	defer stub.Close()
	var errs []string
	var mu sync.Mutex
	cfg := fast(stub.URL)
	cfg.OnRetry = func(err error, _ time.Duration) { mu.Lock(); errs = append(errs, err.Error()); mu.Unlock() }
	c := mustNew(t, cfg)
	for i := range 5 {
		if err := c.Log(t.Context(), client.Event{Type: "a", Message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := closeWithin(t, c); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Sent != 5 || st.Retries != 3 {
		t.Fatalf("stats: %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 3 || !strings.Contains(errs[0], "rate limit") || !strings.Contains(errs[2], "is Config.URL vitals?") {
		t.Fatalf("retry errors: %q", errs)
	}
}

// BenchmarkLog is the cost Log adds to the application's request: check,
// encode, queue. The server hangs, so nothing is sent meanwhile.
func BenchmarkLog(b *testing.B) {
	cfg := fast(hangingListener(b))
	cfg.BufferSize = 1 << 30
	c, err := client.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		_ = c.Close(ctx)
	}()
	ev := client.Event{Type: "track_added", Message: "Трек добавлен в плейлист", UserEmail: "dj@example.com",
		Details: map[string]any{"track_id": 42, "title": "Ночь"}}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Log(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A wrong token (401) or a URL that is not vitals' API (404) is final, as
// DESIGN.md lists: the client gives up at once, with one log line, rather
// than hold the buffer retrying until Close.
func TestRefusalsAreNotRetried(t *testing.T) {
	srv := startServer(t)
	for _, tc := range []struct {
		name, url, token string
		status           int
	}{
		{"wrong token", srv.URL, "not-a-token-of-this-server-0123456789", http.StatusUnauthorized},
		{"not the API", srv.URL + "/no-such-prefix", ingestToken, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			var mu sync.Mutex
			cfg := fast(tc.url)
			cfg.Token = tc.token
			cfg.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logged}, nil))
			var reasons []error
			cfg.OnDrop = func(_ []client.Event, reason error) {
				mu.Lock()
				defer mu.Unlock()
				reasons = append(reasons, reason)
			}
			c := mustNew(t, cfg)
			for i := range 3 {
				if err := c.Log(t.Context(), client.Event{Type: "user_registered", Message: fmt.Sprintf("refused-%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if err := c.Flush(ctx); err != nil {
				t.Fatalf("flush: %v (a refusal must not be retried)", err)
			}
			st := c.Stats()
			if st.Retries != 0 || st.DroppedRejected != 3 || st.Pending != 0 {
				t.Fatalf("stats: %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			var re *client.RejectedError
			if len(reasons) != 3 || !errors.As(reasons[0], &re) || re.Status != tc.status {
				t.Fatalf("OnDrop reasons: %v", reasons)
			}
			lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprintf(`"status":%d`, tc.status)) || !strings.Contains(lines[0], `"events":3`) {
				t.Fatalf("log, want one line about 3 events refused with %d:\n%s", tc.status, logged.String())
			}
		})
	}
	if n := len(srv.events(t)); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}
