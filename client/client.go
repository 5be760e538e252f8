// Package client sends activity events from a Go application to vitals
// (POST /api/v1/events) without slowing the application down.
//
//	c, err := client.New(client.Config{URL: "http://vitals.internal:8080", Token: os.Getenv("VITALS_INGEST_TOKEN")})
//	if err != nil { ... }
//	defer c.Close(context.Background())
//	...
//	err = c.Log(ctx, client.Event{Type: "user_registered", Message: "New user registered", UserEmail: u.Email})
//
// Log checks the event, gives it an idempotency key and the time it
// happened, queues it in a bounded buffer and returns at once: it never
// waits for the network. One goroutine sends the queue in batches, and
// retries a batch that failed (connection refused, timeout, 429, 5xx) with
// exponential backoff, with the same idempotency keys, so that a batch the
// server stored but could not acknowledge is not stored twice. It gives up,
// with one log line, on the answers a retry cannot fix: 400, 401, 403, 404,
// 413 and 415 (vitals' DESIGN.md, "The application side"). Close sends
// what is left and reports every event that had to be dropped: refused by
// Log because the buffer was full, refused by the server as invalid, or
// still unsent when Close's context ran out.
//
// The package uses the standard library only, so importing it costs an
// application nothing else.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults of Config.
const (
	DefaultBufferSize     = 10_000
	DefaultBatchSize      = 100
	DefaultFlushInterval  = 500 * time.Millisecond
	DefaultRequestTimeout = 10 * time.Second
	DefaultMinBackoff     = 200 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

// Limits the server enforces (vitals' README, "API"); Log checks them so
// that a bad event fails at once, in the caller, rather than later in a
// batch.
const (
	// MaxBatchSize is the most events the server takes in one request.
	MaxBatchSize      = 500
	maxTypeLen        = 50
	maxMessageRunes   = 2000
	maxEmailLen       = 255
	maxDetailsBytes   = 16 << 10
	maxKeyLen         = 64
	maxBatchBodyBytes = 1<<20 - 1<<10 // the server's 1 MiB, with room to spare
	maxAnswerBytes    = 4 << 20
)

// Errors Log returns and OnDrop reports. Compare with errors.Is.
var (
	// ErrBufferFull means the buffer held BufferSize events not yet
	// delivered (the server has been unreachable for a while, or is slower
	// than the application); the event was dropped.
	ErrBufferFull = errors.New("vitals client: buffer full, event dropped")
	// ErrClosed means Close was called: Log takes no more events, and
	// events still unsent when Close gave up were dropped.
	ErrClosed = errors.New("vitals client: closed")
	// ErrInvalidEvent means the event breaks one of the server's rules; the
	// error's text names the field.
	ErrInvalidEvent = errors.New("vitals client: invalid event")
)

// Event is one thing that happened in the application.
type Event struct {
	// Type is lower-case letters, digits, '_' and '.', starting with a
	// letter, at most 50 characters: "user_registered".
	Type string
	// Message is what happened, for people: 1 to 2000 characters.
	Message string
	// UserEmail is the user concerned, if any.
	UserEmail string
	// Details is anything that encodes to a JSON object (a map or a
	// struct) of at most 16 KiB; nil for none. Log encodes it at once, so
	// the caller may change it afterwards.
	Details any
	// IdempotencyKey makes delivery exactly-once: the server stores one
	// event per key and answers a repeat with the stored one. Log makes a
	// random key when it is empty; set it when the application itself may
	// log the same event twice (at most 64 characters).
	IdempotencyKey string
	// OccurredAt is when it happened; Log sets it to now when zero, so a
	// delayed delivery keeps the real time.
	OccurredAt time.Time
}

// Config configures a Client. URL and Token are required; zero fields take
// the defaults above.
type Config struct {
	// URL is vitals' base URL, e.g. "https://vitals.internal:8080".
	URL string
	// Token is an ingest token (VITALS_INGEST_TOKEN on the server).
	Token string
	// HTTPClient sends the requests; nil uses a client of its own.
	HTTPClient *http.Client
	// BufferSize bounds the events held (queued or being sent); Log drops
	// an event, with ErrBufferFull, rather than let the buffer grow.
	BufferSize int
	// BatchSize is the most events sent in one request (at most 500).
	BatchSize int
	// FlushInterval is how long an event may wait for others to fill a
	// batch before it is sent anyway.
	FlushInterval time.Duration
	// RequestTimeout bounds one request; a server that hangs costs this
	// much, then the batch is retried.
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a batch:
	// it doubles from MinBackoff up to MaxBackoff, with jitter, and a
	// longer Retry-After from the server is honoured up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// OnDrop, when set, is told about every event dropped, with the reason
	// (ErrBufferFull, ErrClosed or a *RejectedError). It is called without
	// locks held, from Log (buffer full) or from the sending goroutine,
	// and should return quickly.
	OnDrop func(events []Event, reason error)
	// OnRetry, when set, is told about every failed attempt that will be
	// retried and how long the client waits first (for logging).
	OnRetry func(err error, wait time.Duration)
	// Logger gets the one line written when the server refuses events for
	// good (a bad event, a wrong token or URL); nil uses slog.Default().
	Logger *slog.Logger
	// TimingsInterval is how often Middleware's request timings are
	// posted (DefaultTimingsInterval when zero).
	TimingsInterval time.Duration
}

// Stats counts what a Client has done since New.
type Stats struct {
	// Logged counts events Log accepted into the buffer.
	Logged uint64
	// Sent counts events the server acknowledged (stored now, or found
	// already stored under their idempotency key).
	Sent uint64
	// Pending counts events buffered or in flight.
	Pending int
	// Retries counts requests repeated after a failure.
	Retries uint64
	// DroppedFull counts events Log refused because the buffer was full.
	DroppedFull uint64
	// DroppedRejected counts events the server refused as invalid.
	DroppedRejected uint64
	// DroppedUnsent counts events still unsent when Close gave up.
	DroppedUnsent uint64
	// LastError is the last failure of a request, nil after a success.
	LastError error
}

// Dropped is the number of events that will never be delivered.
func (s Stats) Dropped() uint64 { return s.DroppedFull + s.DroppedRejected + s.DroppedUnsent }

// DropError is what Close returns when any event was dropped over the
// client's life; Stats says how many and why.
type DropError struct {
	Stats Stats
}

func (e *DropError) Error() string {
	msg := fmt.Sprintf("vitals client: %d event(s) dropped (%d buffer full, %d rejected by the server, %d unsent at close)",
		e.Stats.Dropped(), e.Stats.DroppedFull, e.Stats.DroppedRejected, e.Stats.DroppedUnsent)
	if e.Stats.LastError != nil {
		msg += "; last error: " + e.Stats.LastError.Error()
	}
	return msg
}

// FieldError is one field the server found invalid.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// RejectedError is the server's refusal of an event for good: 400 (the
// event is invalid), 401 or 403 (the token is wrong), 404 (the URL is not
// vitals' API), 413 (too large) or 415; retrying would not help.
type RejectedError struct {
	Status int
	Detail string
	Errors []FieldError
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vitals client: the server refused the event (%d)", e.Status)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for _, f := range e.Errors {
		b.WriteString("; " + f.Field + " " + f.Message)
	}
	return b.String()
}

