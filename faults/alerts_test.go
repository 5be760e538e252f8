package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
)

// allDefaultsOff turns the built-in rules off, so that a busy test machine
// (a full disk, a loaded CPU) adds no alert of its own to what a case
// counts.
const allDefaultsOff = "cpu_high: off; memory_high: off; disk_full: off; db_connections_high: off; db_down: off; redis_down: off; http_down: off; "

// beatRule fires 5 s after the last fault.beat event: the test controls
// it by posting beats or not.
const beatRule = "beat_missing: absent(fault.beat) for 5s"

// hook is a generic-webhook receiver that dedupes by the per-notification
// key, as the README tells receivers to. While down it answers 503.
type hook struct {
	URL  string
	down atomic.Bool
	mu   sync.Mutex
	// requests are every request, accepted or not, in order.
	requests []hookRequest
	// accepted is the first accepted payload of each key.
	accepted map[string]hookRequest
	// repeats counts the accepted requests of a key after its first.
	repeats map[string]int
}

type hookRequest struct {
	At       time.Time
	Key      string // the X-Vitals-Notification-Key header
	BodyKey  string // the payload's key
	Rule     string
	Phase    string
	Accepted bool
}

func startHook(t *testing.T) *hook {
	t.Helper()
	h := &hook{accepted: map[string]hookRequest{}, repeats: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(h.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	h.URL = "http://" + ln.Addr().String() + "/hook"
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m struct{ Key, Rule, Phase string }
	_ = json.Unmarshal(body, &m)
	rq := hookRequest{At: time.Now(), Key: r.Header.Get("X-Vitals-Notification-Key"), BodyKey: m.Key, Rule: m.Rule, Phase: m.Phase}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down.Load() {
		h.requests = append(h.requests, rq)
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
		return
	}
	rq.Accepted = true
	h.requests = append(h.requests, rq)
	if _, seen := h.accepted[rq.Key]; seen {
		h.repeats[rq.Key]++
	} else {
		h.accepted[rq.Key] = rq
	}
	w.WriteHeader(http.StatusNoContent)
}

// got is the accepted notifications of rule in phase, deduped by key.
func (h *hook) got(rule, phase string) []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookRequest
	for _, rq := range h.accepted {
		if rq.Rule == rule && rq.Phase == phase {
			out = append(out, rq)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// attempts is every request of rule in phase, accepted or not.
func (h *hook) attempts(rule, phase string) []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookRequest
	for _, rq := range h.requests {
		if rq.Rule == rule && rq.Phase == phase {
			out = append(out, rq)
		}
	}
	return out
}

// waitFor polls cond every 100 ms until it holds; it fails the test after
// limit with what.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// check asserts what the deduping receiver ends with: exactly one firing
// and one resolution of rule, every request of each (retries, repeats
// after a restart) under one key, the header's key the payload's.
func (h *hook) check(t *testing.T, rule string) {
	t.Helper()
	for _, phase := range []string{"firing", "resolved"} {
		if n := len(h.got(rule, phase)); n != 1 {
			t.Errorf("%s %s: the receiver accepted %d distinct keys, want 1", rule, phase, n)
		}
		keys := map[string]int{}
		for _, rq := range h.attempts(rule, phase) {
			keys[rq.Key]++
			if rq.Key != rq.BodyKey || rq.Key == "" {
				t.Errorf("%s %s: header key %q, payload key %q", rule, phase, rq.Key, rq.BodyKey)
			}
		}
		if len(keys) != 1 {
			t.Errorf("%s %s: requests under %d keys, want every repeat under one: %v", rule, phase, len(keys), keys)
		}
		t.Logf("%s %s: %d requests under one key", rule, phase, len(h.attempts(rule, phase)))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, n := range h.repeats {
		t.Logf("key %s accepted %d more times (dropped by the receiver's dedupe)", k, n)
	}
}

// beater posts a fault.beat event every 500 ms to the vitals at base while
// on.
type beater struct {
	base atomic.Pointer[string]
	on   atomic.Bool
	stop chan struct{}
	done chan struct{}
	// last is when a beat was last answered 2xx.
	last atomic.Int64
}

func startBeater(base string) *beater {
	b := &beater{stop: make(chan struct{}), done: make(chan struct{})}
	b.setBase(base)
	b.on.Store(true)
	go func() {
		defer close(b.done)
		c := &http.Client{Timeout: 3 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-b.stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			if !b.on.Load() {
				continue
			}
			body, _ := json.Marshal(map[string]any{"type": "fault.beat", "message": fmt.Sprintf("beat %d", i)})
			req, _ := http.NewRequest(http.MethodPost, *b.base.Load()+"/api/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+ingestToken)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := c.Do(req); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					b.last.Store(time.Now().UnixNano())
				}
			}
		}
	}()
	return b
}

func (b *beater) setBase(s string) { b.base.Store(&s) }
func (b *beater) close()           { close(b.stop); <-b.done }

// waitBeating waits until a beat has been taken after since.
func (b *beater) waitBeating(t *testing.T, since time.Time) {
	t.Helper()
	waitFor(t, 30*time.Second, "a beat taken", func() bool { return b.last.Load() > since.UnixNano() })
}

func alertsEnv(t *testing.T, rules, notify string) map[string]string {
	env := baseEnv(t)
	env["VITALS_ALERTS"] = allDefaultsOff + rules
	env["VITALS_NOTIFY"] = notify
	return env
}

// A receiver down for 60 s and a kill -9 of vitals in the middle lose no
// notification: after both, the receiver (deduping by key) has exactly one
// firing and one resolution, and every retry and every repeat after the
// restart carries the firing's one key.
func TestAlertSurvivesReceiverDownAndKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("a 60 s outage and a minute's resolution; not in -short")
	}
	t.Parallel()
	h := startHook(t)
	env := alertsEnv(t, beatRule, h.URL)
	v := startVitals(t, env)
	waitHealth(t, v.base, http.StatusOK, 60*time.Second)
	b := startBeater(v.base)
	defer b.close()
	b.waitBeating(t, time.Now())

	h.down.Store(true)
	downAt := time.Now()
	b.on.Store(false)
	waitFor(t, 40*time.Second, "the firing tried (and refused) twice", func() bool { return len(h.attempts("beat_missing", "firing")) >= 2 })
	_ = v.cmd.Process.Signal(syscall.SIGKILL)
	<-v.done
	t.Logf("killed -9 %s after the receiver went down, with %d refused attempts", time.Since(downAt).Round(time.Second), len(h.attempts("beat_missing", "firing")))
	v = startVitals(t, env)
	b.setBase(v.base)
	time.Sleep(time.Until(downAt.Add(60 * time.Second)))
	h.down.Store(false)
	t.Logf("receiver up after %s down; %d refused attempts", time.Since(downAt).Round(time.Second), len(h.attempts("beat_missing", "firing")))
	// The backoff doubles to about a minute by now.
	took := waitFor(t, 3*time.Minute, "the firing accepted", func() bool { return len(h.got("beat_missing", "firing")) == 1 })
	t.Logf("firing accepted %s after the receiver came back", took.Round(time.Second))

	b.on.Store(true)
	took = waitFor(t, 3*time.Minute, "the resolution accepted", func() bool { return len(h.got("beat_missing", "resolved")) == 1 })
	t.Logf("resolution accepted %s after the beats came back", took.Round(time.Second))
	time.Sleep(5 * time.Second) // room for a repeat that should not come
	h.check(t, "beat_missing")
}

// Restarting vitals while an alert fires does not fire it again, does not
// resolve it while its condition still holds, and its resolution arrives
// once the condition clears.
func TestAlertRestartWhileFiring(t *testing.T) {
	if testing.Short() {
		t.Skip("over two minutes of waiting on the clear minute; not in -short")
	}
	t.Parallel()
	h := startHook(t)
	env := alertsEnv(t, beatRule, h.URL)
	v := startVitals(t, env)
	waitHealth(t, v.base, http.StatusOK, 60*time.Second)
	b := startBeater(v.base)
	defer b.close()
	b.waitBeating(t, time.Now())
	b.on.Store(false)
	waitFor(t, 60*time.Second, "the firing accepted", func() bool { return len(h.got("beat_missing", "firing")) == 1 })
	// The detection delay: the rule's 5 s plus up to a sample interval (1 s
	// here) plus the worker's pass (1 s), from the last beat's answer.
	fired := h.got("beat_missing", "firing")[0].At
	t.Logf("detection delay: %s from the last beat to the webhook's firing (rule: absent for 5s, sample interval 1s)",
		fired.Sub(time.Unix(0, b.last.Load())).Round(100*time.Millisecond))

	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	<-v.done
	v = startVitals(t, env)
	b.setBase(v.base)
	// Over a minute with the condition still true: neither a second firing
	// nor a resolution (a restart must not count as the events' return).
	time.Sleep(70 * time.Second)
	if n := len(h.attempts("beat_missing", "firing")); n != 1 {
		t.Errorf("after the restart the firing was sent %d times in all, want 1", n)
	}
	if n := len(h.attempts("beat_missing", "resolved")); n != 0 {
		t.Errorf("resolved %d times while no beat came", n)
	}
	b.on.Store(true)
	waitFor(t, 3*time.Minute, "the resolution accepted", func() bool { return len(h.got("beat_missing", "resolved")) == 1 })
	time.Sleep(5 * time.Second)
	h.check(t, "beat_missing")
	if n := len(h.attempts("beat_missing", "firing")); n != 1 {
		t.Errorf("the firing was sent %d times in all, want 1", n)
	}
}

// Two vitals processes on one PostgreSQL send one notification per
// transition of a shared rule, not two: the lease holder evaluates it, and
// the outbox's claim keeps the two workers from sending one row twice.
func TestTwoInstancesNotifyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute's resolution; not in -short")
	}
	t.Parallel()
	postgrestest.URL(t)
	url, schema := postgrestest.Schema(t)
	h := startHook(t)
	var procs []*vitals
	for i, id := range []string{"alerts-a", "alerts-b"} {
		env := alertsEnv(t, beatRule, h.URL)
		env["DATABASE_URL"] = url
		env["VITALS_PG_SCHEMA"] = schema
		env["VITALS_HISTORY_INTERVAL"] = "5s"
		env["FLY_MACHINE_ID"] = id
		env["FLY_REGION"] = []string{"ams", "fra"}[i]
		procs = append(procs, startVitals(t, env))
	}
	for _, p := range procs {
		waitHealth(t, p.base, http.StatusOK, 60*time.Second)
	}
	b := startBeater(procs[0].base)
	defer b.close()
	b.waitBeating(t, time.Now())
	time.Sleep(12 * time.Second) // a lease taken (two history intervals)
	b.on.Store(false)
	waitFor(t, 60*time.Second, "the firing accepted", func() bool { return len(h.got("beat_missing", "firing")) >= 1 })
	time.Sleep(10 * time.Second) // room for the other instance's
	b.setBase(procs[1].base)
	b.on.Store(true)
	waitFor(t, 3*time.Minute, "the resolution accepted", func() bool { return len(h.got("beat_missing", "resolved")) >= 1 })
	time.Sleep(10 * time.Second)
	h.check(t, "beat_missing")
	for _, phase := range []string{"firing", "resolved"} {
		if n := len(h.attempts("beat_missing", phase)); n != 1 {
			t.Errorf("%s sent %d times, want once", phase, n)
		}
	}
	var all []string
	h.mu.Lock()
	for _, rq := range h.requests {
		all = append(all, rq.Rule+" "+rq.Phase)
	}
	h.mu.Unlock()
	t.Logf("the receiver saw: %s", strings.Join(all, ", "))
}

