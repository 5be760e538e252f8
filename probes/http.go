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

// HTTPProbe requests each configured URL three times per tick and reports
// the status code and the median latency.
type HTTPProbe struct {
	targets []httpTarget
	client  *http.Client
}

type httpTarget struct {
	name, url, shown string
}

// NewHTTPProbe returns the probe of the "http" group. With no targets the
// group is an empty list.
func NewHTTPProbe(targets []HTTPTargetConfig) *HTTPProbe {
	ts := make([]httpTarget, 0, len(targets))
	for _, t := range targets {
		ts = append(ts, httpTarget{name: t.Name, url: t.URL, shown: displayURL(t.URL)})
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Keep a connection per target between ticks: the figure is the
	// target's answer time, not a TCP and TLS handshake every 5 s.
	tr.MaxIdleConnsPerHost = 1
	tr.IdleConnTimeout = 2 * time.Minute
	return &HTTPProbe{
		targets: ts,
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

// check requests one target three times.
func (p *HTTPProbe) check(ctx context.Context, t httpTarget) HTTPTarget {
	started := time.Now()
	res := HTTPTarget{Name: t.name, URL: t.shown}
	var lat [samples]time.Duration
	code := 0
	for i := range lat {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
		if err != nil {
			res.Status, res.Reason = StatusUnavailable, "invalid URL"
			return res
		}
		req.Header.Set("User-Agent", "vitals")
		tt := time.Now()
		resp, err := p.client.Do(req)
		if err == nil {
			// Latency runs to the end of the (bounded) body: a health
			// endpoint that sends headers and then stalls is slow.
			_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
			resp.Body.Close()
			code = resp.StatusCode
		}
		if err != nil {
			res.Status, res.Reason = StatusUnavailable, httpReason(err, deadlineOf(ctx, started))
			return res
		}
		lat[i] = time.Since(tt)
	}
	res.Status = StatusOK
	res.Code = ptr(code)
	res.Healthy = ptr(code >= 200 && code < 400)
	res.LatencyMS = fptr(ms(median(lat[:])))
	return res
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
