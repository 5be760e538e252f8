package handlers_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/probes"
)

// TestOpenAPIDescribesEveryFigure checks the figure list against the
// OpenAPI snapshot schema: every figure is a property of its group's
// schema (of its entries', for a keyed group), required, nullable, with a
// description and a JSON type that fits its unit.
func TestOpenAPIDescribesEveryFigure(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]schemaDoc `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(handlers.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc.Components.Schemas
	snapshot := schemas["Snapshot"]
	for _, g := range probes.Groups() {
		prop, ok := snapshot.Properties[g.Name]
		if !ok {
			t.Errorf("group %s is not a property of the Snapshot schema", g.Name)
			continue
		}
		ref := prop.Ref
		if g.Keyed() {
			if prop.Items == nil {
				t.Errorf("keyed group %s is not an array in the Snapshot schema", g.Name)
				continue
			}
			ref = prop.Items.Ref
		}
		group := schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		for _, f := range g.Figures {
			p, ok := group.Properties[f.Field]
			switch {
			case !ok:
				t.Errorf("%s: no property %q in the OpenAPI schema %s", f.Series, f.Field, ref)
				continue
			case !slices.Contains(group.Required, f.Field):
				t.Errorf("%s: %q is not required in %s (a figure is always there, null when absent)", f.Series, f.Field, ref)
			case p.Description == "":
				t.Errorf("%s: %q has no description in %s", f.Series, f.Field, ref)
			}
			want := []string{"number", "integer"}
			if f.Unit == probes.UnitBool {
				want = []string{"boolean"}
			}
			if !slices.ContainsFunc(p.types(), func(s string) bool { return slices.Contains(want, s) }) {
				t.Errorf("%s: %q has type %v in %s, want one of %v", f.Series, f.Field, p.types(), ref, want)
			}
			if f.Unit != probes.UnitBool && !slices.Contains(p.types(), "null") {
				t.Errorf("%s: %q is not nullable in %s", f.Series, f.Field, ref)
			}
		}
	}
}

type schemaDoc struct {
	Ref         string               `json:"$ref"`
	Type        any                  `json:"type"`
	Items       *schemaDoc           `json:"items"`
	Required    []string             `json:"required"`
	Properties  map[string]schemaDoc `json:"properties"`
	Description string               `json:"description"`
}

func (s schemaDoc) types() []string {
	switch v := s.Type.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

// notFromTheList are the metrics of docs/metrics.md that no group figure
// makes: the build, the instance, the snapshot's time, the per-group up
// and source series, and the collectors of handlers.Metrics.
var notFromTheList = []string{
	"vitals_build_info", "vitals_instance_info", "vitals_snapshot_timestamp_seconds", "vitals_probe_up",
	"vitals_source_info", "vitals_api_request_duration_seconds", "vitals_events_ingested_total",
}

// TestMetricsDocDescribesEveryFigure checks docs/metrics.md against the
// figure list both ways: every metric the list makes is in the metrics
// table, every figure's series is in the series table with its unit and
// kind, every group is named under vitals_probe_up, and the tables name
// nothing the list does not make.
func TestMetricsDocDescribesEveryFigure(t *testing.T) {
	raw, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	metricsTable, seriesTable := section(md, "## The metrics"), section(md, "## Series")
	if metricsTable == "" || seriesTable == "" {
		t.Fatal(`docs/metrics.md lacks the "## The metrics" or the "## Series" section`)
	}
	made := map[string]bool{}
	for _, m := range notFromTheList {
		made[m] = true
	}
	upRow := rowOf(metricsTable, "vitals_probe_up")
	for _, g := range probes.Groups() {
		if !strings.Contains(upRow, "`"+g.Name+"`") {
			t.Errorf("group %s is not among vitals_probe_up's groups in docs/metrics.md", g.Name)
		}
		if g.Keyed() {
			made[g.Metric+"_up"] = true
		}
		if g.InfoHelp != "" {
			made[g.Metric+"_info"] = true
		}
		for _, f := range g.Figures {
			made[f.Metric] = true
			row := rowOf(seriesTable, f.Series)
			if row == "" {
				t.Errorf("series %s is missing from the series table of docs/metrics.md", f.Series)
				continue
			}
			for _, want := range []string{"`" + string(f.Unit) + "`", string(f.Kind), "`" + f.Metric + "`"} {
				if !strings.Contains(row, want) {
					t.Errorf("docs/metrics.md: the row of %s does not say %s: %s", f.Series, want, row)
				}
			}
		}
	}
	for m := range made {
		if rowOf(metricsTable, m) == "" {
			t.Errorf("metric %s is missing from the metrics table of docs/metrics.md", m)
		}
	}
	for _, m := range regexp.MustCompile("`(vitals_[a-z0-9_]+)`").FindAllStringSubmatch(metricsTable, -1) {
		if !made[m[1]] {
			t.Errorf("docs/metrics.md lists %s, which nothing exports", m[1])
		}
	}
	listed := map[string]bool{}
	for _, f := range probes.Figures() {
		listed[f.Series] = true
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(seriesTable, -1) {
		if !listed[m[1]] {
			t.Errorf("docs/metrics.md lists series %s, which is not in the figure list", m[1])
		}
	}
}

// section returns the text of the markdown section that starts with
// heading, up to the next heading of the same level.
func section(md, heading string) string {
	i := strings.Index(md, "\n"+heading+"\n")
	if i < 0 {
		return ""
	}
	rest := md[i+len(heading)+2:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// rowOf returns the table row of text whose first cell names name in
// backticks (alone or among others), "" when there is none.
func rowOf(text, name string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if first, _, ok := strings.Cut(strings.TrimPrefix(line, "| "), " |"); ok && strings.HasPrefix(line, "| ") &&
			strings.Contains(first, "`"+name+"`") {
			return line
		}
	}
	return ""
}
