package probes

import "strings"

// Unit says what a figure measures. The snapshot keeps the units people
// read (percent, milliseconds); /metrics converts them to base units.
type Unit string

// The units of the figures.
const (
	UnitPercent        Unit = "percent" // 0 to 100
	UnitMillis         Unit = "ms"
	UnitSeconds        Unit = "seconds"
	UnitBytes          Unit = "bytes"
	UnitBytesPerSecond Unit = "bytes_per_second"
	UnitCores          Unit = "cores"
	UnitLoad           Unit = "load"  // run-queue length, as uptime(1) prints it
	UnitCount          Unit = "count" // sessions, goroutines, requests, periods
	UnitBool           Unit = "bool"  // 1 for true, 0 for false
	UnitStatusCode     Unit = "status_code"
)

// Kind says how a figure moves: a gauge goes up and down, a counter only
// grows (until the source restarts).
type Kind string

// The kinds of figures.
const (
	KindGauge   Kind = "gauge"
	KindCounter Kind = "counter"
)

// Figure is one number the probes publish, named once for every consumer:
// the JSON snapshot (Group and Field), history and alerts (Series), and
// /metrics (Metric, Labels, Help).
type Figure struct {
	// Group is the JSON name of the figure's group, Field its JSON name
	// within the group (or within each entry of a keyed group).
	Group string
	Field string
	// Series is the figure's name by its path in the snapshot:
	// "cpu.percent"; in a keyed group the key is a wildcard,
	// "disk[*].percent", and each entry's series carries its key,
	// "disk[/].percent" (see Reading).
	Series string
	Unit   Unit
	Kind   Kind
	// Metric is the figure's name in /metrics; Labels are constant label
	// name, value pairs that tell apart figures sharing one metric
	// (vitals_database_connections_by_state{state="idle"}). A keyed
	// group's entries add the group's key label.
	Metric string
	Labels []string
	// Help says what the figure is, in one line: the metric's HELP text.
	Help string
	// Value reads the figure from entry i of its group in s (i is 0 for
	// a group with one entry); nil when the snapshot has no value.
	Value func(s *Snapshot, i int) *float64
}

// State is the reading state of one group, of one entry of a keyed group,
// or of a part of a group that has a status of its own (the database's
// connection figures).
type State struct {
	Group string
	// Key names the entry of a keyed group (a disk's path, a target's
	// name); "" for a group with one entry.
	Key string
	// Part names a part with a status of its own ("connections"); "" for
	// the group or entry itself.
	Part   string
	Status Status
	Reason string
	// Source says where the figures came from (SourceCgroupV2, ...), ""
	// when the group does not say.
	Source string
	// Labels are descriptive name, value pairs of the entry (a disk's
	// mountpoint and fstype, the database's backend, a target's URL), nil
	// when there is nothing known to describe it.
	Labels []string
}

// Reading is one figure's value in one snapshot.
type Reading struct {
	Figure *Figure
	// Key is the entry's key in a keyed group, "" otherwise.
	Key string
	// Series is the figure's series with the key filled in:
	// "disk[/].percent".
	Series string
	// Value is nil when the figure is absent: its group or entry is not
	// ok, or the source does not have it.
	Value *float64
}

// Group describes one group of the Snapshot: its entries' states, its
// figures, and its value when it has no reading. Groups lists them all.
type Group struct {
	// Name is the group's JSON name.
	Name string
	// Key is the /metrics label naming the entries of a keyed group
	// ("path", "name"); "" when the group has one entry.
	Key string
	// Metric prefixes the group's per-entry series in /metrics: Metric +
	// "_up" for each entry of a keyed group, Metric + "_info" when an
	// entry has Labels; UpHelp and InfoHelp are their HELP texts.
	Metric   string
	UpHelp   string
	InfoHelp string
	Figures  []Figure
	// Entries returns the states of the group's entries in s: one for a
	// group with one entry, one per entry (in order) for a keyed group.
	Entries func(s *Snapshot) []State
	// Parts returns the states of the parts with a status of their own;
	// nil when there are none.
	Parts func(s *Snapshot) []State
	// Blank returns the group's value when it has no reading: status st
	// with reason and every number null. For a keyed group that is no
	// entry when not configured, else one unnamed entry.
	Blank func(st Status, reason string) Result
}

