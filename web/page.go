package web

import (
	"time"

	"vitals/probes"
	"vitals/storage"
)

// Page is what the dashboard templates render: the full page and each
// polled fragment take the same value, so there is one source of truth.
type Page struct {
	Snapshot *probes.Snapshot
	Events   []storage.Event
	// EventType is the feed's type filter, empty for every type.
	EventType string
	Now       time.Time
	// PollSeconds is how often the page's fragments refresh.
	PollSeconds int
	Backend     string
}
