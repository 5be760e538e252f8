package probes_test

import (
	"context"
	"testing"

	"github.com/vitalsdev/vitals/probes"
)

// freeSpace is a group defined only through the public mechanism: a
// Group value with its entries and one figure, added to the list. Nothing
// else names it, yet the walk that history, alerts and /metrics share
// lists its series per entry and its states.
func freeSpace() probes.Group {
	return probes.Define(probes.Group{
		Name: "free_space",
		Key:  "path",
		Entries: func(s *probes.Snapshot) []probes.State {
			out := make([]probes.State, len(s.Disk))
			for i, d := range s.Disk {
				out[i] = probes.State{Key: d.Path, Status: d.Status, Reason: d.Reason}
			}
			return out
		},
		Blank: func(probes.Status, string) probes.Result { return probes.Disks{} },
		Figures: []probes.Figure{{
			Field: "free_percent", Unit: probes.UnitPercent, Kind: probes.KindGauge,
			Metric: "vitals_free_space_ratio", Help: "Share of the filesystem still free, 0 to 1.",
			Value: func(s *probes.Snapshot, i int) *float64 {
				if p := s.Disk[i].Percent; p != nil {
					v := 100 - *p
					return &v
				}
				return nil
			},
		}},
	})
}

func TestAddingAGroupNeedsOnlyTheList(t *testing.T) {
	dir := t.TempDir()
	s := probes.NewSampler(probes.SamplerConfig{}, probes.NewDiskProbe(probes.HostConfig{DiskPaths: []string{dir}}))
	snap := s.Tick(context.Background()).Snapshot
	if len(snap.Disk) != 1 || snap.Disk[0].Status != probes.StatusOK {
		t.Fatalf("disk: %+v", snap.Disk)
	}
	groups := append(probes.Groups(), freeSpace())

	series := map[string]*float64{}
	states := map[string]probes.Status{}
	for _, g := range groups {
		g.Each(&snap, func(r probes.Reading) { series[r.Series] = r.Value })
		g.States(&snap, func(st probes.State) { states[st.Group+"["+st.Key+"]"] = st.Status })
	}
	name := "free_space[" + dir + "].free_percent"
	v, ok := series[name]
	if !ok || v == nil {
		t.Fatalf("%s missing from the walk: %v", name, series)
	}
	if want := 100 - *snap.Disk[0].Percent; *v != want {
		t.Errorf("%s = %v, want %v", name, *v, want)
	}
	if states["free_space["+dir+"]"] != probes.StatusOK {
		t.Errorf("states: %v", states)
	}
	// Define filled in what the definition implied.
	if f := freeSpace().Figures[0]; f.Series != "free_space[*].free_percent" || f.Group != "free_space" {
		t.Errorf("figure: %+v", f)
	}
	// and the built-in list is unchanged by it
	for _, f := range probes.Figures() {
		if f.Group == "free_space" {
			t.Error("the extra group leaked into probes.Figures")
		}
	}
}
