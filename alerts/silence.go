package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

// The feed's event types for silencing.
const (
	TypeSilenced   = "alert.silenced"
	TypeUnsilenced = "alert.unsilenced"
)

// silenceKey is the setting the silences are kept under, one for the
// fleet: a rule silenced on one instance's page is silent on every one.
const silenceKey = "alerts.silences"

// Silence is a rule silenced until a time, and who silenced it.
type Silence struct {
	Until time.Time `json:"until"`
	By    string    `json:"by"`
}

// ErrNoSuchRule is a silence asked for a rule the engine does not have.
var ErrNoSuchRule = errors.New("no such rule")

// MaxSilence is the longest a rule may be silenced at once.
const MaxSilence = 7 * 24 * time.Hour

// Silences returns the rules silenced now, by name, as the last tick (or
// the last Silence) read them.
func (e *Engine) Silences() map[string]Silence {
	now := e.cfg.Now()
	out := map[string]Silence{}
	if p := e.silences.Load(); p != nil {
		for r, s := range *p {
			if s.Until.After(now) {
				out[r] = s
			}
		}
	}
	return out
}

// silenced tells whether rule is silenced at now.
func (e *Engine) silenced(rule string, now time.Time) bool {
	if p := e.silences.Load(); p != nil {
		s, ok := (*p)[rule]
		return ok && s.Until.After(now)
	}
	return false
}

// Silence silences rule for d (unsilences it when d is 0), records who in
// the feed as an alert.silenced or alert.unsilenced event, and keeps it in
// the store. While a rule is silenced its transitions are still evaluated,
// kept and written to the feed, but no notification is sent for them; one
// that happened while silenced is not sent later either.
func (e *Engine) Silence(ctx context.Context, rule string, d time.Duration, by string) (Silence, error) {
	if !slices.ContainsFunc(e.cfg.Rules, func(r Rule) bool { return r.Name == rule }) {
		return Silence{}, ErrNoSuchRule
	}
	if d < 0 || d > MaxSilence {
		return Silence{}, fmt.Errorf("a silence lasts from 0 (unsilence) to %s", MaxSilence)
	}
	e.smu.Lock()
	defer e.smu.Unlock()
	list, err := e.readSilences(ctx)
	if err != nil {
		return Silence{}, err
	}
	now := e.cfg.Now()
	for r, s := range list {
		if !s.Until.After(now) {
			delete(list, r) // expired ones are dropped as they are met
		}
	}
	s := Silence{Until: now.Add(d).UTC().Truncate(time.Second), By: by}
	typ := TypeSilenced
	if d == 0 {
		delete(list, rule)
		typ, s = TypeUnsilenced, Silence{By: by}
	} else {
		list[rule] = s
	}
	b, _ := json.Marshal(list)
	if err := e.cfg.Store.SetSetting(ctx, silenceKey, string(b)); err != nil {
		return Silence{}, err
	}
	e.silences.Store(&list)
	details := map[string]any{"rule": rule, "by": by}
	msg := rule + " unsilenced by " + by
	if d > 0 {
		details["until"] = s.Until.Format(time.RFC3339)
		msg = rule + " silenced by " + by + " until " + s.Until.Format(time.RFC3339)
	}
	db, _ := json.Marshal(details)
	if _, err := e.cfg.Store.InsertEvents(ctx, []storage.NewEvent{{Type: typ, Message: msg, Details: db, Source: storage.SourceVitals}}); err != nil {
		// The silence holds; only its line in the feed is missing.
		e.cfg.Log.Warn("alerts: the silence is kept, but its feed event could not be written", "rule", rule, "err", err)
	}
	e.cfg.Log.Info("alerts: "+typ, "rule", rule, "by", by, "until", s.Until)
	return s, nil
}

func (e *Engine) readSilences(ctx context.Context) (map[string]Silence, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := e.cfg.Store.Setting(ctx, silenceKey)
	list := map[string]Silence{}
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if json.Unmarshal([]byte(v), &list) != nil {
			e.cfg.Log.Error("alerts: the stored silences are damaged; none is kept")
			list = map[string]Silence{}
		}
	}
	return list, nil
}

// loadSilences reads the fleet's silences on a tick; when the store cannot
// answer, the last ones read stay.
func (e *Engine) loadSilences(ctx context.Context) {
	e.smu.Lock()
	defer e.smu.Unlock()
	if list, err := e.readSilences(ctx); err == nil {
		e.silences.Store(&list)
	}
}
