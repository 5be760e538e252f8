// Package notify delivers the alerts' notifications: it reads the channels
// of VITALS_NOTIFY, and its Worker takes due notifications from the outbox
// (storage.NotificationStore), sends each to its channel, and records the
// outcome, retrying with backoff for at least a day.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Message is what a notification says: one alert's transition.
type Message struct {
	Key    string   `json:"key"`
	Rule   string   `json:"rule"`
	Series string   `json:"series"`
	Phase  string   `json:"phase"` // firing or resolved (test for a test notification)
	Value  *float64 `json:"value,omitempty"`
	State  string   `json:"state,omitempty"`
	Since  string   `json:"since"`
	Text   string   `json:"text"`
}

// Channel is one destination of VITALS_NOTIFY.
type Channel struct {
	// ID names the channel in the outbox and the log: its kind and a
	// digest of its URL, never the URL, which may hold a secret.
	ID   string
	Kind string
	// Label is the URL without credentials, query or path secrets, for
	// the page.
	Label string
	u     *url.URL
}

// Parse reads VITALS_NOTIFY: URLs separated by white space, whose scheme
// names the kind (DESIGN.md, "Alerts").
func Parse(spec string) ([]Channel, error) {
	var out []Channel
	seen := map[string]bool{}
	for i, raw := range strings.Fields(spec) {
		c, err := parseChannel(raw)
		if err != nil {
			return nil, fmt.Errorf("channel %d (%s): %w", i+1, redact(raw), err)
		}
		if seen[c.ID] {
			return nil, fmt.Errorf("channel %d (%s) is given twice", i+1, c.Label)
		}
		seen[c.ID] = true
		out = append(out, c)
	}
	return out, nil
}

func parseChannel(raw string) (Channel, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Channel{}, errors.New("is not a URL with a host")
	}
	kind, transport, _ := strings.Cut(u.Scheme, "+")
	switch kind {
	case "http", "https":
		kind, transport = "webhook", u.Scheme
	case "slack", "discord", "ntfy", "telegram":
		if transport != "https" && transport != "http" {
			return Channel{}, fmt.Errorf("write %s+https://...", kind)
		}
	case "smtp", "smtps":
		q := u.Query()
		if q.Get("from") == "" || q.Get("to") == "" {
			return Channel{}, errors.New("an e-mail channel needs ?from=ADDRESS&to=ADDRESS")
		}
		transport = kind
		kind = "email"
	default:
		return Channel{}, fmt.Errorf("the scheme %q is not a channel kind (http(s), slack+https, discord+https, ntfy+https, telegram+https, smtp, smtps)", u.Scheme)
	}
	if kind == "telegram" {
		if !strings.HasPrefix(strings.TrimPrefix(u.Path, "/"), "bot") || u.Query().Get("chat_id") == "" {
			return Channel{}, errors.New("write telegram+https://HOST/bot<TOKEN>?chat_id=ID")
		}
	}
	if kind == "ntfy" && strings.Trim(u.Path, "/") == "" {
		return Channel{}, errors.New("write ntfy+https://HOST/TOPIC")
	}
	sum := sha256.Sum256([]byte(raw))
	c := Channel{ID: kind + "-" + hex.EncodeToString(sum[:4]), Kind: kind, u: u}
	c.u.Scheme = transport
	c.Label = kind + " " + redact(raw)
	return c, nil
}

// redact is a channel URL without what may be secret: credentials, the
// query, and any path (a webhook's path is often its token).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(not a URL)"
	}
	return u.Scheme + "://" + u.Host
}

