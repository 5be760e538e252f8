package probes

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of SamplerConfig.
const (
	DefaultInterval   = 5 * time.Second
	DefaultTimeout    = 2 * time.Second
	DefaultPrimeDelay = 250 * time.Millisecond
	DefaultGrace      = 100 * time.Millisecond
)

// SamplerConfig configures a Sampler. Zero fields take the defaults above.
type SamplerConfig struct {
	// Interval is the time between ticks.
	Interval time.Duration
	// Timeout bounds each probe of a tick; a probe still running then is
	// reported unavailable ("timeout after 2s") and its result discarded.
	Timeout time.Duration
	// Grace is how long past Timeout a tick waits for probes that do not
	// honour their context before it publishes without them.
	Grace time.Duration
	// PrimeDelay is the time between the first two ticks, so that delta
	// figures (CPU %, network rates) are known this soon after Start
	// rather than one full interval later.
	PrimeDelay time.Duration
	// Instance names this process in every snapshot; see InstanceFromEnv.
	Instance Instance
	// Logger receives one line per change of a group's state; nil
	// discards.
	Logger *slog.Logger
	// Thresholds judge every snapshot into each group's state; the zero
	// value means DefaultThresholds.
	Thresholds Thresholds
}

// InstanceFromEnv returns the instance identity on Fly.io (FLY_MACHINE_ID,
// FLY_REGION) or, elsewhere, the host name. getenv is passed in (usually
// os.Getenv) so that nothing reads the environment behind main's back.
func InstanceFromEnv(getenv func(string) string) Instance {
	id := getenv("FLY_MACHINE_ID")
	if id == "" {
		id, _ = os.Hostname()
	}
	return Instance{ID: id, Region: getenv("FLY_REGION")}
}

// Rendered is one published snapshot together with its JSON encoding,
// rendered once per tick so that handlers serve the bytes as they are.
// Both are shared by every reader and must not be modified.
type Rendered struct {
	Snapshot Snapshot
	JSON     []byte
}

// Sampler runs probes every interval and keeps the latest snapshot. Latest
// is safe for any number of concurrent readers and never does I/O.
type Sampler struct {
	// reads are the probes' reads in flight, those that overran their
	// tick included; Wait waits for them.
	reads  sync.WaitGroup
	cfg    SamplerConfig
	probes []Probe
	log    *slog.Logger
	// groups is the group list (Groups), byName indexes it; both are
	// read-only after NewSampler.
	groups []Group
	byName map[string]*Group

	latest atomic.Pointer[Rendered]

	// tickMu serialises ticks, so that a probe's Collect never runs twice
	// at once from two ticks and states is touched by one tick at a time.
	tickMu sync.Mutex
	// busy[i] is set while probes[i] runs; a probe that overran its
	// timeout is not started again until it returns, so a hung source
	// costs one goroutine, not one per tick.
	busy   []atomic.Bool
	states map[string]groupState

	startOnce sync.Once
	started   atomic.Bool
	done      chan struct{}
}

// groupState is what the Sampler last logged for one group or entry.
type groupState struct {
	status Status
	reason string
}

// NewSampler returns a Sampler over probes whose Latest is already a
// snapshot in which every probe's group is unavailable, "warming up".
// Groups no probe fills are not_configured.
func NewSampler(cfg SamplerConfig, probes ...Probe) *Sampler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Thresholds == (Thresholds{}) {
		cfg.Thresholds = DefaultThresholds()
	}
	if cfg.PrimeDelay <= 0 {
		cfg.PrimeDelay = DefaultPrimeDelay
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sampler{
		cfg:    cfg,
		probes: probes,
		log:    log,
		groups: Groups(),
		busy:   make([]atomic.Bool, len(probes)),
		states: make(map[string]groupState),
		done:   make(chan struct{}),
	}
	s.byName = make(map[string]*Group, len(s.groups))
	for i := range s.groups {
		s.byName[s.groups[i].Name] = &s.groups[i]
	}
	snap := s.base(time.Now())
	for _, p := range probes {
		s.setUnavailable(&snap, p, reasonWarmingUp)
	}
	eachState(s.groups, &snap, func(key string, st Status, reason string) {
		s.states[key] = groupState{st, reason}
	})
	snap.Assess(s.cfg.Thresholds)
	r, err := render(snap)
	if err != nil {
		// Cannot happen with the types above (numbers go through fptr);
		// publish a valid document rather than nil.
		r = &Rendered{Snapshot: snap, JSON: []byte(`{}`)}
	}
	s.latest.Store(r)
	return s
}