// StatusError is an answer of the server that the client retries (408,
// 429, 5xx and every other status but the refusals RejectedError
// describes), as OnRetry and Stats.LastError report it.
type StatusError struct {
	// StatusCode is the HTTP status, e.g. 401.
	StatusCode int
	// Status is the status line's text, e.g. "401 Unauthorized".
	Status string
	// Detail is the server's explanation (the problem's detail), if any.
	Detail string
}

func (e *StatusError) Error() string {
	if e.Detail != "" {
		return "vitals client: post events: " + e.Status + ": " + e.Detail
	}
	return "vitals client: post events: " + e.Status
}

// Client buffers events and sends them in the background. It is safe for
// concurrent use. Close it to deliver what is buffered.
type Client struct {
	cfg        Config
	endpoint   string
	timingsURL string
	http       *http.Client
	timings    timings

	mu       sync.Mutex
	pending  []item // queued, oldest first
	inflight int    // events taken by the sender and not yet resolved
	closing  bool
	flushes  int // Flush calls waiting: send without waiting to fill a batch
	nextSeq  uint64
	// doneSeq: every event logged before it has been acknowledged or
	// dropped. progress is closed and replaced whenever it advances.
	doneSeq  uint64
	progress chan struct{}
	stats    Stats

	wake      chan struct{}
	abortCtx  context.Context
	abort     context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// item is one queued event, encoded once by Log.
type item struct {
	seq    uint64
	logged time.Time
	body   []byte
	ev     Event
}

// New checks cfg and starts the sending goroutine.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("vitals client: Config.URL is required")
	}
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, errors.New("vitals client: Config.URL must start with http:// or https://")
	}
	if cfg.Token == "" {
		return nil, errors.New("vitals client: Config.Token (an ingest token) is required")
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	cfg.BatchSize = min(cfg.BatchSize, MaxBatchSize)
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.TimingsInterval <= 0 {
		cfg.TimingsInterval = DefaultTimingsInterval
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	c := &Client{
		cfg:        cfg,
		endpoint:   strings.TrimRight(cfg.URL, "/") + "/api/v1/events",
		timingsURL: strings.TrimRight(cfg.URL, "/") + "/api/v1/timings",
		http:       hc,
		progress:   make(chan struct{}),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	c.abortCtx, c.abort = context.WithCancel(context.Background())
	go c.run()
	return c, nil
}

// Log queues ev for sending and returns at once. It returns an error
// wrapping ErrInvalidEvent for an event the server would refuse,
// ErrBufferFull when the buffer is full (the event is dropped and counted),
// ErrClosed after Close, or ctx's error when ctx is already done.
func (c *Client) Log(ctx context.Context, ev Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	body, ev, err := encode(ev, time.Now())
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	if len(c.pending)+c.inflight >= c.cfg.BufferSize {
		c.stats.DroppedFull++
		c.mu.Unlock()
		c.reportDrop([]item{{ev: ev}}, ErrBufferFull)
		return ErrBufferFull
	}
	c.pending = append(c.pending, item{seq: c.nextSeq, logged: time.Now(), body: body, ev: ev})
	c.nextSeq++
	c.stats.Logged++
	n := len(c.pending)
	c.mu.Unlock()
	if n == 1 || n >= c.cfg.BatchSize {
		c.signal()
	}
	return nil
}

// Flush sends what is buffered without waiting to fill a batch, and
// returns once every event logged before the call has been acknowledged
// or dropped, or with ctx's error when ctx ends first (the events stay
// buffered).
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.nextSeq
	c.flushes++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.flushes--
		c.mu.Unlock()
	}()
	c.signal()
	for {
		c.mu.Lock()
		if c.doneSeq >= target {
			c.mu.Unlock()
			return nil
		}
		ch := c.progress
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops taking events, sends what is buffered (retrying as usual)
// until it is all delivered or ctx ends, and drops the rest. It returns a
// *DropError when any event was dropped over the client's life, else nil.
// Later calls return the same.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		c.signal()
		select {
		case <-c.done:
		case <-ctx.Done():
			c.abort()
			<-c.done
		}
		c.abort()
		c.mu.Lock()
		rest := c.pending
		c.pending = nil
		c.stats.DroppedUnsent += uint64(len(rest))
		last := c.stats.LastError
		c.advance(c.nextSeq)
		c.mu.Unlock()
		if len(rest) > 0 {
			c.reportDrop(rest, unsentReason(last))
		}
		if st := c.Stats(); st.Dropped() > 0 {
			c.closeErr = &DropError{Stats: st}
		}
	})
	return c.closeErr
}

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Pending = len(c.pending) + c.inflight
	return s
}

