package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// HTTPTargetConfig is one URL the HTTP probe requests.
type HTTPTargetConfig struct {
	Name string
	URL  string
}

// ParseHTTPTargets parses "name=url" pairs separated by commas or white
// space, e.g. "api=http://app.internal/health,web=https://example.org/".
// Names must be unique; URLs must be absolute http or https URLs.
func ParseHTTPTargets(s string) ([]HTTPTargetConfig, error) {
	var out []HTTPTargetConfig
	seen := map[string]bool{}
	for _, pair := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		name, raw, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("probes: http target %q: want name=url", truncate(pair, 40))
		}
		if seen[name] {
			return nil, fmt.Errorf("probes: http target %q: duplicate name", name)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("probes: http target %q: want an absolute http(s) URL", name)
		}
		seen[name] = true
		out = append(out, HTTPTargetConfig{Name: name, URL: raw})
	}
	return out, nil
}

// DefaultHTTPTimeout is how long one request to a target may take
// (VITALS_HTTP_TIMEOUT): above the default critical latency (2 s), so a
// slow target is measured and shown critical rather than timed out.
const DefaultHTTPTimeout = 5 * time.Second

// DefaultHTTPStartGrace is how long after start a target that refuses
// connections is taken to be still starting rather than down, unless it
// has answered once (issue 15: vitals starts beside the application).
const DefaultHTTPStartGrace = 30 * time.Second

// HTTPProbeConfig tunes the HTTP probe; zero values take the defaults.
type HTTPProbeConfig struct {
	// Timeout bounds each request.
	Timeout time.Duration
	// StartGrace is the start-up window of ReasonStarting.
	StartGrace time.Duration
	// Started is when vitals started; zero means when the probe was made.
	Started time.Time
}

// HTTPProbe requests each configured URL three times per tick, the three
// in parallel so that a target's samples take one request's time and never
// overrun the sample interval, and reports the status code and the median
// latency.
type HTTPProbe struct {
	targets []httpTarget
	client  *http.Client
	timeout time.Duration
	// graceEnds is when a refused connection stops meaning "still
	// starting".
	graceEnds time.Time
}

type httpTarget struct {
	name, url, shown string
	// answered is set once the target has answered: from then on a refusal
	// is down, whatever the start grace says.
	answered *atomic.Bool
}

// NewHTTPProbe returns the probe of the "http" group. With no targets the
// group is an empty list.
func NewHTTPProbe(targets []HTTPTargetConfig, cfgs ...HTTPProbeConfig) *HTTPProbe {
	var cfg HTTPProbeConfig
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHTTPTimeout
	}
	if cfg.StartGrace <= 0 {
		cfg.StartGrace = DefaultHTTPStartGrace
	}
	if cfg.Started.IsZero() {
		cfg.Started = time.Now()
	}
	ts := make([]httpTarget, 0, len(targets))
	for _, t := range targets {
		ts = append(ts, httpTarget{name: t.Name, url: t.URL, shown: displayURL(t.URL), answered: new(atomic.Bool)})
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Keep a connection per parallel request between ticks: the figure is
	// the target's answer time, not a TCP and TLS handshake every 5 s.
	tr.MaxIdleConnsPerHost = samples
	tr.IdleConnTimeout = 2 * time.Minute
	return &HTTPProbe{
		targets:   ts,
		timeout:   cfg.Timeout,
		graceEnds: cfg.Started.Add(cfg.StartGrace),
		client: &http.Client{
			Transport: tr,
			// A redirect is an answer: report its 3xx, do not follow it
			// somewhere the operator did not configure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// displayURL drops credentials, query and fragment: the URL is shown on
// the page and in the JSON.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// Budget is the probe's own time limit for the sampler: one request's
// timeout (the three run in parallel) and a little for the slowest to
// report.
func (p *HTTPProbe) Budget() time.Duration { return p.timeout + 250*time.Millisecond }

// Name returns "http".
func (p *HTTPProbe) Name() string { return "http" }

// Unavailable keeps the configured targets, each unavailable.
func (p *HTTPProbe) Unavailable(reason string) Result {
	out := make([]HTTPTarget, len(p.targets))
	for i, t := range p.targets {
		out[i] = HTTPTarget{Status: StatusUnavailable, Reason: reason, Name: t.name, URL: t.shown}
	}
	return HTTPTargets(out)
}

// Read returns the http group, requesting the targets concurrently.
func (p *HTTPProbe) Read(ctx context.Context) Result {
	out := make([]HTTPTarget, len(p.targets))
	var wg sync.WaitGroup
	for i, t := range p.targets {
		wg.Go(func() { out[i] = p.check(ctx, t) })
	}
	wg.Wait()
	return HTTPTargets(out)
}

// maxBody bounds what is read of an answer: enough for a health document,
// not a download.
const maxBody = 1 << 20

// check requests one target three times at once, each request with its
// own timeout; any failure makes the target down with its reason.
func (p *HTTPProbe) check(ctx context.Context, t httpTarget) HTTPTarget {
	res := HTTPTarget{Name: t.name, URL: t.shown}
	var (
		lat   [samples]time.Duration
		codes [samples]int
		errs  [samples]error
		wg    sync.WaitGroup
	)
	for i := range lat {
		wg.Go(func() { lat[i], codes[i], errs[i] = p.request(ctx, t.url) })
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			continue
		}
		res.Status, res.Reason = StatusUnavailable, httpReason(err, p.timeout)
		if errors.Is(err, errBadURL) {
			res.Reason = "invalid URL"
		} else if errors.Is(err, syscall.ECONNREFUSED) && !t.answered.Load() && time.Now().Before(p.graceEnds) {
			res.Reason = ReasonStarting
		}
		return res
	}
	t.answered.Store(true)
	code := codes[samples-1]
	res.Status = StatusOK
	res.Code = ptr(code)
	res.Healthy = ptr(code >= 200 && code < 400)
	res.LatencyMS = fptr(ms(median(lat[:])))
	return res
}

var errBadURL = errors.New("invalid URL")

// request makes one timed GET of url under its own timeout.
func (p *HTTPProbe) request(ctx context.Context, url string) (time.Duration, int, error) {
	rctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, errBadURL
	}
	req.Header.Set("User-Agent", "vitals")
	started := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	// Latency runs to the end of the (bounded) body: a health endpoint
	// that sends headers and then stalls is slow.
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	return time.Since(started), resp.StatusCode, err
}

// httpReason names a request failure without echoing the URL, which
// net/http puts in every error it returns.
func httpReason(err error, timeout time.Duration) string {
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &certErr):
		return "TLS certificate verification failed"
	case errors.As(err, &recordErr):
		return "TLS handshake failed (plain HTTP server?)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server"
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return shortReason(err, timeout)
}
