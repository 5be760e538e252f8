package alerts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

// Phase is where one alert is.
type Phase string

// The phases of an alert. Resolved is inactive after having fired.
const (
	PhaseInactive Phase = "inactive"
	PhasePending  Phase = "pending"
	PhaseFiring   Phase = "firing"
	PhaseResolved Phase = "resolved"
)

// The feed's event types for the transitions.
const (
	TypeFiring   = "alert.firing"
	TypeResolved = "alert.resolved"
)

// stateKey is the setting the alerts' state is kept under.
const stateKey = "alerts.state"

// Alert is one rule on one series (a rule over disk[*] has one per disk).
type Alert struct {
	Rule   string `json:"rule"`
	Series string `json:"series"`
	Phase  Phase  `json:"phase"`
	// Since is when the alert entered its phase.
	Since time.Time `json:"since"`
	// Value is the figure that made it pending or fire (a count for
	// count(), the seconds of silence for absent()); nil for a state rule.
	Value *float64 `json:"value"`
	// Level is the state that made a state rule fire.
	Level probes.Level `json:"level,omitempty"`
	// FiredAt is when it last fired, for the resolution's event.
	FiredAt time.Time `json:"fired_at,omitzero"`
	// Unsent is a transition whose feed event is not stored yet; it is
	// written again every tick, under the same idempotency key, until it is.
	Unsent Phase `json:"unsent,omitempty"`
	// clearSince is when the clear condition began to hold (not kept: a
	// restart starts the minute again, which only delays a resolution).
	clearSince time.Time
}

func (a *Alert) id() string { return a.Rule + " " + a.Series }

// Store is what the engine needs of the store: its settings (the state),
// and the feed (the transitions' events, and the events absent() and
// count() look at).
type Store interface {
	Setting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error
	InsertEvents(ctx context.Context, events []storage.NewEvent) ([]storage.Event, error)
	ListEvents(ctx context.Context, f storage.EventFilter) ([]storage.Event, error)
	EnqueueNotifications(ctx context.Context, ns []storage.Notification) error
}

// Config is an Engine's parts.
type Config struct {
	Rules []Rule
	Store Store
	Log   *slog.Logger
	// Now is the clock (time.Now when nil); tests give a fake one.
	Now func() time.Time
	// Shared, when set, says whether this instance evaluates the fleet's
	// shared rules now (it holds the lease); nil means it always does.
	Shared func() bool
	// Channels are the IDs of the channels each transition is sent to
	// (notify.Channel.ID); none, transitions reach only the feed.
	Channels []string
	// Instance names this instance: its own rules' state is kept under a
	// key of its own, the shared rules' under one key for the fleet.
	Instance string
	// Spool, when set, takes a transition the store cannot: its event and
	// notifications are appended to it, delivered from it, and recorded in
	// the store when it answers again (notify.Spool).
	Spool Spooler
}

// Spooler is the local spool (*notify.Spool is one).
type Spooler interface {
	Add(ev storage.NewEvent, ns []storage.Notification) error
	Replay(ctx context.Context, st storage.TransitionStore) error
}

// Engine evaluates the rules; Tick is called once per sample tick.
type Engine struct {
	cfg     Config
	started time.Time

	mu     sync.Mutex
	loaded bool
	// holder is whether the last tick evaluated the shared rules; when an
	// instance becomes the holder it reads their state again, as another
	// instance kept it until then.
	holder bool
	alerts map[string]*Alert
	// dirty is set when the state could not be kept in the store: it is
	// written again every tick until it is.
	dirty bool
	// shown is the list Alerts returns, replaced at the end of each tick,
	// so that the page's cards never wait on a tick's store reads.
	shown atomic.Pointer[[]Alert]
	// silences are the fleet's silenced rules, read every tick; smu
	// orders their read-modify-write.
	smu      sync.Mutex
	silences atomic.Pointer[map[string]Silence]
}

// New returns an engine that loads its state from the store on its first
// tick.
func New(cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg, started: cfg.Now(), alerts: map[string]*Alert{}}
}

// Rules returns the rules the engine evaluates.
func (e *Engine) Rules() []Rule { return e.cfg.Rules }

