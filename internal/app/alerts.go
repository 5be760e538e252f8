package app

import (
	"context"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/probes"
)

// newAlerts builds the alert engine over the store; its state is read from
// the store on its first tick that reaches it.
func (a *App) newAlerts() *alerts.Engine {
	return alerts.New(alerts.Config{
		Rules: a.cfg.AlertRules, Store: a.store.store, Log: a.logger,
		// The fleet's shared rules are evaluated by the instance that holds
		// the history lease, once; without history (a test's Config) by
		// this one.
		Shared: func() bool { return a.cfg.HistoryInterval <= 0 || a.leaseHeld.Load() },
	})
}

// runAlerts evaluates the rules on every new snapshot, each sample
// interval, until ctx ends.
func (a *App) runAlerts(ctx context.Context) {
	if len(a.cfg.AlertRules) == 0 {
		return
	}
	if err := a.store.waitReady(ctx); err != nil {
		return
	}
	var last *probes.Rendered
	every(ctx, a.cfg.SampleInterval, func() {
		r := a.sampler.Latest()
		if r == last {
			return // no tick since the last evaluation
		}
		last = r
		a.alerts.Tick(ctx, &r.Snapshot)
	})
}
