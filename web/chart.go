package web

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

// CardSeries is the series a card's sparkline draws: Card is the card's
// id without its "card-" prefix.
type CardSeries struct {
	Card, Series string
}

// CardSeriesOf lists the series the cards of s draw, one a card: the
// figure each card leads with and is judged by. Cards whose group is not
// read draw nothing (their history would be empty or from another
// configuration).
func CardSeriesOf(s *probes.Snapshot) []CardSeries {
	var out []CardSeries
	add := func(card, series string, st probes.Status) {
		if st == probes.StatusOK {
			out = append(out, CardSeries{card, series})
		}
	}
	add("cpu", "cpu.percent", s.CPU.Status)
	add("memory", "memory.percent", s.Memory.Status)
	for i, d := range s.Disk {
		if d.Path != "" {
			add("disk-"+strconv.Itoa(i), "disk["+d.Path+"].percent", d.Status)
		}
	}
	add("load", "load.load5_per_core", s.Load.Status)
	add("network", "network.receive_bytes_per_second", s.Network.Status)
	if s.Database.ServerConnections != nil {
		add("db-connections", "database.server_connections_percent", s.Database.Status)
	} else {
		add("db-connections", "database.connections_percent", s.Database.Status)
	}
	add("db-latency", "database.latency_ms", s.Database.Status)
	add("redis", "redis.latency_ms", s.Redis.Status)
	if len(s.HTTP) > 0 && s.HTTP[0].Name != "" {
		add("http", "http["+s.HTTP[0].Name+"].latency_ms", s.HTTP[0].Status)
	}
	add("app", "app.p95_ms", s.App.Status)
	return out
}

// seriesPattern is name with an entry's key replaced by the wildcard:
// "disk[/].percent" is "disk[*].percent".
func seriesPattern(name string) string {
	i, j := strings.IndexByte(name, '['), strings.LastIndexByte(name, ']')
	if i < 0 || j < i {
		return name
	}
	return name[:i] + "[*]" + name[j+1:]
}

// seriesCard is the catalogue key of the title of the card that draws
// series, and the limits that card is judged by (nil: none); "" for a
// series no card draws.
func seriesCard(series string, t Thresholds) (string, *Limit) {
	switch seriesPattern(series) {
	case "cpu.percent":
		return "card.cpu", &t.CPUPercent
	case "memory.percent":
		return "card.memory", &t.MemoryPercent
	case "disk[*].percent":
		return "card.disk", &t.DiskPercent
	case "load.load5_per_core":
		return "card.load", &t.LoadPerCore
	case "network.receive_bytes_per_second":
		return "card.network", nil
	case "database.server_connections_percent", "database.connections_percent":
		return "card.db_connections", &t.ConnectionsPercent
	case "database.latency_ms":
		return "card.db_latency", &t.DatabaseLatencyMS
	case "redis.latency_ms":
		return "card.redis", &t.RedisLatencyMS
	case "http[*].latency_ms":
		return "card.http", &t.HTTPLatencyMS
	case "app.p95_ms":
		return "card.api", &t.APIP95MS
	}
	return "", nil
}

// seriesUnit is the unit of series' figure.
func seriesUnit(series string) probes.Unit {
	for _, f := range probes.Figures() {
		if f.Series == seriesPattern(series) {
			return f.Unit
		}
	}
	return ""
}

// ChartURL is the chart fragment of series over rng, of instance ("" for
// the serving one), with the event types types.
func ChartURL(series, rng, instance string, types []string) string {
	v := url.Values{}
	v.Set("series", series)
	v.Set("range", rng)
	if instance != "" {
		v.Set("instance", instance)
	}
	if len(types) > 0 {
		v.Set("types", strings.Join(types, ","))
	}
	return "/partials/chart?" + v.Encode()
}

// Spark is one card's sparkline: its last hour, drawn, and the chart it
// opens.
type Spark struct {
	Series, Title string
	Href          string
	SVG           template.HTML
}

// Spark returns the sparkline of the card called card, nil when it has
// none (no history yet, or the store could not be read).
func (p Page) Spark(card string) *Spark {
	return p.Sparks[card]
}

