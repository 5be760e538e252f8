package web

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

// series makes points from values, one a step of step from start; a NaN
// is a step without a sample.
func series(start time.Time, step time.Duration, vals ...float64) []history.Point {
	out := make([]history.Point, len(vals))
	for i, v := range vals {
		out[i] = history.Point{T: start.Add(time.Duration(i) * step).UnixMilli()}
		if v == v {
			out[i].Min, out[i].Max, out[i].Sum, out[i].Count = v, v, v, 1
		}
	}
	return out
}

var nan = func() float64 { z := 0.0; return z / z }()

// subpaths splits path data into its subpaths' x coordinates.
func subpaths(t *testing.T, d string) [][]float64 {
	t.Helper()
	var out [][]float64
	for _, sub := range strings.Split(d, "M")[1:] {
		var xs []float64
		for _, seg := range strings.Split(strings.TrimSuffix(strings.TrimSuffix(sub, "Z"), "h0"), "L") {
			f := strings.Fields(seg)
			if len(f) != 2 {
				t.Fatalf("segment %q of %q", seg, d)
			}
			x, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				t.Fatal(err)
			}
			xs = append(xs, x)
		}
		out = append(out, xs)
	}
	return out
}

func TestSparklineBreaksAtEveryGap(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	pts := series(start, 30*time.Second, 10, 20, nan, 30, nan, nan, 40, 50, 60)
	svg := string(Sparkline(pts))
	m := regexp.MustCompile(`<path d="([^"]*)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no path in %s", svg)
	}
	got := subpaths(t, m[1])
	want := [][]float64{{0, 1}, {3}, {6, 7, 8}}
	if len(got) != len(want) {
		t.Fatalf("subpaths %v, want the x's %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("subpath %d: %v, want %v", i, got[i], want[i])
		}
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("subpath %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
	if !strings.Contains(m[1], "M3 ") || !strings.Contains(m[1], "h0") {
		t.Errorf("the lone sample is not drawn as a dot: %s", m[1])
	}
	if !strings.Contains(svg, `aria-hidden="true"`) || strings.Contains(svg, "style=") {
		t.Errorf("sparkline: %s", svg)
	}
}

func TestSparklineWithoutSamplesIsEmpty(t *testing.T) {
	if svg := Sparkline(series(time.Unix(0, 0), time.Minute, nan, nan, nan)); svg != "" {
		t.Fatalf("a line of no samples: %s", svg)
	}
	if svg := Sparkline(nil); svg != "" {
		t.Fatalf("a line of nothing: %s", svg)
	}
}

func TestSparklineScalesFromZero(t *testing.T) {
	// A flat line at a constant stays inside the box (no division by a
	// zero spread), at its top: the scale starts at zero.
	svg := string(Sparkline(series(time.Unix(0, 0), time.Minute, 5, 5, 5)))
	if !strings.Contains(svg, `d="M0 1L1 1L2 1"`) {
		t.Fatalf("flat line: %s", svg)
	}
	svg = string(Sparkline(series(time.Unix(0, 0), time.Minute, 0, 10)))
	if !strings.Contains(svg, `d="M0 19L1 1"`) {
		t.Fatalf("0 to 10: %s", svg)
	}
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Fatal(svg)
	}
}

func testChart(t *testing.T, rangeName string, pts []history.Point, events []storage.Event, types []string) (*Chart, string) {
	t.Helper()
	rng, ok := history.RangeNamed(rangeName)
	if !ok {
		t.Fatal(rangeName)
	}
	c := NewChart("cpu.percent", rng, "", DefaultThresholds(), pts, events, types)
	cat, err := loadCatalog(English)
	if err != nil {
		t.Fatal(err)
	}
	return c, string(formatter{c: cat}.chartSVG(c, time.UTC))
}

func TestChartBandOnlyForRolledUpRanges(t *testing.T) {
	start := time.Unix(1_700_000_000, 0).Truncate(5 * time.Minute)
	pts := series(start, 5*time.Minute, 10, 20, nan, 30)
	pts[0].Min, pts[0].Max = 5, 15
	pts[1].Min, pts[1].Max, pts[1].Sum, pts[1].Count = 12, 40, 60, 3
	c, svg := testChart(t, "24h", pts, nil, nil)
	if !c.Band {
		t.Fatal("24h is rolled up: it has a band")
	}
	m := regexp.MustCompile(`class="band" d="([^"]*)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no band: %s", svg)
	}
	// One closed shape per run of samples, none across the gap.
	if n := strings.Count(m[1], "Z"); n != 2 {
		t.Fatalf("band %q has %d shapes, want 2", m[1], n)
	}
	// The gap is step 2, centred at 375 (600/4 a step).
	for _, sub := range subpaths(t, m[1]) {
		for _, x := range sub {
			if x == 375 {
				t.Fatalf("band drawn over the gap: %v", sub)
			}
		}
	}
	// Each step's mean, min and max are named on hover.
	if !strings.Contains(svg, "<title>") || !regexp.MustCompile(`mean 20\.0\W+%, min 12\.0\W+%, max 40\.0\W+%`).MatchString(svg) {
		t.Fatalf("band values not in the tooltips: %s", svg)
	}
	if !strings.Contains(svg, ": no samples</title>") {
		t.Fatal("the gap's tooltip does not say it had no samples")
	}
	_, svg = testChart(t, "1h", series(start, 30*time.Second, 1, 2, 3), nil, nil)
	if strings.Contains(svg, `class="band"`) {
		t.Fatal("raw range drawn with a band")
	}
}

