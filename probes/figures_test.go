package probes

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// eachGroupState is eachState over the whole group list, for tests that
// check every group's state.
func eachGroupState(snap *Snapshot, fn func(key string, st Status, reason string)) {
	eachState(Groups(), snap, fn)
}

// filledSnapshot returns a snapshot in which every group and entry is ok
// and every number and flag has a value of its own (1, 2, 3, ... in field
// order), so that a figure reading the wrong field shows.
func filledSnapshot() Snapshot {
	s := Snapshot{
		Disk:      []Disk{{Path: "/"}, {Path: "/data"}},
		HTTP:      []HTTPTarget{{Name: "api"}, {Name: "web"}},
		AppRoutes: []AppRoute{{Name: "GET /tracks/{id}", Method: "GET", Route: "/tracks/{id}"}, {Name: OtherRoute, Route: OtherRoute}},
	}
	next := 0.0
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[Instance]() || v.Type().PkgPath() != reflect.TypeFor[Snapshot]().PkgPath() {
				return
			}
			for i := range v.NumField() {
				fill(v.Field(i))
			}
		case reflect.Slice:
			for i := range v.Len() {
				fill(v.Index(i))
			}
		case reflect.Pointer:
			next++
			p := reflect.New(v.Type().Elem())
			switch p.Elem().Kind() {
			case reflect.Bool:
				p.Elem().SetBool(int(next)%2 == 1)
			case reflect.Float64:
				p.Elem().SetFloat(next + 0.5)
			case reflect.Int, reflect.Int64:
				p.Elem().SetInt(int64(next))
			case reflect.Uint64:
				p.Elem().SetUint(uint64(next))
			}
			v.Set(p)
		case reflect.Bool:
			v.SetBool(true)
		case reflect.String:
			if v.Type() == reflect.TypeFor[Status]() {
				v.SetString(string(StatusOK))
			}
		}
	}
	fill(reflect.ValueOf(&s).Elem())
	return s
}