func unsentReason(last error) error {
	if last == nil {
		return fmt.Errorf("%w before the event could be sent", ErrClosed)
	}
	return fmt.Errorf("%w before the event could be delivered (last error: %v)", ErrClosed, last)
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// advance moves the done mark to seq and wakes Flush; c.mu is held.
func (c *Client) advance(seq uint64) {
	if seq > c.doneSeq {
		c.doneSeq = seq
		close(c.progress)
		c.progress = make(chan struct{})
	}
}

// run is the sending goroutine: one batch in flight at a time, so events
// arrive in the order they were logged.
func (c *Client) run() {
	defer close(c.done)
	for {
		batch := c.nextBatch()
		if batch == nil {
			return
		}
		unsent := c.deliver(batch, 0)
		c.mu.Lock()
		c.inflight -= len(unsent)
		c.stats.DroppedUnsent += uint64(len(unsent))
		last := c.stats.LastError
		c.advance(batch[len(batch)-1].seq + 1)
		c.mu.Unlock()
		if len(unsent) > 0 {
			c.reportDrop(unsent, unsentReason(last))
			return
		}
	}
}

// nextBatch waits for a batch worth sending: a full one, one whose oldest
// event has waited FlushInterval, or whatever there is when flushing or
// closing. It returns nil when the client is closed and empty, or aborted.
func (c *Client) nextBatch() []item {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		n := len(c.pending)
		if n > 0 && c.batchDueLocked() {
			batch := c.takeLocked()
			c.mu.Unlock()
			return batch
		}
		if n == 0 && c.closing {
			c.mu.Unlock()
			return nil
		}
		var wait <-chan time.Time
		if n > 0 {
			d := c.cfg.FlushInterval - time.Since(c.pending[0].logged)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			wait = timer.C
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-wait:
		case <-c.abortCtx.Done():
			return nil
		}
	}
}