func TestChartLineBreaksAtGaps(t *testing.T) {
	start := time.Unix(1_700_000_000, 0).Truncate(time.Minute)
	_, svg := testChart(t, "1h", series(start, 30*time.Second, 1, 2, nan, nan, 3, 4, nan, 5), nil, nil)
	m := regexp.MustCompile(`class="line" d="([^"]*)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatal(svg)
	}
	if got := subpaths(t, m[1]); len(got) != 3 || len(got[0]) != 2 || len(got[1]) != 2 || len(got[2]) != 1 {
		t.Fatalf("line %q: subpaths %v", m[1], got)
	}
}

func TestChartThresholdLines(t *testing.T) {
	start := time.Unix(1_700_000_000, 0).Truncate(time.Minute)
	_, svg := testChart(t, "1h", series(start, 30*time.Second, 10, 20), nil, nil)
	warn := regexp.MustCompile(`class="th-warn" x1="0" x2="600" y1="([0-9.]+)"`).FindStringSubmatch(svg)
	crit := regexp.MustCompile(`class="th-crit" x1="0" x2="600" y1="([0-9.]+)"`).FindStringSubmatch(svg)
	if warn == nil || crit == nil {
		t.Fatalf("no limit lines: %s", svg)
	}
	w, _ := strconv.ParseFloat(warn[1], 64)
	c, _ := strconv.ParseFloat(crit[1], 64)
	// The critical 90 % is above (a smaller y than) the warning 70 %,
	// and both inside the plot although the data stay at 20 %.
	if !(c < w && c > markH && w < chartH) {
		t.Fatalf("warn at y %v, crit at y %v", w, c)
	}
	if !strings.Contains(svg, "warning at 70") || !strings.Contains(svg, "critical at 90") {
		t.Fatalf("limit lines not titled: %s", svg)
	}
}

func TestChartMarkersPerStep(t *testing.T) {
	start := time.Unix(1_700_000_000, 0).Truncate(time.Minute)
	pts := series(start, 30*time.Second, 1, 2, 3, 4)
	at := start.Add
	// Newest first, as the store lists them; one before the range.
	events := []storage.Event{
		{ID: 5, Type: "stream_started", CreatedAt: at(95 * time.Second)},
		{ID: 4, Type: "user_registered", CreatedAt: at(40 * time.Second)},
		{ID: 3, Type: "user_registered", CreatedAt: at(35 * time.Second)},
		{ID: 2, Type: `x<b>&"y`, CreatedAt: at(31 * time.Second)},
		{ID: 1, Type: "user_registered", CreatedAt: at(-time.Hour)},
	}
	c, svg := testChart(t, "1h", pts, events, nil)
	if c.Events[0].ID != 1 {
		t.Fatal("events not oldest first")
	}
	if n := strings.Count(svg, `<g class="mk">`); n != 2 {
		t.Fatalf("%d markers, want 2 (steps 1 and 3): %s", n, svg)
	}
	if !strings.Contains(svg, "Registered ×2") {
		t.Errorf("the marker does not count its events: %s", svg)
	}
	if strings.Contains(svg, "x<b>") || !strings.Contains(svg, "x&lt;b&gt;&amp;&#34;y") {
		t.Errorf("an event type is not escaped: %s", svg)
	}
	// The markers sit on their steps' centres: 600/4 a step.
	if !strings.Contains(svg, `<line x1="225" x2="225"`) || !strings.Contains(svg, `<line x1="525" x2="525"`) {
		t.Errorf("markers not at steps 1 and 3: %s", svg)
	}
}