// jsonGroups decodes s as the API serves it.
func jsonGroups(t *testing.T, s Snapshot) map[string]any {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// notFigures are the numbers and flags of the JSON snapshot that are no
// figure of their own: descriptions, carried as labels.
var notFigures = map[string]bool{"disk[*].data": true}

// TestFiguresReadTheirJSONField checks the list against the JSON contract
// both ways: every figure's value is the number its series names in the
// JSON snapshot, and every number the snapshot publishes is a figure.
func TestFiguresReadTheirJSONField(t *testing.T) {
	s := filledSnapshot()
	doc := jsonGroups(t, s)
	groups := Groups()
	seen := map[string]bool{}
	for _, g := range groups {
		g.Each(&s, func(r Reading) {
			f := r.Figure
			if seen[r.Series] {
				t.Errorf("%s: listed twice", r.Series)
			}
			seen[r.Series] = true
			entry, _ := doc[g.Name].(map[string]any)
			if g.Keyed() {
				for _, e := range doc[g.Name].([]any) {
					if m := e.(map[string]any); m[jsonKey(g.Name)] == r.Key {
						entry = m
					}
				}
			}
			var want float64
			switch v := entry[f.Field].(type) {
			case float64:
				want = v
			case bool:
				if v {
					want = 1
				}
			default:
				t.Errorf("%s: JSON has %T %v", r.Series, v, v)
				return
			}
			if r.Value == nil || math.Abs(*r.Value-want) > 1e-9 {
				t.Errorf("%s = %v, JSON says %v", r.Series, r.Value, want)
			}
		})
	}
	// every published number is listed
	listed := map[string]bool{}
	for _, f := range Figures() {
		listed[f.Series] = true
	}
	for _, g := range groups {
		var entries []any
		if g.Keyed() {
			entries = doc[g.Name].([]any)
		} else {
			entries = []any{doc[g.Name]}
		}
		for _, e := range entries {
			for field, v := range e.(map[string]any) {
				series := g.Name + "." + field
				if g.Keyed() {
					series = g.Name + "[*]." + field
				}
				switch v.(type) {
				case float64, bool:
					if !listed[series] && !notFigures[series] {
						t.Errorf("the snapshot publishes %s = %v, which is not in the figure list", series, v)
					}
				}
			}
		}
	}
	// and every group of the snapshot is in the list
	for name, v := range doc {
		switch v.(type) {
		case map[string]any, []any:
			if name != "instance" && groupOf(groups, name) == nil {
				t.Errorf("snapshot group %q is not in the group list", name)
			}
		}
	}
}

func jsonKey(group string) string {
	if group == "disk" {
		return "path"
	}
	return "name"
}

func groupOf(groups []Group, name string) *Group {
	for i := range groups {
		if groups[i].Name == name {
			return &groups[i]
		}
	}
	return nil
}

// TestFigureNames holds the list to the naming rules of the design: series
// by their snapshot path, units and kinds from the fixed sets, and a
// /metrics name in base units.
func TestFigureNames(t *testing.T) {
	units := map[Unit]bool{UnitPercent: true, UnitMillis: true, UnitSeconds: true, UnitBytes: true, UnitBytesPerSecond: true,
		UnitCores: true, UnitLoad: true, UnitCount: true, UnitBool: true, UnitStatusCode: true}
	for _, want := range []string{"cpu.percent", "memory.percent", "database.latency_ms", "disk[*].percent", "http[*].latency_ms"} {
		found := false
		for _, f := range Figures() {
			found = found || f.Series == want
		}
		if !found {
			t.Errorf("no figure %s", want)
		}
	}
	metrics := map[string]string{}
	for _, f := range Figures() {
		if !units[f.Unit] || (f.Kind != KindGauge && f.Kind != KindCounter) {
			t.Errorf("%s: unit %q kind %q", f.Series, f.Unit, f.Kind)
		}
		if f.Help == "" || !strings.HasPrefix(f.Metric, "vitals_"+strings.SplitN(f.Group, "_", 2)[0]) && !strings.HasPrefix(f.Metric, "vitals_host_") {
			t.Errorf("%s: metric %q help %q", f.Series, f.Metric, f.Help)
		}
		if f.Kind == KindCounter && !strings.HasSuffix(f.Metric, "_total") {
			t.Errorf("%s: counter %s without _total", f.Series, f.Metric)
		}
		if f.Unit == UnitPercent && !strings.HasSuffix(f.Metric, "_ratio") || f.Unit == UnitMillis && !strings.Contains(f.Metric, "_seconds") {
			t.Errorf("%s: %s is not in base units", f.Series, f.Metric)
		}
		if h, ok := metrics[f.Metric]; ok && h != f.Help {
			t.Errorf("%s: two help texts", f.Metric)
		}
		metrics[f.Metric] = f.Help
	}
}

// TestEachLeavesOutWhatIsNotOK: a group or entry that is not ok has no
// figures in the walk, even if a stale number were left in it.
func TestEachLeavesOutWhatIsNotOK(t *testing.T) {
	s := filledSnapshot()
	s.CPU.Status = StatusUnavailable
	s.Disk[1].Status = StatusUnavailable
	s.Disk = append(s.Disk, Disk{Status: StatusUnavailable, Reason: "placeholder"})
	got := map[string]bool{}
	s.Each(func(r Reading) { got[r.Series] = r.Value != nil })
	for series, want := range map[string]bool{"cpu.percent": false, "disk[/].percent": true, "disk[/data].percent": false, "memory.percent": true} {
		if present, listed := got[series]; !listed || present != want {
			t.Errorf("%s: listed %v, value %v; want value %v", series, listed, present, want)
		}
	}
	if _, ok := got["disk[].percent"]; ok {
		t.Error("an unnamed entry has a series")
	}
}