// Keyed reports whether the group holds one entry per key.
func (g *Group) Keyed() bool { return g.Key != "" }

// States calls fn with the state of every entry of g in s, then of every
// part.
func (g *Group) States(s *Snapshot, fn func(State)) {
	for _, st := range g.Entries(s) {
		fn(st)
	}
	if g.Parts != nil {
		for _, st := range g.Parts(s) {
			fn(st)
		}
	}
}

// Each calls fn with every figure of g in s: once per figure for a group
// with one entry, once per figure and named entry for a keyed group. A
// figure of a group or entry that is not ok is absent (Value nil), never
// a stale number.
func (g *Group) Each(s *Snapshot, fn func(Reading)) {
	for i, st := range g.Entries(s) {
		if g.Keyed() && st.Key == "" {
			continue // an unnamed placeholder: nothing to name a series by
		}
		for j := range g.Figures {
			f := &g.Figures[j]
			r := Reading{Figure: f, Key: st.Key, Series: f.Series}
			if g.Keyed() {
				r.Series = strings.Replace(f.Series, "[*]", "["+st.Key+"]", 1)
			}
			if st.Status == StatusOK {
				r.Value = f.Value(s, i)
			}
			fn(r)
		}
	}
}

// Figures returns every figure the probes publish, in snapshot order,
// keyed groups' series with the "[*]" wildcard.
func Figures() []Figure {
	var out []Figure
	for _, g := range Groups() {
		out = append(out, g.Figures...)
	}
	return out
}

// Each calls fn with every figure of every group of s (see Group.Each).
func (s *Snapshot) Each(fn func(Reading)) {
	for _, g := range Groups() {
		g.Each(s, fn)
	}
}

// States calls fn with the state of every group, entry and part of s (see
// Group.States).
func (s *Snapshot) States(fn func(State)) {
	for _, g := range Groups() {
		g.States(s, fn)
	}
}

// Define returns g with what its definition leaves implied filled in: each
// figure's Group and Series (from the group's name, whether it is keyed,
// and the figure's Field) and each State's Group. Every group of Groups
// is made with it, and so is a group added elsewhere (a test's).
func Define(g Group) Group {
	for i := range g.Figures {
		f := &g.Figures[i]
		f.Group = g.Name
		if g.Keyed() {
			f.Series = g.Name + "[*]." + f.Field
		} else {
			f.Series = g.Name + "." + f.Field
		}
	}
	entries, parts := g.Entries, g.Parts
	g.Entries = func(s *Snapshot) []State { return withGroup(g.Name, entries(s)) }
	if parts != nil {
		g.Parts = func(s *Snapshot) []State { return withGroup(g.Name, parts(s)) }
	}
	return g
}

func withGroup(name string, sts []State) []State {
	for i := range sts {
		sts[i].Group = name
	}
	return sts
}

// logKey names a state in the Sampler's log lines: "cpu", "disk /data",
// "http api", "database connections".
func (st State) logKey(keyed bool) string {
	k := st.Group
	if keyed {
		k += " " + st.Key
	}
	if st.Part != "" {
		k += " " + st.Part
	}
	return k
}

// Helpers for the figures' Value functions.

// in reads a figure of a group with one entry.
func in[G any](group func(*Snapshot) *G, f func(*G) *float64) func(*Snapshot, int) *float64 {
	return func(s *Snapshot, _ int) *float64 { return f(group(s)) }
}

// at reads a figure of entry i of a keyed group.
func at[E any](list func(*Snapshot) []E, f func(*E) *float64) func(*Snapshot, int) *float64 {
	return func(s *Snapshot, i int) *float64 {
		l := list(s)
		if i < 0 || i >= len(l) {
			return nil
		}
		return f(&l[i])
	}
}

// num converts a nullable integer figure.
func num[T int | int64 | uint64](p *T) *float64 {
	if p == nil {
		return nil
	}
	v := float64(*p)
	return &v
}

// flag converts a nullable boolean figure to 1 or 0.
func flag(p *bool) *float64 {
	if p == nil {
		return nil
	}
	v := 0.0
	if *p {
		v = 1
	}
	return &v
}
