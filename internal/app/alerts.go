package app

import (
	"context"

	"github.com/vitalsdev/vitals/alerts"
	"github.com/vitalsdev/vitals/notify"
	"github.com/vitalsdev/vitals/probes"
)

// newAlerts builds the alert engine over the store; its state is read from
// the store on its first tick that reaches it.
func (a *App) newAlerts() *alerts.Engine {
	ids := make([]string, len(a.cfg.Channels))
	for i, c := range a.cfg.Channels {
		ids[i] = c.ID
	}
	return alerts.New(alerts.Config{
		Rules: a.cfg.AlertRules, Store: a.store.store, Log: a.logger, Channels: ids,
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

// runNotifications delivers the outbox until ctx ends. Any instance
// delivers: a claim in the outbox keeps two from sending one notification.
func (a *App) runNotifications(ctx context.Context) {
	if len(a.cfg.Channels) == 0 {
		return
	}
	if err := a.store.waitReady(ctx); err != nil {
		return
	}
	w := &notify.Worker{Store: a.store.store, Channels: a.cfg.Channels, Log: a.logger}
	w.Run(ctx)
}

// channelLabels names each channel on the delivery log by its URL without
// secrets.
func channelLabels(chans []notify.Channel) map[string]string {
	m := make(map[string]string, len(chans))
	for _, c := range chans {
		m[c.ID] = c.Label
	}
	return m
}