// batchDueLocked reports whether the pending events should go now: a full
// batch, a flush or close asked for, or the oldest has waited long enough.
// c.mu is held and pending is not empty.
func (c *Client) batchDueLocked() bool {
	return len(c.pending) >= c.cfg.BatchSize || c.closing || c.flushes > 0 ||
		time.Since(c.pending[0].logged) >= c.cfg.FlushInterval
}

// takeLocked moves the oldest pending events, as many as fit in one batch
// by count and bytes, to in flight. c.mu is held.
func (c *Client) takeLocked() []item {
	take, size := 0, 2
	for take < len(c.pending) && take < c.cfg.BatchSize {
		size += len(c.pending[take].body) + 1
		if take > 0 && size > maxBatchBodyBytes {
			break
		}
		take++
	}
	batch := make([]item, take)
	copy(batch, c.pending)
	clear(c.pending[:take]) // let the sent bodies be collected
	c.pending = c.pending[take:]
	c.inflight += take
	return batch
}

// outcome is what one request came to.
type outcome int

const (
	sent outcome = iota
	retry
	rejected
	tooLarge
)

// answer is one request's outcome with what the client needs to act on it.
type answer struct {
	out outcome
	// wait is the server's Retry-After, if any.
	wait time.Duration
	// err is why a request to retry failed.
	err error
	// rej is the server's refusal, for rejected and tooLarge.
	rej *rejection
}

// deliver sends batch until every event in it is acknowledged or
// rejected, and returns the events left unsent when the client was
// aborted. attempt counts the failures so far, for the backoff.
func (c *Client) deliver(batch []item, attempt int) (unsent []item) {
	for {
		a := c.post(batch)
		switch a.out {
		case sent:
			c.mu.Lock()
			c.inflight -= len(batch)
			c.stats.Sent += uint64(len(batch))
			c.stats.LastError = nil
			c.mu.Unlock()
			return nil
		case tooLarge:
			if len(batch) > 1 {
				h := len(batch) / 2
				if rest := c.deliver(batch[:h], attempt); rest != nil {
					return append(rest, batch[h:]...)
				}
				return c.deliver(batch[h:], attempt)
			}
			c.logRefusal(a.rej, batch[:1])
			c.reject(batch[0], a.rej.errorFor(0))
			return nil
		case rejected:
			// A batch is stored all or none: resend the events the server
			// did not name.
			named := a.rej.names(len(batch))
			var good, bad []item
			var reasons []error
			for i, it := range batch {
				if named(i) {
					bad = append(bad, it)
					reasons = append(reasons, a.rej.errorFor(i))
				} else {
					good = append(good, it)
				}
			}
			c.logRefusal(a.rej, bad)
			for i, it := range bad {
				c.reject(it, reasons[i])
			}
			if len(good) == 0 {
				return nil
			}
			batch = good
			continue
		}
		if c.abortCtx.Err() != nil {
			return batch
		}
		attempt++
		d := backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, attempt)
		if a.wait > d {
			d = min(a.wait, c.cfg.MaxBackoff)
		}
		c.mu.Lock()
		c.stats.Retries++
		c.stats.LastError = a.err
		c.mu.Unlock()
		if c.cfg.OnRetry != nil {
			c.cfg.OnRetry(a.err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.abortCtx.Done():
			t.Stop()
			return batch
		}
	}
}

// rejection is a refusal as the server worded it (RFC 9457 problem
// details), with the field errors of each event it named.
type rejection struct {
	status int
	detail string
	// byIndex maps a position in the batch to its field errors.
	byIndex map[int][]FieldError
	// general holds errors that name no event.
	general []FieldError
}

