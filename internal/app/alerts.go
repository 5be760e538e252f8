package app

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"time"

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
	var spool alerts.Spooler
	if a.spool != nil {
		spool = a.spool // a nil *notify.Spool must not become a non-nil Spooler
	}
	return alerts.New(alerts.Config{
		Rules: a.cfg.AlertRules, Store: a.store.store, Log: a.logger, Channels: ids, Spool: spool,
		Instance: a.sampler.Latest().Snapshot.Instance.ID,
		// The fleet's shared rules are evaluated by the instance that holds
		// the history lease, once; without history (a test's Config) or on
		// SQLite, which is one instance by construction, by this one from
		// its first tick rather than from its first history interval.
		Shared: func() bool { return a.cfg.HistoryInterval <= 0 || a.cfg.DatabaseURL == "" || a.leaseHeld.Load() },
	})
}

// openSpool opens the alerts' local spool in the data directory, which
// takes the transitions the store cannot (notify.Spool). Without it (an
// unwritable directory) alerts still work, but wait for the store.
func (a *App) openSpool() *notify.Spool {
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		a.logger.Error("alerts: cannot make the data directory for the spool; transitions wait for the store", "err", err)
		return nil
	}
	s, err := notify.OpenSpool(filepath.Join(a.cfg.DataDir, notify.SpoolFile))
	if err != nil {
		a.logger.Error("alerts: cannot open the spool; transitions wait for the store", "err", err)
		return nil
	}
	a.onClose("alerts spool", func() { _ = s.Close() })
	return s
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
	// Not waiting for the store: what the spool holds is delivered while
	// the store is away, also after a restart during the outage.
	w := &notify.Worker{Store: a.store.store, Channels: a.cfg.Channels, Log: a.logger, ReplayTo: a.store.store,
		Ready: func() bool {
			select {
			case <-a.store.ready:
				return true
			default:
				return false
			}
		}}
	if a.spool != nil {
		w.Spool = a.spool
	}
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

// runHeartbeat calls VITALS_HEARTBEAT_URL every sample interval, so that an
// outside dead-man's switch notices when vitals stops. A failed call is
// logged once until one succeeds again; the URL, which holds the switch's
// token, is never logged.
func (a *App) runHeartbeat(ctx context.Context) {
	if a.cfg.HeartbeatURL == "" {
		return
	}
	hc := &http.Client{Timeout: min(a.cfg.SampleInterval, 10*time.Second)}
	failing := false
	beat := func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.HeartbeatURL, nil)
		if err != nil {
			return
		}
		req.Header.Set("User-Agent", "vitals heartbeat")
		resp, err := hc.Do(req)
		status := 0
		if err == nil {
			status = resp.StatusCode
			_ = resp.Body.Close()
		}
		ok := err == nil && status < 300
		switch {
		case !ok && !failing && ctx.Err() == nil:
			failing = true
			a.logger.Warn("heartbeat: the dead-man's switch did not take the call; the switch will report vitals as stopped if this goes on",
				"status", status)
		case ok && failing:
			failing = false
			a.logger.Info("heartbeat: the dead-man's switch takes the calls again")
		}
	}
	beat()
	every(ctx, a.cfg.SampleInterval, beat)
}
