package app

import (
	"context"
	"time"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/internal/version"
	"github.com/vitalsdev/vitals/storage"
)

// historyGone is how long an instance that stopped registering stays in
// the fleet list (docs/architecture.md, "Fleet").
const historyGone = 7 * 24 * time.Hour

// runHistory stores a sample of every figure each history interval, rolls
// up and prunes when this instance holds the lease, and registers the
// instance in the fleet. It runs until ctx ends, then gives the lease up
// so that another instance takes over at once.
func (a *App) runHistory(ctx context.Context) {
	cfg := a.cfg
	if cfg.HistoryInterval <= 0 {
		return // a Config not made by config.Parse (a test's): no history
	}
	if err := a.store.waitReady(ctx); err != nil {
		return
	}
	tiers := history.DefaultTiers()
	tiers[0].Keep, tiers[1].Keep, tiers[2].Keep = cfg.HistoryKeepRaw, cfg.HistoryKeep5m, cfg.HistoryKeep1h
	id := a.sampler.Latest().Snapshot.Instance.ID
	rec := history.NewRecorder(a.store.store, id, tiers[0])
	// Samples may reach the store up to two intervals after their time;
	// a bucket is rolled up only after that grace.
	grace := 2 * cfg.HistoryInterval
	// The lease lasts 2 intervals, renewed every one: a holder that dies
	// or freezes has its lease expire within 2 intervals of its last
	// renewal, and another instance's next tick, at most one interval
	// later, takes it over: within 3 intervals, as DESIGN.md asks. A
	// holder one tick late loses it for nothing worse than a takeover.
	roller := history.NewRoller(a.store.store, id, tiers, 2*cfg.HistoryInterval, grace)
	tick := func(now time.Time) {
		latest := a.sampler.Latest()
		// A snapshot older than the roll-ups' grace (this process was
		// frozen, or its sampler is stuck) is not stored: its bucket may
		// have been rolled up meanwhile, and the raw samples must stay
		// what was rolled up. The first tick after a fresh snapshot is
		// within one interval of it, so none is lost otherwise.
		if time.Since(latest.Snapshot.CollectedAt) < grace {
			rec.Record(&latest.Snapshot)
		}
		if err := rec.Flush(ctx); err != nil && ctx.Err() == nil {
			a.logger.Warn("history: store samples", "err", err)
		}
		inst := storage.Instance{ID: id, Region: latest.Snapshot.Instance.Region, Version: version.Version,
			StartedMS: a.opts.Started.UnixMilli(), SeenMS: now.UnixMilli(), IntervalMS: cfg.HistoryInterval.Milliseconds(),
			Snapshot: latest.JSON}
		if err := a.store.store.UpsertInstance(ctx, inst); err != nil && ctx.Err() == nil {
			a.logger.Warn("history: register instance", "err", err)
		}
		held, err := roller.Run(ctx, now)
		// A store that cannot be asked keeps the holder the holder for
		// the alerts: no other instance can take the lease from it either,
		// and the database-down alert is one of the shared rules.
		if err == nil || held {
			a.leaseHeld.Store(held)
		}
		if err != nil && ctx.Err() == nil {
			a.logger.Warn("history: roll up", "err", err)
		}
		if held {
			if _, err := a.store.store.PruneInstances(ctx, now.Add(-historyGone).UnixMilli()); err != nil && ctx.Err() == nil {
				a.logger.Warn("history: prune instances", "err", err)
			}
		}
	}
	t := time.NewTicker(cfg.HistoryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			release, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = a.store.store.ReleaseLease(release, history.LeaseName, id)
			return
		case now := <-t.C:
			tick(now)
		}
	}
}