// Alerts returns every alert pending, firing or resolved, by rule and
// series, as the last tick left them; it never waits on a tick.
func (e *Engine) Alerts() []Alert {
	if p := e.shown.Load(); p != nil {
		return *p
	}
	return nil
}

// publish makes the current alerts what Alerts returns; e.mu is held.
func (e *Engine) publish() {
	out := make([]Alert, 0, len(e.alerts))
	for _, a := range e.alerts {
		if a.Phase != PhaseInactive {
			out = append(out, *a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id() < out[j].id() })
	e.shown.Store(&out)
}

// reading is one instance of a rule's condition in this tick.
type reading struct {
	series string
	value  *float64
	level  probes.Level
	// known is false when the figure has no value now (its group is not
	// ok): the alert keeps its phase.
	known bool
	cond  bool
	clear bool
}

// Tick evaluates every rule on snap. Until the stored state is read it
// evaluates nothing, so that a restart during a store outage does not fire
// what had fired already.
func (e *Engine) Tick(ctx context.Context, snap *probes.Snapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loaded && !e.load(ctx) {
		return
	}
	defer e.publish()
	now := e.cfg.Now()
	shared := e.cfg.Shared == nil || e.cfg.Shared()
	if shared && !e.holder && e.loaded {
		if !e.loadKey(ctx, stateKey, true) {
			return
		}
	}
	e.holder = shared
	e.loadSilences(ctx)
	changed := false
	for i := range e.cfg.Rules {
		r := &e.cfg.Rules[i]
		if r.Shared && !shared {
			continue
		}
		for _, rd := range e.read(ctx, r, snap, now) {
			if !rd.known {
				continue
			}
			id := r.Name + " " + rd.series
			a := e.alerts[id]
			if a == nil {
				if !rd.cond {
					continue // inactive is the same as none: keep none
				}
				a = &Alert{Rule: r.Name, Series: rd.series, Phase: PhaseInactive, Since: now}
				e.alerts[id] = a
			}
			if step(a, r, rd, now) {
				changed = true
			}
		}
	}
	// Transitions are kept first, then written to the feed under keys of
	// their own, so that a failure between the two neither loses the
	// event nor stores it twice.
	if changed || e.dirty {
		e.save(ctx)
	}
	if e.sendUnsent(ctx) {
		e.save(ctx)
	}
}

// step moves a by one reading; it reports whether a fired or resolved.
func step(a *Alert, r *Rule, rd reading, now time.Time) bool {
	switch a.Phase {
	case PhaseInactive, PhaseResolved:
		if !rd.cond {
			return false
		}
		a.Phase, a.Since, a.Value, a.Level = PhasePending, now, rd.value, rd.level
		if r.For == 0 || r.When.Kind == KindAbsent {
			return fire(a, now)
		}
	case PhasePending:
		if !rd.cond {
			a.Phase, a.Since, a.Value, a.Level = PhaseInactive, now, nil, ""
			return false
		}
		if now.Sub(a.Since) >= r.For {
			a.Value, a.Level = rd.value, rd.level
			return fire(a, now)
		}
	case PhaseFiring:
		if !rd.clear {
			a.clearSince = time.Time{}
			return false
		}
		if a.clearSince.IsZero() {
			a.clearSince = now
		}
		if now.Sub(a.clearSince) >= ClearFor {
			a.Phase, a.Since, a.clearSince, a.Unsent = PhaseResolved, now, time.Time{}, PhaseResolved
			return true
		}
	}
	return false
}

func fire(a *Alert, now time.Time) bool {
	a.Phase, a.Since, a.FiredAt, a.Unsent, a.clearSince = PhaseFiring, now, now, PhaseFiring, time.Time{}
	return true
}

// read evaluates r's condition and clear condition on every series it
// matches.
func (e *Engine) read(ctx context.Context, r *Rule, snap *probes.Snapshot, now time.Time) []reading {
	switch r.When.Kind {
	case KindSeries:
		var out []reading
		for _, g := range probes.Groups() {
			g.Each(snap, func(rd probes.Reading) {
				if !matches(r.When.Series, rd) {
					return
				}
				x := reading{series: rd.Series, value: rd.Value, known: rd.Value != nil}
				if x.known {
					x.cond = compare(*rd.Value, r.When.Op, r.When.Value)
					x.clear = clears(r, *rd.Value, "")
				}
				out = append(out, x)
			})
		}
		return out
	case KindState:
		var out []reading
		for series, l := range levels(snap) {
			if !matchesState(r.When.Series, series) {
				continue
			}
			cond := (l == r.When.State) == (r.When.Op == "==")
			out = append(out, reading{series: series, level: l, known: true, cond: cond, clear: clears(r, 0, l)})
		}
		return out
	case KindAbsent:
		last, err := e.lastEvent(ctx, r.When.EventType)
		if err != nil {
			return nil // the store cannot say: unknown
		}
		silent := now.Sub(last)
		if first := now.Sub(e.started); last.IsZero() || first < silent {
			silent = first // nothing since vitals started: count from the start
		}
		v := silent.Seconds()
		// It clears only when an event of the type has really come within
		// the window: the grace a start gives is not the events' return, or
		// a restart would resolve a firing absent() after a minute.
		back := !last.IsZero() && now.Sub(last) < r.When.Window
		return []reading{{series: "absent(" + r.When.EventType + ")", value: &v, known: true,
			cond: silent >= r.When.Window, clear: back}}
	case KindCount:
		n, err := e.countEvents(ctx, r.When.EventType, now.Add(-r.When.Window), int(r.When.Value)+2)
		if err != nil {
			return nil
		}
		v := float64(n)
		return []reading{{series: fmt.Sprintf("count(%s, %s)", r.When.EventType, r.When.Window), value: &v, known: true,
			cond: compare(v, r.When.Op, r.When.Value), clear: clears(r, v, "")}}
	}
	return nil
}

// clears is the rule's clear condition on a value (or a level): its own
// Clear when given, else the negation of When with a margin of 5 % of the
// threshold, so that a figure hovering at the threshold does not resolve
// and fire again every tick.
func clears(r *Rule, v float64, l probes.Level) bool {
	if c := r.Clear; c != nil {
		if c.Kind == KindState {
			return (l == c.State) == (c.Op == "==")
		}
		return compare(v, c.Op, c.Value)
	}
	w := r.When
	if w.Kind == KindState {
		return (l == w.State) != (w.Op == "==")
	}
	margin := 0.05 * math.Abs(w.Value)
	switch w.Op {
	case ">", ">=":
		return v < w.Value-margin
	case "<", "<=":
		return v > w.Value+margin
	case "==":
		return v != w.Value
	default: // !=
		return v == w.Value
	}
}

func compare(v float64, op string, t float64) bool {
	switch op {
	case ">":
		return v > t
	case ">=":
		return v >= t
	case "<":
		return v < t
	case "<=":
		return v <= t
	case "==":
		return v == t
	default:
		return v != t
	}
}

// matches tells whether a reading is one of the series pattern names:
// disk[*].percent matches every disk's, disk[/].percent only the root's.
func matches(pattern string, rd probes.Reading) bool {
	return rd.Figure.Series == pattern || rd.Series == pattern
}

func matchesState(pattern, series string) bool {
	if pattern == series {
		return true
	}
	g, rest, ok := strings.Cut(pattern, "[*]")
	return ok && rest == "" && strings.HasPrefix(series, g+"[")
}

// levels are the state of every group, and of every entry of the keyed
// groups a state rule can name.
func levels(s *probes.Snapshot) map[string]probes.Level {
	m := map[string]probes.Level{
		"cpu": s.CPU.State, "memory": s.Memory.State, "database": s.Database.State, "redis": s.Redis.State,
		"load": s.Load.State, "network": s.Network.State, "process": s.Process.State, "api": s.API.State, "app": s.App.State,
		"disk": s.DiskLevel(), "http": s.HTTPLevel(),
	}
	for _, d := range s.Disk {
		m["disk["+d.Path+"]"] = d.State
	}
	for _, h := range s.HTTP {
		m["http["+h.Name+"]"] = h.State
	}
	return m
}

func (e *Engine) lastEvent(ctx context.Context, typ string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	evs, err := e.cfg.Store.ListEvents(ctx, storage.EventFilter{Types: []string{typ}, Limit: 1})
	if err != nil || len(evs) == 0 {
		return time.Time{}, err
	}
	return evs[0].CreatedAt, nil
}

// countEvents counts the events of typ since, up to limit (enough to
// decide the comparison).
func (e *Engine) countEvents(ctx context.Context, typ string, since time.Time, limit int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	evs, err := e.cfg.Store.ListEvents(ctx, storage.EventFilter{Types: []string{typ}, Since: since, Limit: max(limit, 1)})
	return len(evs), err
}

func (e *Engine) load(ctx context.Context) bool {
	if !e.loadKey(ctx, e.ownKey(), false) || !e.loadKey(ctx, stateKey, true) {
		return false
	}
	e.loaded = true
	return true
}

// ownKey is the setting this instance's own rules' state is kept under.
func (e *Engine) ownKey() string { return stateKey + "." + e.cfg.Instance }

// isShared tells whether an alert's rule is one of the fleet's.
func (e *Engine) isShared(rule string) bool {
	for i := range e.cfg.Rules {
		if e.cfg.Rules[i].Name == rule {
			return e.cfg.Rules[i].Shared
		}
	}
	return false
}

// loadKey reads one of the two state settings, replacing the alerts of its
// kind (shared or own) with what the store holds.
func (e *Engine) loadKey(ctx context.Context, key string, shared bool) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := e.cfg.Store.Setting(ctx, key)
	var list []Alert
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		e.cfg.Log.Warn("alerts: cannot read their state from the store; not evaluating until it answers", "err", err)
		return false
	default:
		if err := json.Unmarshal([]byte(v), &list); err != nil {
			e.cfg.Log.Error("alerts: the stored state is damaged; starting from nothing", "key", key, "err", err)
			list = nil
		}
	}
	for id, a := range e.alerts {
		if e.isShared(a.Rule) == shared {
			delete(e.alerts, id)
		}
	}
	for i := range list {
		if e.isShared(list[i].Rule) == shared {
			e.alerts[list[i].id()] = &list[i]
		}
	}
	return true
}