// With the store's PostgreSQL stopped (its own cluster), the db_down
// notification reaches the webhook from the local spool, and once the
// database is back its alert.firing event is stored, once, and the outbox
// records the notification as delivered; the resolution follows.
func TestDatabaseDownAlertWithoutTheStore(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute's resolution; not in -short")
	}
	t.Parallel()
	pg := startPostgres(t)
	h := startHook(t)
	env := alertsEnv(t, "", h.URL)
	// The built-in db_down, but with 3 s instead of a minute.
	env["VITALS_ALERTS"] = strings.Replace(allDefaultsOff, "db_down: off; ", "", 1) + "db_down: database.state == down for 3s"
	env["DATABASE_URL"] = pg.url(pg.port)
	env["VITALS_HISTORY_INTERVAL"] = "5s"
	v := startVitals(t, env)
	waitHealth(t, v.base, http.StatusOK, 60*time.Second)
	time.Sleep(12 * time.Second) // the history lease taken: this instance evaluates the shared rules
	pg.stop()
	stopped := time.Now()
	took := waitFor(t, 60*time.Second, "the db_down firing accepted", func() bool { return len(h.got("db_down", "firing")) == 1 })
	t.Logf("db_down firing reached the webhook %s after PostgreSQL stopped (rule: for 3s, sample interval 1s)", took.Round(100*time.Millisecond))
	if !strings.Contains(v.log.String(), "spooled in the data directory") {
		t.Error("the log does not say the transition was spooled")
	}
	time.Sleep(5 * time.Second) // still down: no repeat
	pg.start(t)
	t.Logf("PostgreSQL back after %s", time.Since(stopped).Round(time.Second))

	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pg.url(pg.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	firingEvents := func() int {
		var n int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM vitals.activity_events WHERE type = 'alert.firing' AND details->>'rule' = 'db_down'`).Scan(&n)
		return n
	}
	waitFor(t, 60*time.Second, "the alert.firing event stored", func() bool { return firingEvents() >= 1 })
	key := h.got("db_down", "firing")[0].Key
	var state string
	var attempts int
	if err := conn.QueryRow(ctx, `SELECT state, attempts FROM vitals.notifications WHERE key = $1`, key).Scan(&state, &attempts); err != nil || state != "delivered" {
		t.Errorf("the outbox row of %s: state %q, attempts %d, err %v; want delivered", key, state, attempts, err)
	}
	waitFor(t, 3*time.Minute, "the db_down resolution accepted", func() bool { return len(h.got("db_down", "resolved")) == 1 })
	time.Sleep(5 * time.Second)
	if n := firingEvents(); n != 1 {
		t.Errorf("%d alert.firing events of db_down stored, want 1", n)
	}
	h.check(t, "db_down")
}
