package notify_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/notify"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

var errDown = errors.New("the store is down (forced by the test)")

// downable is a real SQLite store whose writes and outbox reads fail while
// down is set: the failure an unreachable database gives, forced.
type downable struct {
	*sqlite.Store
	down bool
}

func (d *downable) InsertEvents(ctx context.Context, evs []storage.NewEvent) ([]storage.Event, error) {
	if d.down {
		return nil, errDown
	}
	return d.Store.InsertEvents(ctx, evs)
}

func (d *downable) EnqueueNotifications(ctx context.Context, ns []storage.Notification) error {
	if d.down {
		return errDown
	}
	return d.Store.EnqueueNotifications(ctx, ns)
}

func (d *downable) SetSetting(ctx context.Context, k, v string) error {
	if d.down {
		return errDown
	}
	return d.Store.SetSetting(ctx, k, v)
}

func (d *downable) ClaimNotifications(ctx context.Context, nowMS, holdMS int64, limit int) ([]storage.Notification, error) {
	if d.down {
		return nil, errDown
	}
	return d.Store.ClaimNotifications(ctx, nowMS, holdMS, limit)
}

func alertEvents(t *testing.T, st storage.Store) []storage.Event {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), storage.EventFilter{Types: []string{alerts.TypeFiring, alerts.TypeResolved}})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// With the store down, a transition goes to the spool, and its
// notification is delivered from there; when the store is back, the event
// is stored and the notification is in the log as delivered, once, and it
// is not sent again. A replay done twice (a crash before the spool was
// emptied) stores nothing twice.
func TestSpoolDeliversWithoutTheStoreAndRecordsOnce(t *testing.T) {
	hook := newReceiver(t, 1) // the first attempt is refused: a retry from the spool
	chans, err := notify.Parse(hook.srv.URL + "/hook")
	if err != nil {
		t.Fatal(err)
	}
	real := sqlitetest.Open(t, sqlite.Options{})
	st := &downable{Store: real}
	spoolPath := filepath.Join(t.TempDir(), notify.SpoolFile)
	spool, err := notify.OpenSpool(spoolPath)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	rules, _ := alerts.Parse("cpu_high: cpu.percent > 90")
	e := alerts.New(alerts.Config{Rules: rules, Store: st, Now: c.now, Channels: []string{chans[0].ID}, Spool: spool})
	w := &notify.Worker{Store: st, Channels: chans, Now: c.now, Spool: spool, ReplayTo: st}

	e.Tick(context.Background(), cpu(10)) // the state is read while the store answers
	st.down = true
	e.Tick(context.Background(), cpu(97))
	if spool.Empty() {
		t.Fatal("the transition was not spooled while the store was down")
	}
	for range 30 {
		w.Once(context.Background())
		c.t = c.t.Add(time.Second)
	}
	got := hook.got()
	if len(got) != 2 || got[0].key != got[1].key || got[0].key == "" {
		t.Fatalf("from the spool the receiver got %d requests (want a refused one and its retry, one key)", len(got))
	}
	// Still down, the figure clears for a minute: the resolution joins the
	// firing in the spool, and is delivered from there too.
	for range 70 {
		e.Tick(context.Background(), cpu(10))
		w.Once(context.Background())
		c.t = c.t.Add(time.Second)
	}
	got = hook.got()
	if len(got) != 3 || got[2].key == got[0].key {
		t.Fatalf("the resolution from the spool: %d requests in all, want 3", len(got))
	}
	saved, err := os.ReadFile(spoolPath) // what a crash right now would leave
	if err != nil {
		t.Fatal(err)
	}

	st.down = false
	for range 10 {
		e.Tick(context.Background(), cpu(10))
		w.Once(context.Background())
		c.t = c.t.Add(time.Second)
	}
	if !spool.Empty() {
		t.Error("the spool is not empty once the store is back")
	}
	if n := len(hook.got()); n != 3 {
		t.Errorf("after the store came back the receiver got %d requests in all, want still 3", n)
	}
	check := func(when string) {
		t.Helper()
		if evs := alertEvents(t, real); len(evs) != 2 {
			t.Errorf("%s: the feed holds %d alert events, want the firing and the resolution", when, len(evs))
		}
		log, err := real.ListNotifications(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		byKey := map[string]storage.Notification{}
		for _, n := range log {
			byKey[n.Key] = n
		}
		fired, resolved := byKey[got[0].key], byKey[got[2].key]
		if len(log) != 2 || fired.State != storage.NotificationDelivered || fired.LastStatus != 200 || fired.Attempts != 2 ||
			resolved.State != storage.NotificationDelivered || resolved.Attempts != 1 {
			t.Errorf("%s: the delivery log is %+v, want both delivered under the spooled keys (2 attempts, then 1)", when, log)
		}
	}
	check("after the replay")

	// The spool as a crash before the replay's end left it: opened again,
	// replayed again, nothing new is stored or sent.
	again := filepath.Join(t.TempDir(), notify.SpoolFile)
	if err := os.WriteFile(again, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	sp2, err := notify.OpenSpool(again)
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	w2 := &notify.Worker{Store: st, Channels: chans, Now: c.now, Spool: sp2, ReplayTo: st}
	for range 5 {
		w2.Once(context.Background())
		c.t = c.t.Add(time.Second)
	}
	check("after a second replay")
	if n := len(hook.got()); n != 3 {
		t.Errorf("a second replay sent again: %d requests in all", n)
	}
	if info, err := os.Stat(spoolPath); err != nil || info.Size() != 0 {
		t.Errorf("the replayed spool file is not empty: %v %v", info, err)
	}
}

// A crash while a record was being appended leaves a torn last line: it is
// dropped (it was never acknowledged), the records before it are kept, and
// the next record starts on a line of its own.
func TestSpoolDropsATornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), notify.SpoolFile)
	sp, err := notify.OpenSpool(path)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(key string) storage.NewEvent {
		return storage.NewEvent{Type: alerts.TypeFiring, Message: "m " + key, Source: storage.SourceVitals, IdempotencyKey: key}
	}
	for _, k := range []string{"alert-1", "alert-2"} {
		if err := sp.Add(ev(k), []storage.Notification{{Key: "n-" + k, Channel: "webhook-x", Payload: `{"key":"n-` + k + `"}`, CreatedMS: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	sp.Close()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"kind":"transition","event":{"Type":"alert.firing","Mess`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	sp, err = notify.OpenSpool(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Add(ev("alert-3"), nil); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	sp, err = notify.OpenSpool(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	st := sqlitetest.Open(t, sqlite.Options{})
	if err := sp.Replay(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	evs := alertEvents(t, st)
	if len(evs) != 3 {
		t.Fatalf("replayed %d events, want the 3 whole records", len(evs))
	}
	log, _ := st.ListNotifications(context.Background(), 10)
	if len(log) != 2 || log[0].State != storage.NotificationPending {
		t.Errorf("replayed notifications %+v, want 2 pending (never delivered)", log)
	}
}