// save keeps every alert that is not inactive (an inactive one is the
// same as none): this instance's own under its key, the shared ones, when
// it evaluates them, under the fleet's.
func (e *Engine) save(ctx context.Context) {
	ok := e.saveKey(ctx, e.ownKey(), false)
	if e.holder {
		ok = e.saveKey(ctx, stateKey, true) && ok
	}
	e.dirty = !ok
}

func (e *Engine) saveKey(ctx context.Context, key string, shared bool) bool {
	list := make([]Alert, 0, len(e.alerts))
	for _, a := range e.alerts {
		if a.Phase != PhaseInactive && e.isShared(a.Rule) == shared {
			list = append(list, *a)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id() < list[j].id() })
	b, _ := json.Marshal(list)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := e.cfg.Store.SetSetting(ctx, key, string(b)); err != nil {
		if !e.dirty {
			e.cfg.Log.Warn("alerts: cannot keep their state in the store; kept in memory and tried again every tick", "err", err)
		}
		return false
	}
	return true
}

// sendUnsent writes the feed event of every transition not written yet;
// it reports whether any was.
func (e *Engine) sendUnsent(ctx context.Context) bool {
	sent := false
	// What an outage spooled goes into the store before anything new, so
	// that the feed keeps the transitions' order; while it cannot, new
	// transitions join it in the spool.
	spooling := false
	if e.cfg.Spool != nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		spooling = e.cfg.Spool.Replay(rctx, e.cfg.Store) != nil
		cancel()
	}
	for _, a := range e.alerts {
		if a.Unsent == "" {
			continue
		}
		ev := transitionEvent(a)
		var ns []storage.Notification
		if e.silenced(a.Rule, e.cfg.Now()) {
			ev = silencedEvent(ev)
		} else {
			ns = e.notifications(a, ev)
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		// The notifications first, then the event: each is written under a
		// key of its own, so a failure between them is mended by the next
		// tick's repeat, which stores neither twice.
		var err error
		if spooling {
			err = errors.New("the spool is not recorded in the store yet")
		}
		if err == nil && len(ns) > 0 {
			err = e.cfg.Store.EnqueueNotifications(ictx, ns)
		}
		if err == nil {
			_, err = e.cfg.Store.InsertEvents(ictx, []storage.NewEvent{ev})
		}
		cancel()
		if err != nil && e.cfg.Spool != nil {
			// The store is away: the spool takes the transition, and the
			// worker delivers it from there.
			if serr := e.cfg.Spool.Add(ev, ns); serr == nil {
				e.cfg.Log.Warn("alerts: the store cannot take the transition; spooled in the data directory and delivered from there",
					"rule", a.Rule, "err", err)
				err = nil
			} else {
				e.cfg.Log.Error("alerts: cannot spool the transition either", "rule", a.Rule, "err", serr)
			}
		}
		if err != nil {
			e.cfg.Log.Warn("alerts: cannot write the transition to the feed; tried again next tick", "rule", a.Rule, "err", err)
			continue
		}
		level := slog.LevelWarn
		if a.Unsent == PhaseResolved {
			level = slog.LevelInfo
		}
		e.cfg.Log.Log(ctx, level, "alert "+string(a.Unsent), "rule", a.Rule, "series", a.Series)
		a.Unsent = ""
		sent = true
	}
	return sent
}