// names returns whether the event at a position was named by the server.
// When it named none, or a position outside the batch, every event counts
// as named: the server stored none and said nothing about which is bad.
func (r *rejection) names(n int) func(int) bool {
	all := func(int) bool { return true }
	if len(r.byIndex) == 0 {
		return all
	}
	for i := range r.byIndex {
		if i < 0 || i >= n {
			return all
		}
	}
	return func(i int) bool { _, ok := r.byIndex[i]; return ok }
}

// errorFor is the error reported for the event at position i.
func (r *rejection) errorFor(i int) error {
	errs := append(append([]FieldError(nil), r.general...), r.byIndex[i]...)
	return &RejectedError{Status: r.status, Detail: r.detail, Errors: errs}
}

// logRefusal writes the one line for events the server refused for good.
func (c *Client) logRefusal(r *rejection, items []item) {
	types := make([]string, 0, len(items))
	for _, it := range items {
		if !slices.Contains(types, it.ev.Type) {
			types = append(types, it.ev.Type)
		}
	}
	c.logger().Warn("vitals client: the server refused events; not retried",
		slog.Int("status", r.status), slog.Int("events", len(items)),
		slog.String("types", strings.Join(types, ",")), slog.String("detail", r.detail))
}

func (c *Client) reject(it item, reason error) {
	c.mu.Lock()
	c.inflight--
	c.stats.DroppedRejected++
	c.mu.Unlock()
	c.reportDrop([]item{it}, reason)
}

func (c *Client) reportDrop(items []item, reason error) {
	if c.cfg.OnDrop == nil || len(items) == 0 {
		return
	}
	evs := make([]Event, len(items))
	for i, it := range items {
		evs[i] = it.ev
	}
	c.cfg.OnDrop(evs, reason)
}