// base returns a snapshot taken at t in which every group is
// not_configured, to be overwritten by the probes that own them.
func (s *Sampler) base(t time.Time) Snapshot {
	snap := Snapshot{
		CollectedAt: t.UTC().Truncate(time.Millisecond),
		Instance:    s.cfg.Instance,
	}
	for _, g := range s.groups {
		g.Blank(StatusNotConfigured, "no probe configured").Place(&snap)
	}
	return snap
}

// Latest returns the most recent snapshot. It is never nil.
func (s *Sampler) Latest() *Rendered { return s.latest.Load() }

// Start runs ticks in the background until ctx is cancelled: one at once,
// the next PrimeDelay later, then one every Interval. Calls after the first
// do nothing.
func (s *Sampler) Start(ctx context.Context) {
	s.startOnce.Do(func() {
		s.started.Store(true)
		go s.run(ctx)
	})
}

// Wait blocks until the loop begun by Start has returned after its context
// was cancelled; it returns at once if Start was never called.
func (s *Sampler) Wait() {
	if s.started.Load() {
		<-s.done
	}
	// Reads that overran a tick are awaited too: each ends with its
	// context, cancelled with the sampler's.
	s.reads.Wait()
}

func (s *Sampler) run(ctx context.Context) {
	defer close(s.done)
	first := time.Now()
	s.Tick(ctx)
	prime := time.NewTimer(time.Until(first.Add(s.cfg.PrimeDelay)))
	select {
	case <-ctx.Done():
		prime.Stop()
		return
	case <-prime.C:
	}
	s.Tick(ctx)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Tick(ctx)
		}
	}
}

// Tick runs every probe now, concurrently, publishes the result and returns
// it. It waits at most Timeout + Grace; probes still running then are
// reported as timed out and whatever they return later is discarded. Start
// calls it on schedule; tests and benchmarks call it directly.
func (s *Sampler) Tick(ctx context.Context) *Rendered {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()

	started := time.Now()
	snap := s.base(started)
	for i, o := range s.run1(ctx) {
		s.place(&snap, s.probes[i], o)
	}
	s.logChanges(&snap)

	snap.Assess(s.cfg.Thresholds)
	r, err := render(snap)
	if err != nil {
		s.log.Error("render snapshot", slog.String("error", err.Error()))
		return s.latest.Load()
	}
	s.latest.Store(r)
	return r
}

// outcome is how one probe's run of a tick ended.
type outcome struct {
	skipped  bool // still running from an earlier tick: not started
	finished bool
	panicked any
	result   Result
}

// run1 runs every probe that is not still busy, each in its own goroutine
// under Timeout, and waits for them at most Timeout + Grace. A probe that
// overruns keeps its goroutine, but what it returns lands in an outcome
// nobody reads again, never in the published snapshot.
func (s *Sampler) run1(ctx context.Context) []outcome {
	out := make([]outcome, len(s.probes))
	results := make([]outcome, len(s.probes))
	done := make(chan int, len(s.probes))
	running := 0
	for i, p := range s.probes {
		if !s.busy[i].CompareAndSwap(false, true) {
			out[i].skipped = true
			continue
		}
		running++
		s.reads.Add(1)
		go func() {
			defer s.reads.Done()
			pctx, cancel := context.WithTimeout(ctx, s.timeout(p))
			defer func() {
				cancel()
				if r := recover(); r != nil {
					results[i].panicked = r
				}
				s.busy[i].Store(false)
				done <- i
			}()
			results[i].result = p.Read(pctx)
		}()
	}
	wait := time.NewTimer(s.longest() + s.cfg.Grace)
	defer wait.Stop()
	for running > 0 {
		select {
		case i := <-done:
			running--
			// results[i] is complete: its goroutine wrote it before done.
			out[i] = results[i]
			out[i].finished = true
		case <-wait.C:
			return out
		}
	}
	return out
}

// place puts what p's run ended with into snap: its result, or its group
// marked unavailable with why there is none.
// Budgeted is implemented by a probe that needs its own time budget
// rather than the sampler's probe timeout: the HTTP probe, whose requests
// each have VITALS_HTTP_TIMEOUT, above the critical latency, so that a slow
// target is measured rather than timed out.
type Budgeted interface {
	Budget() time.Duration
}

