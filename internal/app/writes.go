package app

import (
	"context"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/storage"
)

// writeHealthy is a store that tracks whether its writes work (both do).
type writeHealthy interface {
	WriteHealth() *storage.WriteHealth
}

// writeProbeSetting is the setting the write probe rewrites while writes
// are failing, to learn when they work again.
const writeProbeSetting = "write_probe"

// writesCheck is /health's check of the store's writes: failing, with the
// reason, while the last write was refused for room. It costs no I/O.
func writesCheck(wh *storage.WriteHealth) handlers.HealthCheck {
	return handlers.HealthCheck{
		Name: "database:writes", ComponentType: "datastore", Critical: true,
		Check: func(context.Context) error {
			if r := wh.Failing(); r != "" {
				return handlers.CheckFailure(r)
			}
			return nil
		},
		Generation: wh.Changes,
	}
}

// probePad makes the probe write about as large as a padded event: a
// write of a few bytes fits where events do not, and would report writes
// working while every post is still refused.
var probePad = strings.Repeat(".", 4096)

func probeValue() string { return time.Now().UTC().Format(time.RFC3339Nano) + " " + probePad }

// probeWrites tries one small write every interval while writes are
// failing, so that /health turns back to pass when there is room again
// even if nobody posts; when writes work it does nothing.
func (a *App) probeWrites(ctx context.Context, wh *storage.WriteHealth) {
	every(ctx, a.cfg.SampleInterval, func() {
		if wh.Failing() == "" {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, a.cfg.SampleInterval)
		defer cancel()
		_ = a.store.store.SetSetting(wctx, writeProbeSetting, probeValue())
	})
}
