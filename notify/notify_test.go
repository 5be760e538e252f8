package notify_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/notify"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// receiver is a local HTTP server standing in for one kind of channel: it
// records every request, and fails the first failFirst with 503.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	reqs      []recorded
	srv       *httptest.Server
}

type recorded struct {
	path, key, sig, title string
	body                  []byte
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		b, _ := io.ReadAll(q.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.reqs = append(r.reqs, recorded{q.URL.Path, q.Header.Get("X-Vitals-Notification-Key"), q.Header.Get("X-Vitals-Signature"), q.Header.Get("Title"), b})
		if len(r.reqs) <= r.failFirst {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

// byKey is what a receiver that drops repeats by key sees.
func byKey(rs []recorded) map[string]recorded {
	m := map[string]recorded{}
	for _, r := range rs {
		m[r.key] = r
	}
	return m
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func cpu(p float64) *probes.Snapshot {
	return &probes.Snapshot{CPU: probes.CPU{Status: probes.StatusOK, Percent: &p}}
}

// Every channel kind receives the firing and the resolution; a receiver
// down for its first attempts gets them later, under the same keys.
func TestEveryChannelReceivesFiringAndResolution(t *testing.T) {
	webhook, slack, discord, ntfy, telegram := newReceiver(t, 3), newReceiver(t, 0), newReceiver(t, 0), newReceiver(t, 0), newReceiver(t, 0)
	host := func(r *receiver) string { return strings.TrimPrefix(r.srv.URL, "http://") }
	spec := fmt.Sprintf("%s/hook?secret=s3cret slack+http://%s/services/T/B/X discord+http://%s/api/webhooks/1/tok ntfy+http://%s/vitals-alerts telegram+http://%s/bot123:ABC?chat_id=42",
		webhook.srv.URL, host(slack), host(discord), host(ntfy), host(telegram))
	chans, err := notify.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(chans))
	for i, c := range chans {
		ids[i] = c.ID
		if strings.Contains(c.Label, "s3cret") || strings.Contains(c.Label, "tok") || strings.Contains(c.Label, "ABC") {
			t.Errorf("a secret in the label %q", c.Label)
		}
	}
	st := sqlitetest.Open(t, sqlite.Options{})
	c := &clock{t: time.Now()}
	rules, _ := alerts.Parse("cpu_high: cpu.percent > 90")
	e := alerts.New(alerts.Config{Rules: rules, Store: st, Now: c.now, Channels: ids})
	w := &notify.Worker{Store: st, Channels: chans, Now: c.now}

	e.Tick(context.Background(), cpu(97))
	c.t = c.t.Add(5 * time.Second)
	for range 2 * 60 { // a minute below the margin resolves it
		e.Tick(context.Background(), cpu(10))
		c.t = c.t.Add(time.Second)
	}
	// The worker runs for 10 minutes of fake time: the webhook's retries
	// come after its backoff.
	for range 600 {
		w.Once(context.Background())
		c.t = c.t.Add(time.Second)
	}
	for name, r := range map[string]*receiver{"slack": slack, "discord": discord, "ntfy": ntfy, "telegram": telegram} {
		if got := r.got(); len(got) != 2 {
			t.Errorf("%s got %d requests, want firing and resolved", name, len(got))
		}
	}
	hooks := webhook.got()
	if len(hooks) != 5 { // 3 refused, then firing and resolved
		t.Fatalf("webhook: %d requests, want 5", len(hooks))
	}
	keys := byKey(hooks)
	if len(keys) != 2 {
		t.Errorf("webhook, deduping by key, sees %d notifications, want 2", len(keys))
	}
	for _, r := range keys {
		mac := hmac.New(sha256.New, []byte("s3cret"))
		mac.Write(r.body)
		if r.sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("webhook signature %q does not match its body", r.sig)
		}
		var m notify.Message
		if err := json.Unmarshal(r.body, &m); err != nil || m.Rule != "cpu_high" || (m.Phase != "firing" && m.Phase != "resolved") {
			t.Errorf("webhook body %s", r.body)
		}
	}
	if p := telegram.got()[0].path; p != "/bot123:ABC/sendMessage" {
		t.Errorf("telegram path %q", p)
	}
	if title := ntfy.got()[0].title; !strings.Contains(title, "cpu_high firing") {
		t.Errorf("ntfy title %q", title)
	}
	var tg struct{ ChatID, Text string }
	_ = json.Unmarshal(telegram.got()[0].body, &struct {
		ChatID *string `json:"chat_id"`
		Text   *string `json:"text"`
	}{&tg.ChatID, &tg.Text})
	if tg.ChatID != "42" || !strings.Contains(tg.Text, "cpu_high firing") {
		t.Errorf("telegram body %s", telegram.got()[0].body)
	}
	log, _ := st.ListNotifications(context.Background(), 100)
	for _, n := range log {
		if n.State != "delivered" {
			t.Errorf("log entry %+v", n)
		}
		if strings.Contains(n.LastError, "s3cret") {
			t.Errorf("a secret in the log: %q", n.LastError)
		}
	}
}

// A real SMTP server (Python's smtpd, from Debian's python3) receives the
// e-mail.
func TestEmailChannel(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 missing; CI needs it for the SMTP test")
		}
		t.Skip("python3 missing: the SMTP test runs Python's smtpd")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(py, "-W", "ignore", "-u", "-m", "smtpd", "-n", "-c", "DebuggingServer", fmt.Sprintf("127.0.0.1:%d", port))
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("smtpd did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	chans, err := notify.Parse(fmt.Sprintf("smtp://127.0.0.1:%d?from=vitals@example.com&to=admin@example.com", port))
	if err != nil {
		t.Fatal(err)
	}
	status, err := chans[0].Send(context.Background(), http.DefaultClient, notify.Message{Key: "k1", Rule: "db_down", Phase: "firing", Text: "vitals: db_down firing"})
	if err != nil || status != 250 {
		t.Fatalf("send: %d %v", status, err)
	}
	wait := func(subject string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l := <-lines:
				if strings.Contains(l, "Subject: "+subject) {
					return
				}
			case <-deadline:
				t.Fatalf("smtpd did not print the message %q", subject)
			}
		}
	}
	wait("vitals: db_down firing")

	// Through the engine, the outbox and the worker: the firing and the
	// resolution each arrive, and the log records both delivered with the
	// server's 250.
	st := sqlitetest.Open(t, sqlite.Options{})
	c := &clock{t: time.Now()}
	rules, _ := alerts.Parse("cpu_high: cpu.percent > 90")
	e := alerts.New(alerts.Config{Rules: rules, Store: st, Now: c.now, Channels: []string{chans[0].ID}})
	w := &notify.Worker{Store: st, Channels: chans, Now: c.now}
	e.Tick(context.Background(), cpu(97))
	w.Once(context.Background())
	wait("vitals: cpu_high firing")
	for range 70 {
		c.t = c.t.Add(time.Second)
		e.Tick(context.Background(), cpu(10))
	}
	w.Once(context.Background())
	wait("vitals: cpu_high resolved")
	log, _ := st.ListNotifications(context.Background(), 10)
	if len(log) != 2 || log[0].State != "delivered" || log[1].State != "delivered" || log[0].LastStatus != 250 {
		t.Errorf("the e-mail log: %+v", log)
	}
}

func TestParseRefusesBadChannels(t *testing.T) {
	for _, spec := range []string{"ftp://x", "slack://hooks.slack.com/x", "telegram+https://api.telegram.org/nobot", "ntfy+https://ntfy.sh", "smtp://mail:25", "notaurl"} {
		if _, err := notify.Parse(spec); err == nil {
			t.Errorf("%q: no error", spec)
		} else if strings.Contains(err.Error(), "nobot") {
			t.Errorf("%q: the error quotes a path: %v", spec, err)
		}
	}
}
