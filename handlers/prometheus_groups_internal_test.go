package handlers

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vitalsdev/vitals/probes"
)

// TestExpositionOfAnAddedGroup adds a group to the list through the public
// mechanism (probes.Define) and shows that the exposition exports it,
// up, figures and all, though nothing in this package names it.
func TestExpositionOfAnAddedGroup(t *testing.T) {
	threads := probes.Define(probes.Group{
		Name: "threads",
		Entries: func(s *probes.Snapshot) []probes.State {
			return []probes.State{{Status: s.Process.Status, Reason: s.Process.Reason, Source: probes.SourceHost}}
		},
		Blank: func(st probes.Status, reason string) probes.Result { return probes.Process{Status: st, Reason: reason} },
		Figures: []probes.Figure{{
			Field: "goroutines_ms", Unit: probes.UnitMillis, Kind: probes.KindCounter,
			Metric: "vitals_threads_goroutine_seconds_total", Labels: []string{"kind", "test"}, Help: "A test's figure.",
			Value: func(s *probes.Snapshot, _ int) *float64 {
				if s.Process.Goroutines == nil {
					return nil
				}
				v := float64(*s.Process.Goroutines)
				return &v
			},
		}},
	})
	sampler := probes.NewSampler(probes.SamplerConfig{}, probes.NewProcessProbe(probes.HostConfig{}))
	snap := sampler.Tick(context.Background()).Snapshot
	if snap.Process.Status != probes.StatusOK {
		t.Fatalf("process: %+v", snap.Process)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(snapshotCollector{snap: &snap, groups: append(probes.Groups(), threads)})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range fams {
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			switch {
			case f.GetName() == "vitals_threads_goroutine_seconds_total":
				// a counter, in seconds, with its constant label
				if m.Counter == nil || m.Counter.GetValue() != float64(*snap.Process.Goroutines)/1000 || labels["kind"] != "test" {
					t.Errorf("figure: %v", m)
				}
				found["figure"] = true
			case f.GetName() == "vitals_probe_up" && labels["group"] == "threads":
				found["up"] = m.Gauge.GetValue() == 1
			case f.GetName() == "vitals_source_info" && labels["group"] == "threads":
				found["source"] = labels["source"] == probes.SourceHost
			}
		}
	}
	for _, what := range []string{"figure", "up", "source"} {
		if !found[what] {
			t.Errorf("the added group's %s is missing from the exposition", what)
		}
	}
}