// Sparks draws the sparklines of the cards of snap from their last hour,
// series[i] read as points[i]; a card without a sample in the hour gets
// none.
func Sparks(snap *probes.Snapshot, t Thresholds, instance string, series []CardSeries, points [][]history.Point) map[string]*Spark {
	out := make(map[string]*Spark, len(series))
	for i, cs := range series {
		svg := Sparkline(points[i])
		if svg == "" {
			continue
		}
		title, _ := seriesCard(cs.Series, t)
		out[cs.Card] = &Spark{Series: cs.Series, Title: title, SVG: svg, Href: ChartURL(cs.Series, "1h", instance, nil)}
	}
	return out
}

// The sparkline's drawing box: one unit a step across, sparkH high.
const sparkH = 20

// Sparkline draws points' means as a line, scaled to their own spread
// from zero (or from their least value when below zero); a run of steps
// without a sample is a gap in the line. It is empty when no step has a
// sample. The image is decorative (aria-hidden): the link around it names
// the chart it opens.
func Sparkline(points []history.Point) template.HTML {
	lo, hi, ok := spread(points, false)
	if !ok {
		return ""
	}
	lo = min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	n := len(points)
	var b strings.Builder
	b.Grow(64 + n*12)
	b.WriteString(`<svg class="spark" viewBox="0 0 `)
	b.WriteString(strconv.Itoa(max(n-1, 1)))
	b.WriteString(` ` + strconv.Itoa(sparkH) + `" preserveAspectRatio="none" aria-hidden="true" focusable="false"><path d="`)
	y := func(v float64) float64 { return 1 + (sparkH-2)*(hi-v)/(hi-lo) }
	writeLine(&b, points, func(i int) float64 { return float64(i) }, y)
	b.WriteString(`" vector-effect="non-scaling-stroke"/></svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers only
}

// spread is the least and greatest value of points' sampled steps: of
// their means, or of their minimums and maximums when band is true.
func spread(points []history.Point, band bool) (lo, hi float64, ok bool) {
	for _, p := range points {
		if p.Count == 0 {
			continue
		}
		a, z := p.Mean(), p.Mean()
		if band {
			a, z = p.Min, p.Max
		}
		if !ok {
			lo, hi, ok = a, z, true
			continue
		}
		lo, hi = min(lo, a), max(hi, z)
	}
	return lo, hi, ok
}

// writeLine writes the path data of points' means: a new subpath ("M")
// after every gap, so that the line is never drawn across a step without
// a sample; a lone sample is a zero-length segment, which the round cap
// shows as a dot.
func writeLine(b *strings.Builder, points []history.Point, x func(int) float64, y func(float64) float64) {
	in := false
	for i, p := range points {
		if p.Count == 0 {
			in = false
			continue
		}
		lone := !in && (i+1 == len(points) || points[i+1].Count == 0)
		if in {
			b.WriteByte('L')
		} else {
			b.WriteByte('M')
		}
		writeXY(b, x(i), y(p.Mean()))
		if lone {
			b.WriteString("h0")
		}
		in = true
	}
}

// writeBand writes the path data of points' min-to-max band: one closed
// shape per run of sampled steps, along the maximums and back along the
// minimums.
func writeBand(b *strings.Builder, points []history.Point, x func(int) float64, y func(float64) float64) {
	for i := 0; i < len(points); {
		if points[i].Count == 0 {
			i++
			continue
		}
		j := i
		for j < len(points) && points[j].Count > 0 {
			j++
		}
		for k := i; k < j; k++ {
			if k == i {
				b.WriteByte('M')
			} else {
				b.WriteByte('L')
			}
			writeXY(b, x(k), y(points[k].Max))
		}
		for k := j - 1; k >= i; k-- {
			b.WriteByte('L')
			writeXY(b, x(k), y(points[k].Min))
		}
		b.WriteByte('Z')
		i = j
	}
}

func writeXY(b *strings.Builder, x, y float64) {
	b.WriteString(coord(x))
	b.WriteByte(' ')
	b.WriteString(coord(y))
}

// coord is a drawing coordinate with one decimal, the most a chart a few
// hundred pixels wide can show.
func coord(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0")
}

// ChartRange is one entry of the chart's range switch.
type ChartRange struct {
	Name, Href string
	Current    bool
}

// Chart is the larger chart a card opens: one series over one range, at
// the range's step, with the card's limits and the range's events.
type Chart struct {
	Series string
	// Title is the catalogue key of the card's title, "" for a series no
	// card draws (the page shows the series' name).
	Title    string
	Range    history.Range
	Ranges   []ChartRange
	Instance string
	Unit     probes.Unit
	Limit    *Limit
	Points   []history.Point
	// Events are the range's events, oldest first.
	Events []storage.Event
	Chips  []Chip
	// Types are the event types the chips chose, for the form.
	Types []string
	// Band is true for a range whose steps gather several samples: the
	// chart shows their min-to-max spread around the mean.
	Band bool
	// Sampled is how many steps have a sample.
	Sampled int
	// texts are the steps worded, made once for the image and the table.
	texts []stepText
}

// stepText is one step worded: its time, and its mean, min and max by the
// chart's unit ("" for a gap).
type stepText struct {
	when, mean, min, max string
}

// words returns c's steps worded by f in loc, worded on the first call.
func (f formatter) words(c *Chart, loc *time.Location) []stepText {
	if c.texts != nil {
		return c.texts
	}
	c.texts = make([]stepText, len(c.Points))
	for i, p := range c.Points {
		w := stepText{when: c.stamp(p.T, loc)}
		if p.Count > 0 {
			mean := p.Mean()
			w.mean = f.figure(c.Unit, &mean)
			if c.Band {
				w.min, w.max = f.figure(c.Unit, &p.Min), f.figure(c.Unit, &p.Max)
			}
		}
		c.texts[i] = w
	}
	return c.texts
}

// NewChart is series' chart over rng from res (the reader's answer for
// that one series) and the range's events (newest first, as the store
// lists them).
func NewChart(series string, rng history.Range, instance string, t Thresholds, points []history.Point, events []storage.Event, types []string) *Chart {
	title, limit := seriesCard(series, t)
	c := &Chart{Series: series, Title: title, Range: rng, Instance: instance, Unit: seriesUnit(series), Limit: limit,
		Points: points, Types: types, Chips: Chips(types), Band: rng.Step > sampleStep}
	for _, r := range history.Ranges() {
		c.Ranges = append(c.Ranges, ChartRange{Name: r.Name, Href: ChartURL(series, r.Name, instance, types), Current: r.Name == rng.Name})
	}
	c.Events = make([]storage.Event, len(events))
	for i, e := range events {
		c.Events[len(events)-1-i] = e
	}
	for _, p := range points {
		if p.Count > 0 {
			c.Sampled++
		}
	}
	return c
}

// sampleStep is the default history interval: a range whose step is
// longer gathers several samples a step, and its chart shows their band.
const sampleStep = 30 * time.Second

// The chart's drawing box: chartW across, chartH high; the top markH
// hold the event markers, the plot is below.
const (
	chartW = 600
	chartH = 200
	markH  = 12
)

// chartScale is the value range the chart's plot spans: the samples' and
// the card's limits, from zero unless a value is below it, so that a line
// far below its warning level is seen to be.
func (c *Chart) scale() (lo, hi float64) {
	lo, hi, _ = spread(c.Points, c.Band)
	lo = min(lo, 0)
	if c.Limit != nil {
		hi = max(hi, c.Limit.Warn, c.Limit.Crit)
	}
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi + (hi-lo)*0.05
}

// stamp words a step's time in loc, as precise as the range's step.
func (c *Chart) stamp(ms int64, loc *time.Location) string {
	t := time.UnixMilli(ms).In(loc)
	switch {
	case c.Range.Step >= 24*time.Hour:
		return t.Format("2006-01-02")
	case c.Range.Span > 24*time.Hour:
		return t.Format("01-02 15:04")
	case c.Range.Step < time.Minute:
		return t.Format("15:04:05")
	}
	return t.Format("15:04")
}

// chartSVG draws c: its limits as lines, its band, its line (broken at
// every gap), a column per step that says the step's time and value on
// hover, and its events as markers along the top, one per step that has
// any, saying their types.
func (f formatter) chartSVG(c *Chart, loc *time.Location) template.HTML {
	if loc == nil {
		loc = time.UTC
	}
	n := len(c.Points)
	lo, hi := c.scale()
	sw := float64(chartW) / float64(max(n, 1))
	x := func(i int) float64 { return (float64(i) + 0.5) * sw }
	y := func(v float64) float64 { return markH + 2 + (chartH-markH-4)*(hi-v)/(hi-lo) }
	var b strings.Builder
	b.Grow(2048 + n*160)
	b.WriteString(`<svg class="plot" viewBox="0 0 ` + strconv.Itoa(chartW) + ` ` + strconv.Itoa(chartH) + `" preserveAspectRatio="none" role="img" aria-label="`)
	b.WriteString(template.HTMLEscapeString(f.c.MustT("chart.img", "n", c.Sampled, "m", n)))
	b.WriteString(`">`)
	b.WriteString(`<rect class="frame" x="0" y="` + strconv.Itoa(markH) + `" width="` + strconv.Itoa(chartW) + `" height="` + strconv.Itoa(chartH-markH) + `"/>`)
	if c.Limit != nil {
		for _, l := range [...]struct {
			cls, key string
			v        float64
		}{{"th-warn", "chart.warn", c.Limit.Warn}, {"th-crit", "chart.crit", c.Limit.Crit}} {
			b.WriteString(`<line class="` + l.cls + `" x1="0" x2="` + strconv.Itoa(chartW) + `" y1="`)
			b.WriteString(coord(y(l.v)))
			b.WriteString(`" y2="`)
			b.WriteString(coord(y(l.v)))
			b.WriteString(`" vector-effect="non-scaling-stroke"><title>`)
			b.WriteString(template.HTMLEscapeString(f.c.MustT(l.key, "v", f.figure(c.Unit, &l.v))))
			b.WriteString(`</title></line>`)
		}
	}
	if c.Band {
		b.WriteString(`<path class="band" d="`)
		writeBand(&b, c.Points, x, y)
		b.WriteString(`"/>`)
	}
	b.WriteString(`<path class="line" d="`)
	writeLine(&b, c.Points, x, y)
	b.WriteString(`" vector-effect="non-scaling-stroke"/>`)
	// Hover columns, one a step, each naming its step. The band's
	// wording is looked up once with markers for its three values, which
	// each step then fills: a catalogue lookup per step costs more than
	// the rest of the step's drawing.
	words := f.words(c, loc)
	bandText := f.c.MustT("chart.band", "mean", "\x01", "min", "\x02", "max", "\x03")
	for i := range c.Points {
		b.WriteString(`<rect class="hit" x="`)
		b.WriteString(coord(float64(i) * sw))
		b.WriteString(`" y="` + strconv.Itoa(markH) + `" width="`)
		b.WriteString(coord(sw))
		b.WriteString(`" height="` + strconv.Itoa(chartH-markH) + `"><title>`)
		if w := words[i]; c.Band && w.mean != "" {
			writeBandText(&b, bandText, w)
		} else {
			b.WriteString(template.HTMLEscapeString(f.pointText(c, w)))
		}
		b.WriteString(`</title></rect>`)
	}
	f.writeMarkers(&b, c, sw, loc)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped, the rest are numbers
}

// pointText words one step: its time and its value (mean, min and max
// for a banded range), or that it had no sample.
func (f formatter) pointText(c *Chart, w stepText) string {
	switch {
	case w.mean == "":
		return w.when + ": " + f.c.MustT("chart.gap")
	case !c.Band:
		return w.when + ": " + w.mean
	}
	return w.when + ": " + f.c.MustT("chart.band", "mean", w.mean, "min", w.min, "max", w.max)
}

// writeBandText writes a banded step's tooltip, escaped: its time, then
// text (chart.band worded with \x01, \x02 and \x03 for the mean, the
// min and the max) with the step's values in place of the markers.
func writeBandText(b *strings.Builder, text string, w stepText) {
	b.WriteString(template.HTMLEscapeString(w.when))
	b.WriteString(": ")
	for text != "" {
		i := strings.IndexAny(text, "\x01\x02\x03")
		if i < 0 {
			b.WriteString(template.HTMLEscapeString(text))
			return
		}
		b.WriteString(template.HTMLEscapeString(text[:i]))
		switch text[i] {
		case 1:
			b.WriteString(template.HTMLEscapeString(w.mean))
		case 2:
			b.WriteString(template.HTMLEscapeString(w.min))
		default:
			b.WriteString(template.HTMLEscapeString(w.max))
		}
		text = text[i+1:]
	}
}

// writeMarkers draws the events as markers: per step with events, a tick
// along the top and a thin line down the plot, its tooltip the time and
// the types.
func (f formatter) writeMarkers(b *strings.Builder, c *Chart, sw float64, loc *time.Location) {
	if len(c.Events) == 0 || len(c.Points) == 0 {
		return
	}
	start, step := c.Points[0].T, c.Range.Step.Milliseconds()
	labels := map[string]string{}
	for i := 0; i < len(c.Events); {
		k := (c.Events[i].CreatedAt.UnixMilli() - start) / step
		j := i
		counts := map[string]int{}
		var order []string
		for j < len(c.Events) && (c.Events[j].CreatedAt.UnixMilli()-start)/step == k {
			t := c.Events[j].Type
			if counts[t] == 0 {
				order = append(order, t)
			}
			counts[t]++
			j++
		}
		if k >= 0 && k < int64(len(c.Points)) {
			xm := (float64(k) + 0.5) * sw
			b.WriteString(`<g class="mk"><line x1="`)
			b.WriteString(coord(xm))
			b.WriteString(`" x2="`)
			b.WriteString(coord(xm))
			b.WriteString(`" y1="` + strconv.Itoa(markH) + `" y2="` + strconv.Itoa(chartH) + `" vector-effect="non-scaling-stroke"/><rect x="`)
			b.WriteString(coord(xm - max(sw, 4)/2))
			b.WriteString(`" y="0" width="`)
			b.WriteString(coord(max(sw, 4)))
			b.WriteString(`" height="` + strconv.Itoa(markH) + `"><title>`)
			b.WriteString(template.HTMLEscapeString(f.markerText(c, c.Points[k].T, counts, order, labels, loc)))
			b.WriteString(`</title></rect></g>`)
		}
		i = j
	}
}

// markerText words one marker: the step's time and each type's label
// with how many events of it the step had.
func (f formatter) markerText(c *Chart, ms int64, counts map[string]int, order []string, labels map[string]string, loc *time.Location) string {
	parts := make([]string, len(order))
	for i, t := range order {
		l, ok := labels[t]
		if !ok {
			l = f.typeLabel(t)
			labels[t] = l
		}
		parts[i] = l
		if counts[t] > 1 {
			parts[i] += " ×" + strconv.Itoa(counts[t])
		}
	}
	return c.stamp(ms, loc) + ": " + strings.Join(parts, ", ")
}

// chartRows is the chart's data as table rows, for the keyboard and
// screen readers: each step's time and value, a gap said as such.
func (f formatter) chartRows(c *Chart, loc *time.Location) template.HTML {
	if loc == nil {
		loc = time.UTC
	}
	var b strings.Builder
	b.Grow(len(c.Points) * 80)
	cells := 1
	if c.Band {
		cells = 3
	}
	gap := template.HTMLEscapeString(f.c.MustT("chart.gap"))
	words := f.words(c, loc)
	for i := 0; i < len(words); i++ {
		w := words[i]
		b.WriteString(`<tr><th scope="row">`)
		b.WriteString(template.HTMLEscapeString(w.when))
		if w.mean == "" {
			// A run of steps without samples is one row, from its first
			// step to its last: a stop of an hour is one line to read,
			// not a hundred.
			j := i
			for j+1 < len(words) && words[j+1].mean == "" {
				j++
			}
			if j > i {
				b.WriteString(" – ")
				b.WriteString(template.HTMLEscapeString(words[j].when))
			}
			b.WriteString(`</th><td colspan="` + strconv.Itoa(cells) + `" class="gap">`)
			b.WriteString(gap)
			b.WriteString(`</td></tr>`)
			i = j
			continue
		}
		b.WriteString(`</th>`)
		vals := []string{w.mean}
		if c.Band {
			vals = append(vals, w.min, w.max)
		}
		for _, v := range vals {
			b.WriteString(`<td>`)
			b.WriteString(template.HTMLEscapeString(v))
			b.WriteString(`</td>`)
		}
		b.WriteString(`</tr>`)
	}
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

// chartScaleText words the plot's value range, for the labels beside it.
func (f formatter) chartScaleText(c *Chart) [2]string {
	lo, hi := c.scale()
	return [2]string{f.figure(c.Unit, &hi), f.figure(c.Unit, &lo)}
}

// chartSpan words the first and the last step's time.
func chartSpan(c *Chart, loc *time.Location) [2]string {
	if loc == nil {
		loc = time.UTC
	}
	if len(c.Points) == 0 {
		return [2]string{}
	}
	return [2]string{c.stamp(c.Points[0].T, loc), c.stamp(c.Points[len(c.Points)-1].T, loc)}
}

// limitText words a limit's value by the chart's unit.
func (f formatter) limitText(c *Chart, v float64) string { return f.figure(c.Unit, &v) }
