package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
)

const testIngestToken = "ingest-token-for-the-shutdown-test"

// SIGTERM while clients post events: the server stops accepting, answers
// the requests in flight, and closes the store; every event it answered 2xx
// for is in the store afterwards, and it exits 0, a repeated SIGTERM
// notwithstanding. Run on the real binary, as
// the platform runs it, on both backends.
func TestSIGTERMKeepsEveryAcknowledgedEvent(t *testing.T) {
	bin := buildVitals(t, t.TempDir())

	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		acked := postThroughSIGTERM(t, bin, map[string]string{"VITALS_DATA_DIR": dir})
		// The WAL was checkpointed into the database file and removed
		// when the last connection closed.
		if fi, err := os.Stat(filepath.Join(dir, "vitals.db-wal")); err == nil && fi.Size() > 0 {
			t.Errorf("vitals.db-wal is %d bytes after shutdown: the store was not closed cleanly", fi.Size())
		}
		s, err := sqlite.Open(t.Context(), filepath.Join(dir, "vitals.db"), sqlite.Options{EventsKeep: 10_000_000})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		checkStored(t, s, acked)
	})

	t.Run("postgres", func(t *testing.T) {
		url, schema := postgrestest.Schema(t)
		acked := postThroughSIGTERM(t, bin, map[string]string{"DATABASE_URL": url, "VITALS_PG_SCHEMA": schema})
		s, err := postgres.Open(t.Context(), url, postgres.Options{Schema: schema, EventsKeep: 10_000_000})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkStored(t, s, acked)
	})
}

// postThroughSIGTERM starts vitals with env, has clients post events (single
// and in batches) until the server is gone, sends SIGTERM once some have been
// stored, and returns every event answered 2xx, by id.
func postThroughSIGTERM(t *testing.T, bin string, env map[string]string) map[int64]string {
	env["PORT"] = "0"
	env["VITALS_INGEST_TOKEN"] = testIngestToken
	env["VITALS_ADMIN_PASSWORD"] = "admin-password-for-tests"
	env["VITALS_EVENTS_KEEP"] = "10000000" // retention must not delete what we check
	env["VITALS_LOG_FORMAT"] = "json"
	p := startVitals(t, bin, env)
	waitHealthy(t, p.base)

	var (
		mu       sync.Mutex
		acked    = map[int64]string{}
		afterSig atomic.Int64 // events acknowledged after SIGTERM was sent
		signaled atomic.Bool
		bad      []string
		wg       sync.WaitGroup
	)
	const clients = 8
	start := make(chan struct{})
	for w := range clients {
		wg.Go(func() {
			// One connection per client, kept alive, as an application's
			// client would.
			client := &http.Client{Timeout: 15 * time.Second}
			<-start
			for i := 0; ; i++ {
				n := 1
				if i%4 == 3 {
					n = 20 // every fourth request is a batch
				}
				msgs := make([]string, n)
				var body []byte
				if n == 1 {
					msgs[0] = fmt.Sprintf("client %d request %d", w, i)
					body, _ = json.Marshal(map[string]string{"type": "shutdown.test", "message": msgs[0]})
				} else {
					batch := make([]map[string]string, n)
					for j := range n {
						msgs[j] = fmt.Sprintf("client %d request %d event %d", w, i, j)
						batch[j] = map[string]string{"type": "shutdown.test", "message": msgs[j]}
					}
					body, _ = json.Marshal(batch)
				}
				req, _ := http.NewRequest("POST", p.base+"/api/v1/events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testIngestToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					// The server has closed its listener: the run is over
					// for this client. Before SIGTERM this is a failure.
					if !signaled.Load() {
						mu.Lock()
						bad = append(bad, "before SIGTERM: "+err.Error())
						mu.Unlock()
					}
					return
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					// A refusal (503 while closing) is allowed: the client
					// knows it was not stored.
					if !signaled.Load() {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("before SIGTERM: %d %s", resp.StatusCode, out))
						mu.Unlock()
						return
					}
					continue
				}
				var stored []storage.Event
				if n == 1 {
					var e storage.Event
					err = json.Unmarshal(out, &e)
					stored = []storage.Event{e}
				} else {
					var b struct{ Events []storage.Event }
					err = json.Unmarshal(out, &b)
					stored = b.Events
				}
				mu.Lock()
				if err != nil || len(stored) != n {
					bad = append(bad, fmt.Sprintf("2xx with an unexpected body: %s", out))
				}
				for j, e := range stored {
					if j < n {
						acked[e.ID] = msgs[j]
					}
				}
				mu.Unlock()
				if signaled.Load() {
					afterSig.Add(int64(len(stored)))
				}
			}
		})
	}
	close(start)

	// Let the clients get going, then stop the server under them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 400 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	signaled.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A supervisor repeating its request must not cut the shutdown short.
	time.Sleep(10 * time.Millisecond)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	code := p.wait(t, 30*time.Second)
	wg.Wait()

	if code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0\nstderr: %s", code, p.stderr)
	}
	for _, b := range bad {
		t.Error(b)
	}
	logs := p.stderr.String()
	for _, want := range []string{`"msg":"shutting down: finishing requests in flight"`, `"msg":"store closed"`, `"msg":"stopped"`} {
		if !bytes.Contains([]byte(logs), []byte(want)) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
	t.Logf("%d events acknowledged, %d of them after SIGTERM was sent", len(acked), afterSig.Load())
	if len(acked) == 0 {
		t.Fatal("no event was acknowledged")
	}
	return acked
}

// checkStored asserts that every acknowledged event is in the store, with
// the message it was sent with.
func checkStored(t *testing.T, s storage.Store, acked map[int64]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	all, err := s.ListEvents(ctx, storage.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[int64]string, len(all))
	for _, e := range all {
		got[e.ID] = e.Message
	}
	missing := 0
	for id, msg := range acked {
		if got[id] != msg {
			missing++
			if missing <= 5 {
				t.Errorf("event %d (%q) was answered 2xx but is stored as %q", id, msg, got[id])
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged events are missing", missing, len(acked))
	}
	t.Logf("all %d acknowledged events are stored (%d in the store)", len(acked), len(all))
}
