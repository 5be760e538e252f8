package web

import (
	"html/template"
	"time"

	"github.com/vitalsdev/vitals/probes"
)

// FleetRow is one instance in the fleet list.
type FleetRow struct {
	ID, Region, Version string
	Started, LastSeen   time.Time
	// State is the worst of its latest snapshot, or stale when it has been
	// silent for 3 of its intervals.
	State probes.Level
	// Current is the instance serving the page, Selected the one shown.
	Current, Selected bool
	// CPU and Memory are its last hour's sparklines (chart.go), "" when
	// it has no samples in it.
	CPU, Memory template.HTML
}

// Fleet is the fleet list's fragment.
type Fleet struct {
	Rows        []FleetRow
	Unavailable bool
}

// Viewing says the page shows another instance of the fleet: its latest
// stored snapshot, taken at TakenAt.
type Viewing struct {
	ID      string
	TakenAt time.Time
	// Stale is true when it has been silent for 3 of its intervals: its
	// cards are as old as its last report.
	Stale bool
}
