// Package retention is the rule both stores apply after every insert, for
// each source of events apart: keep the newest Keep of the source, prune
// back to it once more than storage.PruneThreshold(Keep) are stored. The
// SQL that counts and deletes is each store's own.
package retention

import (
	"fmt"

	"github.com/vitalsdev/vitals/storage"
)

// Keep is how many events of each source retention keeps.
type Keep struct {
	App    int
	Vitals int
}

// New is the Keep for a store's EventsKeep option: zero means
// storage.DefaultEventsKeep; vitals' own events keep
// storage.DefaultVitalsEventsKeep.
func New(eventsKeep int) (Keep, error) {
	if eventsKeep == 0 {
		eventsKeep = storage.DefaultEventsKeep
	}
	if eventsKeep < 1 {
		return Keep{}, fmt.Errorf("events keep must be positive, got %d", eventsKeep)
	}
	return Keep{App: eventsKeep, Vitals: storage.DefaultVitalsEventsKeep}, nil
}

// Count is a number of events by source.
type Count struct {
	App    int64
	Vitals int64
}

// Add counts one event of source.
func (c *Count) Add(source string) {
	if source == storage.SourceVitals {
		c.Vitals++
	} else {
		c.App++
	}
}

// Any reports whether the count is above zero for either source.
func (c Count) Any() bool { return c.App > 0 || c.Vitals > 0 }

// Due lists the sources whose stored count calls for a prune, the
// application's first (the order every store prunes in).
func (k Keep) Due(stored Count) []string {
	var due []string
	if storage.ShouldPrune(stored.App, k.App) {
		due = append(due, storage.SourceApp)
	}
	if storage.ShouldPrune(stored.Vitals, k.Vitals) {
		due = append(due, storage.SourceVitals)
	}
	return due
}

// Of is the keep of source.
func (k Keep) Of(source string) int {
	if source == storage.SourceVitals {
		return k.Vitals
	}
	return k.App
}
