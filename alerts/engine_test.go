package alerts

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// clock is a fake clock the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Now().UTC().Truncate(time.Second)} }
func cpuAt(p float64) *probes.Snapshot {
	return &probes.Snapshot{CPU: probes.CPU{Status: probes.StatusOK, Percent: &p}}
}
func dbIn(l probes.Level) *probes.Snapshot {
	return &probes.Snapshot{Database: probes.Database{State: l}}
}

func engine(t *testing.T, spec string, st Store, c *clock) *Engine {
	t.Helper()
	rules, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Rules: rules, Store: st, Now: c.now})
}

// feed returns the alert events of the store, oldest first.
func feed(t *testing.T, st Store) []storage.Event {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), storage.EventFilter{Types: []string{TypeFiring, TypeResolved}})
	if err != nil {
		t.Fatal(err)
	}
	// In the order they were written: the fake clock's occurred_at may
	// run ahead of the store's own.
	slices.SortFunc(evs, func(a, b storage.Event) int { return cmp.Compare(a.ID, b.ID) })
	return evs
}

func types(evs []storage.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

const sample = 5 * time.Second

// run ticks e every sample for d with the snapshot f gives.
func run(e *Engine, c *clock, d time.Duration, f func(i int) *probes.Snapshot) {
	for i := 0; time.Duration(i)*sample < d; i++ {
		e.Tick(context.Background(), f(i))
		c.add(sample)
	}
}

func TestSpikeShorterThanTheDurationDoesNotFire(t *testing.T) {
	st, c := sqlitetest.Open(t, sqlite.Options{}), newClock()
	e := engine(t, "", st, c)
	run(e, c, 4*time.Minute, func(int) *probes.Snapshot { return cpuAt(99) })
	run(e, c, 10*time.Minute, func(int) *probes.Snapshot { return cpuAt(20) })
	if evs := feed(t, st); len(evs) != 0 {
		t.Errorf("a 4-minute spike under a 5-minute rule: %v", types(evs))
	}
}

func TestSustainedFiresOnceAndResolvesOnce(t *testing.T) {
	st, c := sqlitetest.Open(t, sqlite.Options{}), newClock()
	e := engine(t, "", st, c)
	run(e, c, 20*time.Minute, func(int) *probes.Snapshot { return cpuAt(97) })
	if got := types(feed(t, st)); len(got) != 1 || got[0] != TypeFiring {
		t.Fatalf("after 20 minutes at 97 %%: %v", got)
	}
	// Below the threshold but within its 5 % margin: still firing.
	run(e, c, 5*time.Minute, func(int) *probes.Snapshot { return cpuAt(87) })
	if got := types(feed(t, st)); len(got) != 1 {
		t.Fatalf("at 87 %% (within the margin): %v", got)
	}
	run(e, c, 5*time.Minute, func(int) *probes.Snapshot { return cpuAt(30) })
	evs := feed(t, st)
	if got := types(evs); len(got) != 2 || got[1] != TypeResolved {
		t.Fatalf("after 5 minutes at 30 %%: %v", got)
	}
	if evs[0].Source != storage.SourceVitals || evs[0].Message == "" {
		t.Errorf("firing event: %+v", evs[0])
	}
}

func TestOscillationFiresAtMostOnce(t *testing.T) {
	st, c := sqlitetest.Open(t, sqlite.Options{}), newClock()
	// A rule without a duration, the noisiest case.
	e := engine(t, "cpu_high: cpu.percent > 90", st, c)
	run(e, c, time.Hour, func(i int) *probes.Snapshot { return cpuAt(map[bool]float64{true: 91, false: 89}[i%2 == 0]) })
	if got := types(feed(t, st)); len(got) != 1 {
		t.Errorf("an hour around the threshold: %v", got)
	}
	// With the default 5-minute duration it never fires at all.
	st2, c2 := sqlitetest.Open(t, sqlite.Options{}), newClock()
	e2 := engine(t, "", st2, c2)
	run(e2, c2, time.Hour, func(i int) *probes.Snapshot { return cpuAt(map[bool]float64{true: 91, false: 89}[i%2 == 0]) })
	if got := types(feed(t, st2)); len(got) != 0 {
		t.Errorf("an hour around the threshold, 5-minute rule: %v", got)
	}
}

func TestStateRule(t *testing.T) {
	st, c := sqlitetest.Open(t, sqlite.Options{}), newClock()
	e := engine(t, "", st, c)
	run(e, c, 50*time.Second, func(int) *probes.Snapshot { return dbIn(probes.LevelDown) })
	if got := types(feed(t, st)); len(got) != 0 {
		t.Fatalf("down for 50 s under a 1-minute rule: %v", got)
	}
	run(e, c, 30*time.Second, func(int) *probes.Snapshot { return dbIn(probes.LevelDown) })
	run(e, c, 2*time.Minute, func(int) *probes.Snapshot { return dbIn(probes.LevelOK) })
	if got := types(feed(t, st)); len(got) != 2 || got[0] != TypeFiring || got[1] != TypeResolved {
		t.Errorf("db_down: %v", got)
	}
}

func TestAbsentAndCount(t *testing.T) {
	st, c := sqlitetest.Open(t, sqlite.Options{}), newClock()
	e := engine(t, "no_streams: absent(stream_started) for 30m; rejections: count(user_rejected, 10m) > 5", st, c)
	post := func(typ string, n int) {
		for range n {
			if _, err := st.InsertEvents(context.Background(), []storage.NewEvent{{Type: typ, Message: "m"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	post("stream_started", 1)
	// absent() counts from the event's real time, so the fake clock is
	// kept near now here and the silence comes from the window.
	e.Tick(context.Background(), &probes.Snapshot{})
	if got := types(feed(t, st)); len(got) != 0 {
		t.Fatalf("right after a stream: %v", got)
	}
	c.add(31 * time.Minute)
	e.Tick(context.Background(), &probes.Snapshot{})
	if got := types(feed(t, st)); len(got) != 1 || got[0] != TypeFiring {
		t.Fatalf("31 minutes without a stream: %v", got)
	}
	post("stream_started", 1)
	c.t = time.Now().UTC()
	for range 13 {
		e.Tick(context.Background(), &probes.Snapshot{})
		c.add(sample)
	}
	if got := types(feed(t, st)); len(got) != 2 || got[1] != TypeResolved {
		t.Fatalf("a stream again, a minute later: %v", got)
	}
	// A burst of rejections fires the count() rule.
	c.t = time.Now().UTC()
	post("user_rejected", 6)
	e.Tick(context.Background(), &probes.Snapshot{})
	evs := feed(t, st)
	if len(evs) != 3 || evs[2].Type != TypeFiring || evs[2].Details == nil {
		t.Fatalf("a burst of 6 rejections: %v", types(evs))
	}
}

// A restart while an alert fires neither fires it again nor forgets to
// resolve it.
func TestRestartKeepsState(t *testing.T) {
	st, c := sqlitetest.Open(t, sqlite.Options{}), newClock()
	e := engine(t, "", st, c)
	run(e, c, 6*time.Minute, func(int) *probes.Snapshot { return cpuAt(97) })
	e2 := engine(t, "", st, c) // the restarted process
	run(e2, c, 10*time.Minute, func(int) *probes.Snapshot { return cpuAt(97) })
	if got := types(feed(t, st)); len(got) != 1 {
		t.Fatalf("after a restart while firing: %v", got)
	}
	if a := e2.Alerts(); len(a) != 1 || a[0].Phase != PhaseFiring {
		t.Fatalf("restarted engine's alerts: %+v", a)
	}
	run(e2, c, 2*time.Minute, func(int) *probes.Snapshot { return cpuAt(10) })
	if got := types(feed(t, st)); len(got) != 2 || got[1] != TypeResolved {
		t.Errorf("resolution after the restart: %v", got)
	}
}

// A transition whose event cannot be stored is written once the store
// answers, once.
func TestTransitionWaitsForTheStore(t *testing.T) {
	real := sqlitetest.Open(t, sqlite.Options{})
	flaky := &failing{Store: real}
	c := newClock()
	e := engine(t, "cpu_high: cpu.percent > 90", flaky, c)
	e.Tick(context.Background(), cpuAt(10)) // loads the state
	flaky.down = true
	run(e, c, time.Minute, func(int) *probes.Snapshot { return cpuAt(95) })
	flaky.down = false
	run(e, c, time.Minute, func(int) *probes.Snapshot { return cpuAt(95) })
	if got := types(feed(t, real)); len(got) != 1 {
		t.Errorf("after the store came back: %v", got)
	}
}

type failing struct {
	Store
	down bool
}

func (f *failing) InsertEvents(ctx context.Context, evs []storage.NewEvent) ([]storage.Event, error) {
	if f.down {
		return nil, storage.ErrUnavailable
	}
	return f.Store.InsertEvents(ctx, evs)
}

func (f *failing) SetSetting(ctx context.Context, k, v string) error {
	if f.down {
		return storage.ErrUnavailable
	}
	return f.Store.SetSetting(ctx, k, v)
}

// Two instances on one store: the shared rule is evaluated by the holder
// only; when the holder goes away the other takes the alert over as it is,
// so a transition is written once, not once per instance.
func TestFleetSharesOneState(t *testing.T) {
	st, c := sqlitetest.Open(t, sqlite.Options{}), newClock()
	rules, err := Parse("db_down: database.state == down")
	if err != nil {
		t.Fatal(err)
	}
	aHolds := true
	a := New(Config{Rules: rules, Store: st, Now: c.now, Instance: "a", Channels: []string{"webhook-1"}, Shared: func() bool { return aHolds }})
	b := New(Config{Rules: rules, Store: st, Now: c.now, Instance: "b", Channels: []string{"webhook-1"}, Shared: func() bool { return !aHolds }})
	tick := func(l probes.Level, engines ...*Engine) {
		for _, e := range engines {
			e.Tick(context.Background(), &probes.Snapshot{CPU: probes.CPU{Status: probes.StatusOK, Percent: ptrf(99)}, Database: probes.Database{State: l}})
		}
		c.add(sample)
	}
	for range 10 {
		tick(probes.LevelDown, a, b)
	}
	// a stops; b holds the lease from now on, the database still down.
	aHolds = false
	for range 10 {
		tick(probes.LevelDown, b)
	}
	for range 20 {
		tick(probes.LevelOK, b)
	}
	if got := types(feed(t, st)); len(got) != 2 || got[0] != TypeFiring || got[1] != TypeResolved {
		t.Errorf("one firing and one resolution across the fleet: %v", got)
	}
	ns, _ := st.ListNotifications(context.Background(), 10)
	if len(ns) != 2 {
		t.Errorf("%d notifications, want 2 (one per transition)", len(ns))
	}
}

func ptrf(v float64) *float64 { return &v }

// A restart while an absent() rule fires is not the events' return: the
// restarted engine counts its start as silence to fire on, but only a real
// event clears the alert.
func TestAbsentFiringSurvivesARestart(t *testing.T) {
	st, c := sqlitetest.Open(t, sqlite.Options{}), newClock()
	if _, err := st.InsertEvents(context.Background(), []storage.NewEvent{{Type: "stream_started", Message: "m"}}); err != nil {
		t.Fatal(err)
	}
	e := engine(t, "no_streams: absent(stream_started) for 30m", st, c)
	e.Tick(context.Background(), &probes.Snapshot{})
	c.add(31 * time.Minute)
	e.Tick(context.Background(), &probes.Snapshot{})
	if got := types(feed(t, st)); len(got) != 1 || got[0] != TypeFiring {
		t.Fatalf("31 minutes without a stream: %v", got)
	}
	e2 := engine(t, "no_streams: absent(stream_started) for 30m", st, c) // restarted
	run(e2, c, 10*time.Minute, func(int) *probes.Snapshot { return &probes.Snapshot{} })
	if got := types(feed(t, st)); len(got) != 1 {
		t.Fatalf("10 minutes after a restart, still no stream: %v", got)
	}
	if a := e2.Alerts(); len(a) != 1 || a[0].Phase != PhaseFiring {
		t.Fatalf("restarted engine's alerts: %+v", a)
	}
}

// A silenced rule's transitions are kept and written to the feed, but no
// notification is enqueued for them; the silence is an event in the feed
// with who and until, and once it ends notifications flow again.
func TestSilencedRuleIsNotNotified(t *testing.T) {
	st, c := sqlitetest.Open(t, sqlite.Options{}), newClock()
	rules, err := Parse("cpu_high: cpu.percent > 90 for 1m")
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Rules: rules, Store: st, Now: c.now, Channels: []string{"webhook-x"}})
	ctx := context.Background()
	if _, err := e.Silence(ctx, "nope", time.Hour, "admin"); err != ErrNoSuchRule {
		t.Errorf("silencing an unknown rule: %v", err)
	}
	s, err := e.Silence(ctx, "cpu_high", time.Hour, "admin")
	if err != nil || !s.Until.After(c.now()) {
		t.Fatalf("silence: %+v %v", s, err)
	}
	if got := e.Silences(); got["cpu_high"].By != "admin" {
		t.Errorf("Silences() = %v", got)
	}
	run(e, c, 3*time.Minute, func(int) *probes.Snapshot { return cpuAt(99) })
	evs := feed(t, st)
	if len(evs) != 1 || evs[0].Type != TypeFiring || !strings.Contains(string(evs[0].Details), `"silenced":true`) {
		t.Fatalf("a silenced firing in the feed: %v", types(evs))
	}
	if ns, _ := st.ListNotifications(ctx, 10); len(ns) != 0 {
		t.Errorf("%d notifications enqueued for a silenced rule", len(ns))
	}
	// Another engine (a fleet peer, a restart) reads the same silence.
	e2 := New(Config{Rules: rules, Store: st, Now: c.now})
	e2.Tick(ctx, cpuAt(99))
	if _, ok := e2.Silences()["cpu_high"]; !ok {
		t.Error("the silence is not read from the store")
	}
	c.add(time.Hour) // the silence has ended
	run(e, c, 2*time.Minute, func(int) *probes.Snapshot { return cpuAt(10) })
	if ns, _ := st.ListNotifications(ctx, 10); len(ns) != 1 {
		t.Errorf("after the silence the resolution enqueued %d notifications, want 1", len(ns))
	}
	if _, err := e.Silence(ctx, "cpu_high", 0, "admin"); err != nil {
		t.Fatal(err)
	}
	marks, _ := st.ListEvents(ctx, storage.EventFilter{Types: []string{TypeSilenced, TypeUnsilenced}})
	if len(marks) != 2 || !strings.Contains(string(marks[1].Details)+string(marks[0].Details), `"until"`) ||
		!strings.Contains(marks[0].Message+marks[1].Message, "by admin") {
		t.Errorf("silence events: %+v", marks)
	}
}