func transitionEvent(a *Alert) storage.NewEvent {
	typ, verb := TypeFiring, "firing"
	if a.Unsent == PhaseResolved {
		typ, verb = TypeResolved, "resolved"
	}
	msg := a.Rule + " " + verb + ": " + a.Series
	switch {
	case a.Level != "":
		msg += " is " + string(a.Level)
	case a.Value != nil:
		msg += fmt.Sprintf(" = %.4g", *a.Value)
	}
	details := map[string]any{"rule": a.Rule, "series": a.Series, "since": a.Since.UTC().Format(time.RFC3339)}
	if a.Value != nil {
		details["value"] = *a.Value
	}
	if a.Level != "" {
		details["state"] = a.Level
	}
	if typ == TypeResolved {
		details["fired_at"] = a.FiredAt.UTC().Format(time.RFC3339)
	}
	b, _ := json.Marshal(details)
	// One key per transition: a retry after a lost answer, or a restart
	// between the store's two writes, stores it once.
	sum := sha256.Sum256([]byte(typ + "\x00" + a.id() + "\x00" + a.Since.UTC().Format(time.RFC3339Nano)))
	at := a.Since
	return storage.NewEvent{Type: typ, Message: msg, Details: b, Source: storage.SourceVitals,
		IdempotencyKey: "alert-" + hex.EncodeToString(sum[:16]), OccurredAt: &at}
}

