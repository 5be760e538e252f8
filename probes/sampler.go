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
	cfg    SamplerConfig
	probes []Probe
	log    *slog.Logger

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
		busy:   make([]atomic.Bool, len(probes)),
		states: make(map[string]groupState),
		done:   make(chan struct{}),
	}
	snap := s.base(time.Now())
	for _, p := range probes {
		setUnavailable(&snap, p, reasonWarmingUp)
	}
	eachGroupState(&snap, func(key string, st Status, reason string) {
		s.states[key] = groupState{st, reason}
	})
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
	for _, g := range groupNames {
		setGroupStatus(&snap, g, StatusNotConfigured, "no probe configured")
	}
	snap.Disk = []Disk{}
	snap.HTTP = []HTTPTarget{}
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
// reported as timed out and whatever they write later is discarded. Start
// calls it on schedule; tests and benchmarks call it directly.
func (s *Sampler) Tick(ctx context.Context) *Rendered {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()

	started := time.Now()
	snap := s.base(started)

	// Each probe writes into its own scratch snapshot; the tick copies the
	// probe's group out only once the probe has returned. A probe that
	// overruns keeps writing into scratch nobody reads again, never into
	// the published snapshot.
	scratch := make([]Snapshot, len(s.probes))
	panics := make([]any, len(s.probes))
	done := make(chan int, len(s.probes))
	skipped := make([]bool, len(s.probes))
	running := 0
	for i, p := range s.probes {
		if !s.busy[i].CompareAndSwap(false, true) {
			skipped[i] = true
			continue
		}
		running++
		go func() {
			pctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
			defer func() {
				cancel()
				if r := recover(); r != nil {
					panics[i] = r
				}
				s.busy[i].Store(false)
				done <- i
			}()
			p.Collect(pctx, &scratch[i])
		}()
	}

	finished := make([]bool, len(s.probes))
	wait := time.NewTimer(s.cfg.Timeout + s.cfg.Grace)
	defer wait.Stop()
collect:
	for running > 0 {
		select {
		case i := <-done:
			running--
			finished[i] = true
		case <-wait.C:
			break collect
		}
	}

	for i, p := range s.probes {
		switch {
		case skipped[i]:
			setUnavailable(&snap, p, timeoutReason(s.cfg.Timeout)+"; previous run still in progress")
		case !finished[i]:
			setUnavailable(&snap, p, timeoutReason(s.cfg.Timeout))
		case panics[i] != nil:
			s.log.Error("probe panicked", slog.String("probe", p.Name()), slog.String("panic", fmt.Sprint(panics[i])))
			setUnavailable(&snap, p, "probe failed unexpectedly")
		case !filled(&scratch[i], p.Name()):
			// A probe that returns without writing its group would
			// publish an empty status; say so instead.
			setUnavailable(&snap, p, "probe reported nothing")
		default:
			if !copyGroup(&snap, &scratch[i], p.Name()) {
				s.log.Warn("probe names no snapshot group", slog.String("probe", p.Name()))
			}
		}
	}
	s.logChanges(&snap)

	r, err := render(snap)
	if err != nil {
		s.log.Error("render snapshot", slog.String("error", err.Error()))
		return s.latest.Load()
	}
	s.latest.Store(r)
	return r
}

// logChanges logs each group whose status or reason differs from the last
// tick's: once when it fails, once when it recovers, not on every tick.
func (s *Sampler) logChanges(snap *Snapshot) {
	eachGroupState(snap, func(key string, st Status, reason string) {
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
		case st == StatusUnavailable:
			s.log.Warn("probe unavailable", attrs...)
		case st == StatusOK && seen && prev.reason != reasonWarmingUp:
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