// Send delivers m to c; status is the receiver's answer (an HTTP status or
// an SMTP reply code), 0 when it gave none.
func (c Channel) Send(ctx context.Context, hc *http.Client, m Message) (status int, err error) {
	switch c.Kind {
	case "webhook":
		return c.webhook(ctx, hc, m)
	case "slack":
		return c.postJSON(ctx, hc, c.u.String(), map[string]string{"text": m.Text}, m.Key, nil)
	case "discord":
		return c.postJSON(ctx, hc, c.u.String(), map[string]string{"content": m.Text}, m.Key, nil)
	case "ntfy":
		title := "vitals: " + m.Rule + " " + m.Phase
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.u.String(), strings.NewReader(m.Text))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Title", title)
		req.Header.Set("X-Vitals-Notification-Key", m.Key)
		if m.Phase == "firing" {
			req.Header.Set("Priority", "high")
		}
		return do(hc, req)
	case "telegram":
		q := c.u.Query()
		u := *c.u
		u.RawQuery = ""
		u.Path = strings.TrimSuffix(u.Path, "/") + "/sendMessage"
		return c.postJSON(ctx, hc, u.String(), map[string]string{"chat_id": q.Get("chat_id"), "text": m.Text}, m.Key, nil)
	case "email":
		return c.email(ctx, m)
	}
	return 0, fmt.Errorf("unknown channel kind %q", c.Kind)
}

func (c Channel) webhook(ctx context.Context, hc *http.Client, m Message) (int, error) {
	u := *c.u
	q := u.Query()
	secret := q.Get("secret")
	q.Del("secret")
	u.RawQuery = q.Encode()
	body, _ := json.Marshal(m)
	var headers map[string]string
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		headers = map[string]string{"X-Vitals-Signature": "sha256=" + hex.EncodeToString(mac.Sum(nil))}
	}
	return c.post(ctx, hc, u.String(), body, m.Key, headers)
}

func (c Channel) postJSON(ctx context.Context, hc *http.Client, target string, v any, key string, headers map[string]string) (int, error) {
	body, _ := json.Marshal(v)
	return c.post(ctx, hc, target, body, key, headers)
}

func (c Channel) post(ctx context.Context, hc *http.Client, target string, body []byte, key string, headers map[string]string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("cannot make the request") // the error would quote the URL
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vitals")
	req.Header.Set("X-Vitals-Notification-Key", key)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(hc, req)
}

// do sends req; its errors never quote the URL, which may hold a secret.
func do(hc *http.Client, req *http.Request) (int, error) {
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// email sends m over SMTP: smtps:// is TLS from the start, smtp:// uses
// STARTTLS when the server offers it; PLAIN auth when the URL has a user.
func (c Channel) email(ctx context.Context, m Message) (int, error) {
	host := c.u.Hostname()
	port := c.u.Port()
	if port == "" {
		port = map[string]string{"smtp": "25", "smtps": "465"}[c.u.Scheme]
	}
	addr := net.JoinHostPort(host, port)
	d := net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	tlsConf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if c.u.Scheme == "smtps" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return 0, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return 0, err
	}
	defer cl.Close()
	if ok, _ := cl.Extension("STARTTLS"); ok && c.u.Scheme == "smtp" {
		if err := cl.StartTLS(tlsConf); err != nil {
			return 0, err
		}
	}
	if user := c.u.User; user != nil {
		pass, _ := user.Password()
		if err := cl.Auth(smtp.PlainAuth("", user.Username(), pass, host)); err != nil {
			return smtpCode(err), err
		}
	}
	q := c.u.Query()
	from, to := q.Get("from"), strings.Split(q.Get("to"), ",")
	if err := cl.Mail(from); err != nil {
		return smtpCode(err), err
	}
	for _, r := range to {
		if err := cl.Rcpt(strings.TrimSpace(r)); err != nil {
			return smtpCode(err), err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return smtpCode(err), err
	}
	fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: vitals: %s %s\r\nMessage-ID: <%s@vitals>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		from, strings.Join(to, ", "), m.Rule, m.Phase, m.Key, m.Text)
	if err := w.Close(); err != nil {
		return smtpCode(err), err
	}
	_ = cl.Quit()
	return 250, nil
}

// smtpCode is the reply code an SMTP error starts with, 0 for none.
func smtpCode(err error) int {
	var code int
	if _, e := fmt.Sscanf(err.Error(), "%d", &code); e == nil {
		return code
	}
	return 0
}