// silencedEvent marks a transition's event as one no notification was
// sent for: its rule was silenced.
func silencedEvent(ev storage.NewEvent) storage.NewEvent {
	var m map[string]any
	if json.Unmarshal(ev.Details, &m) == nil {
		m["silenced"] = true
		ev.Details, _ = json.Marshal(m)
	}
	ev.Message += " (silenced: not notified)"
	return ev
}

// notifications are one notification per channel of a's transition,
// keyed by the transition and the channel.
func (e *Engine) notifications(a *Alert, ev storage.NewEvent) []storage.Notification {
	if len(e.cfg.Channels) == 0 {
		return nil
	}
	now := e.cfg.Now().UnixMilli()
	ns := make([]storage.Notification, 0, len(e.cfg.Channels))
	for _, ch := range e.cfg.Channels {
		sum := sha256.Sum256([]byte(ev.IdempotencyKey + "\x00" + ch))
		key := "n-" + hex.EncodeToString(sum[:16])
		m := map[string]any{"key": key, "rule": a.Rule, "series": a.Series, "phase": string(a.Unsent),
			"since": a.Since.UTC().Format(time.RFC3339), "text": "vitals: " + ev.Message}
		if a.Value != nil {
			m["value"] = *a.Value
		}
		if a.Level != "" {
			m["state"] = string(a.Level)
		}
		b, _ := json.Marshal(m)
		ns = append(ns, storage.Notification{Key: key, Channel: ch, Payload: string(b), CreatedMS: now, NextMS: now})
	}
	return ns
}