// post sends one batch and classifies the answer.
func (c *Client) post(batch []item) answer {
	var body bytes.Buffer
	body.WriteByte('[')
	for i, it := range batch {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(it.body)
	}
	body.WriteByte(']')

	ctx, cancel := context.WithTimeout(c.abortCtx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.postJSON(ctx, c.endpoint, &body)
	if err != nil {
		return answer{out: retry, err: fmt.Errorf("vitals client: post events: %w", err)}
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		// The server may have stored the batch; the retry carries the same
		// idempotency keys, so it will not be stored twice.
		return answer{out: retry, err: fmt.Errorf("vitals client: read answer: %w", err)}
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK || code == http.StatusCreated:
		if err := checkStored(text, len(batch)); err != nil {
			return answer{out: retry, err: err}
		}
		return answer{out: sent}
	case code == http.StatusRequestEntityTooLarge:
		// Unlike the other final answers, a smaller batch may pass.
		return answer{out: tooLarge, rej: parseProblem(code, text)}
	case refusedForGood(code):
		// A wrong token or URL is as final as a bad event: retrying them
		// until Close would hold the buffer and hide the mistake.
		return answer{out: rejected, rej: parseProblem(code, text)}
	default:
		// 408, 429, 5xx and anything unexpected: the server may recover;
		// keep the events.
		err := &StatusError{StatusCode: code, Status: resp.Status, Detail: parseProblem(code, text).detail}
		return answer{out: retry, wait: retryAfter(resp.Header.Get("Retry-After"), time.Now()), err: err}
	}
}

// postJSON sends one authenticated JSON body to url: events and request
// timings share it, so both carry the same headers.
func (c *Client) postJSON(ctx context.Context, url string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("User-Agent", "vitals-go-client")
	return c.http.Do(req)
}

// checkStored makes sure a 2xx answer is vitals' acknowledgement of n
// events, not a page from something else at the URL (which would lose
// the events silently).
func checkStored(text []byte, n int) error {
	var doc struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(text, &doc); err != nil || len(doc.Events) != n {
		return fmt.Errorf("vitals client: the answer is not an acknowledgement of %d event(s); is Config.URL vitals?", n)
	}
	return nil
}

func parseProblem(status int, text []byte) *rejection {
	var p struct {
		Detail string `json:"detail"`
		Errors []struct {
			Index   *int   `json:"index"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	rej := &rejection{status: status}
	if json.Unmarshal(text, &p) != nil {
		return rej
	}
	rej.detail = p.Detail
	for _, e := range p.Errors {
		fe := FieldError{Field: e.Field, Message: e.Message}
		if e.Index == nil {
			rej.general = append(rej.general, fe)
			continue
		}
		if rej.byIndex == nil {
			rej.byIndex = map[int][]FieldError{}
		}
		rej.byIndex[*e.Index] = append(rej.byIndex[*e.Index], fe)
	}
	return rej
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the wait before the attempt-th retry: doubling from lo,
// capped at hi, then drawn from its upper half so that clients that
// failed together do not retry together.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + time.Duration(mathrand.Int64N(int64(d/2)+1))
}

// wireEvent is an event as the server takes it.
type wireEvent struct {
	Type           string          `json:"type"`
	Message        string          `json:"message"`
	UserEmail      string          `json:"user_email,omitempty"`
	Details        json.RawMessage `json:"details,omitempty"`
	IdempotencyKey string          `json:"idempotency_key"`
	OccurredAt     string          `json:"occurred_at"`
}

// encode checks ev against the server's rules, fills in the key and the
// time, and returns its JSON with the event as completed.
func encode(ev Event, now time.Time) ([]byte, Event, error) {
	if field, msg := checkText(ev); msg != "" {
		return nil, ev, invalid(field, msg)
	}
	w := wireEvent{Type: ev.Type, Message: ev.Message, UserEmail: ev.UserEmail}
	if ev.Details != nil {
		d, msg := encodeDetails(ev.Details)
		if msg != "" {
			return nil, ev, invalid("details", msg)
		}
		w.Details = d
	}
	if ev.IdempotencyKey == "" {
		ev.IdempotencyKey = rand.Text() // 128 random bits, 26 characters
	} else if !utf8.ValidString(ev.IdempotencyKey) || utf8.RuneCountInString(ev.IdempotencyKey) > maxKeyLen ||
		strings.ContainsFunc(ev.IdempotencyKey, unicode.IsControl) {
		return nil, ev, invalid("idempotency_key", fmt.Sprintf("must be at most %d characters of valid UTF-8, without control characters", maxKeyLen))
	}
	w.IdempotencyKey = ev.IdempotencyKey
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now
	}
	w.OccurredAt = ev.OccurredAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	body, err := json.Marshal(w)
	if err != nil {
		return nil, ev, fmt.Errorf("vitals client: encode event: %w", err)
	}
	return body, ev, nil
}

func invalid(field, msg string) error { return fmt.Errorf("%w: %s %s", ErrInvalidEvent, field, msg) }

// checkText judges the type, the message and the email as the server
// would; it returns the wrong field and why, or an empty message.
func checkText(ev Event) (field, msg string) {
	switch {
	case ev.Type == "":
		return "type", "is required"
	case len(ev.Type) > maxTypeLen:
		return "type", fmt.Sprintf("is longer than %d characters", maxTypeLen)
	case !typeShaped(ev.Type):
		return "type", "must be lower-case letters, digits, '_' and '.', starting with a letter"
	case ev.Message == "":
		return "message", "is required"
	case !utf8.ValidString(ev.Message):
		return "message", "is not valid UTF-8"
	case utf8.RuneCountInString(ev.Message) > maxMessageRunes:
		return "message", fmt.Sprintf("is longer than %d characters", maxMessageRunes)
	case strings.ContainsRune(ev.Message, 0):
		return "message", "must not contain NUL characters"
	case ev.UserEmail == "":
		return "", ""
	case len(ev.UserEmail) > maxEmailLen:
		return "user_email", fmt.Sprintf("is longer than %d characters", maxEmailLen)
	case !emailShaped(ev.UserEmail):
		return "user_email", "is not an email address (like name@example.com)"
	}
	return "", ""
}

// encodeDetails marshals details, which must come out as a JSON object
// within the server's size; nil for JSON null.
func encodeDetails(details any) (json.RawMessage, string) {
	d, err := json.Marshal(details)
	if err != nil {
		return nil, "cannot be encoded as JSON: " + err.Error()
	}
	d = bytes.TrimSpace(d)
	switch {
	case string(d) == "null":
		return nil, ""
	case len(d) == 0 || d[0] != '{':
		return nil, "must encode to a JSON object (a map or a struct)"
	case len(d) > maxDetailsBytes:
		return nil, fmt.Sprintf("is larger than %d bytes", maxDetailsBytes)
	}
	return d, ""
}

// typeShaped is the server's ^[a-z][a-z0-9_.]*$.
func typeShaped(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// emailShaped is the server's rule: a bare address with a local part, an
// @ and a domain with a dot.
func emailShaped(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " \t\r\n")
}