// timeout is p's budget: its own when it has one, else the sampler's.
func (s *Sampler) timeout(p Probe) time.Duration {
	if b, ok := p.(Budgeted); ok && b.Budget() > 0 {
		return b.Budget()
	}
	return s.cfg.Timeout
}

// longest is the longest budget of any probe: how long a tick waits.
func (s *Sampler) longest() time.Duration {
	d := s.cfg.Timeout
	for _, p := range s.probes {
		d = max(d, s.timeout(p))
	}
	return d
}

func (s *Sampler) place(snap *Snapshot, p Probe, o outcome) {
	switch {
	case o.skipped:
		s.setUnavailable(snap, p, timeoutReason(s.timeout(p))+"; "+reasonStillRunning)
	case !o.finished:
		s.setUnavailable(snap, p, timeoutReason(s.timeout(p)))
	case o.panicked != nil:
		s.log.Error("probe panicked", slog.String("probe", p.Name()), slog.String("panic", fmt.Sprint(o.panicked)))
		s.setUnavailable(snap, p, "probe failed unexpectedly")
	case s.byName[p.Name()] == nil:
		s.log.Warn("probe names no snapshot group", slog.String("probe", p.Name()))
	case o.result == nil || !s.reported(o.result):
		// A probe that returns without a reading would publish an empty
		// status; say so instead.
		s.setUnavailable(snap, p, "probe reported nothing")
	case o.result.Group() != p.Name():
		s.log.Error("probe returned another group", slog.String("probe", p.Name()), slog.String("group", o.result.Group()))
		s.setUnavailable(snap, p, "probe reported the "+o.result.Group()+" group")
	default:
		o.result.Place(snap)
	}
}

// reported tells whether r carries a reading: every entry it has has a
// status (a keyed group may have no entries, e.g. no HTTP targets).
func (s *Sampler) reported(r Result) bool {
	g := s.byName[r.Group()]
	if g == nil {
		return true // the group check reports it
	}
	var one Snapshot
	r.Place(&one)
	for _, st := range g.Entries(&one) {
		if st.Status == "" {
			return false
		}
	}
	return true
}

// setUnavailable marks the group p owns as unavailable with reason, with
// every number null, keeping what p knows without I/O (Placeholder).
// A name that is no group is ignored: there is nothing to mark.
func (s *Sampler) setUnavailable(snap *Snapshot, p Probe, reason string) {
	if ph, ok := p.(Placeholder); ok {
		ph.Unavailable(reason).Place(snap)
		return
	}
	if g := s.byName[p.Name()]; g != nil {
		g.Blank(StatusUnavailable, reason).Place(snap)
	}
}

// eachState calls fn with a log key, status and reason for every group,
// entry and part of snap ("cpu", "disk /data", "database connections"),
// so that the Sampler can log changes of state per entry.
func eachState(groups []Group, snap *Snapshot, fn func(key string, st Status, reason string)) {
	for i := range groups {
		g := &groups[i]
		g.States(snap, func(st State) { fn(st.logKey(g.Keyed()), st.Status, st.Reason) })
	}
}

// logChanges logs each group whose status or reason differs from the last
// tick's: once when it fails, once when it recovers, not on every tick.
func (s *Sampler) logChanges(snap *Snapshot) {
	eachState(s.groups, snap, func(key string, st Status, reason string) {
		prev, seen := s.states[key]
		cur := groupState{st, reason}
		if seen && prev == cur {
			return
		}
		s.states[key] = cur
		attrs := []any{slog.String("group", key), slog.String("status", string(st))}
		if reason != "" {
			attrs = append(attrs, slog.String("reason", reason))
		}
		switch {
		case st == StatusUnavailable && reason == ReasonStarting:
			// The application beside vitals is still starting: not an
			// outage, so no WARN on every start (issue 15).
			s.log.Info("probe waiting for its target", attrs...)
		case st == StatusUnavailable:
			s.log.Warn("probe unavailable", attrs...)
		case st == StatusOK && seen && prev.reason != reasonWarmingUp && prev.reason != ReasonStarting:
			s.log.Info("probe recovered", attrs...)
		case st != StatusOK:
			s.log.Info("probe state", attrs...)
		}
	})
}

// render encodes snap once for every reader of this tick.
func render(snap Snapshot) (*Rendered, error) {
	b, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("probes: render snapshot: %w", err)
	}
	return &Rendered{Snapshot: snap, JSON: b}, nil
}