func TestChartRendersInBothLanguages(t *testing.T) {
	s := newSite(t)
	start := time.Now().Truncate(time.Hour)
	rng, _ := history.RangeNamed("7d")
	pts := series(start, time.Hour, 10, nan, 30)
	snap := fullSnapshot()
	for _, lang := range Langs() {
		page := Page{Lang: lang, Snapshot: &snap, Limits: DefaultThresholds(), Location: time.UTC,
			Chart: NewChart("disk[<x>].percent", rng, "other", DefaultThresholds(), pts,
				[]storage.Event{{ID: 1, Type: "track_added", CreatedAt: start.Add(time.Hour)}}, []string{"track_added"})}
		var b bytes.Buffer
		if err := s.Render(&b, lang, "chart", page); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, want := range []string{`id="chart"`, `aria-current="true"`, "instance=other", `name="types" value="track_added" checked`, `colspan="3" class="gap"`} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %s in %s", lang, want, out)
			}
		}
		if strings.Contains(out, "<x>") || strings.Contains(out, "chart.") || strings.Contains(out, "style=") || strings.Contains(out, "<script") {
			t.Errorf("%s: unescaped, unworded or inline: %s", lang, out)
		}
		if lang == Russian && !strings.Contains(out, "Период") {
			t.Errorf("Russian chart not in Russian: %s", out)
		}
		if n := strings.Count(out, "<tr><th scope=\"row\">"); n != 3 {
			t.Errorf("%s: %d table rows, want 3", lang, n)
		}
		// Steps without samples in a row are one row.
		run := NewChart("cpu.percent", rng, "", DefaultThresholds(), series(start, time.Hour, 1, nan, nan, nan, 2), nil, nil)
		b.Reset()
		if err := s.Render(&b, lang, "chart", Page{Lang: lang, Snapshot: &snap, Location: time.UTC, Chart: run}); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(b.String(), "<tr><th scope=\"row\">"); n != 3 || strings.Count(b.String(), `class="gap"`) != 1 || !strings.Contains(b.String(), " – ") {
			t.Errorf("%s: a run of gaps in %d rows: %s", lang, n, b.String())
		}
	}
}

func TestCardSeriesNameTheirCards(t *testing.T) {
	snap := fullSnapshot()
	for _, cs := range CardSeriesOf(&snap) {
		if !history.KnownSeries(cs.Series) {
			t.Errorf("card %s draws %s, not a series of the history", cs.Card, cs.Series)
		}
		if title, _ := seriesCard(cs.Series, DefaultThresholds()); title == "" {
			t.Errorf("card %s: series %s has no title", cs.Card, cs.Series)
		}
		if seriesUnit(cs.Series) == "" {
			t.Errorf("card %s: series %s has no unit", cs.Card, cs.Series)
		}
	}
	if _, l := seriesCard("disk[/data].percent", DefaultThresholds()); l == nil || *l != probes.DefaultThresholds().DiskPercent {
		t.Error("a disk's chart has not the disk card's limits")
	}
}
