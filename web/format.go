package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

// formatter words figures in one language: decimal separator, units and
// relative times come from its catalogue. Each takes the snapshot's
// nullable figures and prints "N/A" for a missing one, never 0.
type formatter struct {
	c *Catalog
	// figures indexes the figure list (probes.Figures) by series, for
	// fig; nil in tests that format plain values only.
	figures map[string]probes.Figure
}

// figureIndex indexes the figure list by series ("disk[*].percent").
func figureIndex() map[string]probes.Figure {
	idx := map[string]probes.Figure{}
	for _, f := range probes.Figures() {
		idx[f.Series] = f
	}
	return idx
}

// fig words the figure named series, of entry i of a keyed group (0 for
// a group with one entry), by the unit the figure list gives it, so that
// a card names what it shows and never how to format it. An unknown
// series is a template error, which the render test catches.
func (f formatter) fig(s *probes.Snapshot, series string, i ...int) (string, error) {
	fig, ok := f.figures[series]
	if !ok {
		return "", fmt.Errorf("fig: no figure %q", series)
	}
	entry := 0
	if len(i) > 0 {
		entry = i[0]
	}
	return f.figure(fig.Unit, fig.Value(s, entry)), nil
}

// figure words v by its unit.
func (f formatter) figure(u probes.Unit, v *float64) string {
	switch {
	case v == nil:
		return f.na()
	case u == probes.UnitPercent:
		return f.percent(v)
	case u == probes.UnitMillis:
		return f.millis(v)
	case u == probes.UnitBytes:
		return f.size(*v)
	case u == probes.UnitBytesPerSecond:
		return f.rate(v)
	case u == probes.UnitCores:
		// "2 cores", "0.5 cores": a quota is rarely fractional, and "2.00"
		// reads as a measurement.
		s := f.decimal(*v, 2)
		if strings.ContainsAny(s, ".,") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".,")
		}
		return s
	case u == probes.UnitCount || u == probes.UnitStatusCode || u == probes.UnitBool:
		return strconv.FormatFloat(math.Round(*v), 'f', 0, 64)
	}
	return f.num(v) // cores, load, seconds: up to two decimals
}

// funcs are the template functions bound to one language.
func (f formatter) funcs() template.FuncMap {
	return template.FuncMap{
		"t":       f.c.T,
		"fig":     f.fig,
		"tn":      f.n,
		"state":   f.state,
		"sumText": f.summaryText,
		"titles":  f.titles,
		"mins":    f.minutes,
		"form":    func(key, category string) string { return f.c.Forms(key)[category] },
		"reason":  f.reason,
		"rows":    f.rows,
		"strip":   f.strip,
		"uptime":  f.uptime,
		"source":  f.source,
		// The charts (chart.go).
		"chartSVG":   f.chartSVG,
		"chartRows":  f.chartRows,
		"chartScale": f.chartScaleText,
		"chartSpan":  chartSpan,
		"limitText":  f.limitText,
	}
}

// commonFuncs do not depend on the language.
func commonFuncs() template.FuncMap {
	return template.FuncMap{
		"clock":   Clock,
		"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"attr":    attrNumber,
		"json":    prettyJSON,
		"connBar": ConnectionBar,
		// loadMax leaves room above the critical load, so that a critical
		// value shows in the meter's critical colour, not at its end.
		"loadMax": func(l Limit) float64 { return l.Crit * 1.5 },
		"worst":   worst,
		"summary": Summarize,
	}
}

// n is N with the count taken from any integer the templates hold.
func (f formatter) n(key string, n any, args ...any) (string, error) {
	var i int
	switch v := n.(type) {
	case int:
		i = v
	case int64:
		i = int(v)
	case *int64:
		if v != nil {
			i = int(*v)
		}
	case uint64:
		i = int(v)
	case *uint64:
		if v != nil {
			i = int(*v)
		}
	case float64:
		i = int(math.Round(v))
	case *float64:
		if v != nil {
			i = int(math.Round(*v))
		}
	default:
		return "", fmt.Errorf("tn %s: %T is not a count", key, n)
	}
	return f.c.N(key, i, args...)
}

// decimal formats v with prec digits after the language's separator.
func (f formatter) decimal(v float64, prec int) string {
	if math.Abs(v) < 0.5*math.Pow10(-prec) {
		v = 0 // never "-0.0"
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if f.c.lang == Russian {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

func (f formatter) na() string { return f.c.MustT("na") }

func (f formatter) percent(v *float64) string {
	if v == nil {
		return f.na()
	}
	return f.c.MustT("fmt.percent", "v", f.decimal(*v, 1))
}

// num formats a plain figure (load, cores) with up to two decimals.
func (f formatter) num(v *float64) string {
	if v == nil {
		return f.na()
	}
	return f.decimal(*v, 2)
}

func (f formatter) millis(v *float64) string {
	if v == nil {
		return f.na()
	}
	prec := 0
	switch {
	case *v < 1:
		prec = 2
	case *v < 10:
		prec = 1
	}
	return f.c.MustT("fmt.ms", "v", f.decimal(*v, prec))
}

// minutes writes a duration given in seconds as whole minutes.
func (f formatter) minutes(seconds *float64) string {
	if seconds == nil {
		return f.na()
	}
	return f.decimal(*seconds/60, 0)
}

// binaryUnits are the catalogue keys of the byte units, 1024 apart.
func binaryUnits() [7]string {
	return [7]string{"unit.B", "unit.KiB", "unit.MiB", "unit.GiB", "unit.TiB", "unit.PiB", "unit.EiB"}
}

// size formats a byte count in binary units ("1.5 GiB").
func (f formatter) size(b float64) string {
	units := binaryUnits()
	exp := 0
	for b >= 1024 && exp < len(units)-1 {
		b /= 1024
		exp++
	}
	prec := 1
	if exp == 0 {
		prec = 0
	}
	return f.c.MustT("fmt.size", "v", f.decimal(b, prec), "unit", f.c.MustT(units[exp]))
}

func (f formatter) bytes(v *uint64) string {
	if v == nil {
		return f.na()
	}
	return f.size(float64(*v))
}

func (f formatter) rate(v *float64) string {
	if v == nil {
		return f.na()
	}
	return f.c.MustT("fmt.per_second", "v", f.size(*v))
}

// state is the card state's word ("warning").
func (f formatter) state(s probes.Level) string { return f.c.MustT("state." + string(s)) }

func (f formatter) typeLabel(t string) string {
	if et, ok := eventType(t); ok {
		return f.c.MustT(et.Key)
	}
	return t
}

// Ago says how long before now t was, in words: "just now", "5 minutes
// ago", "5 минут назад".
func (f formatter) Ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < 10*time.Second:
		return f.c.MustT("time.just_now")
	case d < time.Minute:
		return f.c.MustN("time.seconds_ago", int(d/time.Second))
	case d < time.Hour:
		return f.c.MustN("time.minutes_ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return f.c.MustN("time.hours_ago", int(d/time.Hour))
	default:
		return f.c.MustN("time.days_ago", int(d/(24*time.Hour)))
	}
}

// Clock is the exact time t in loc, as the feed shows it on hover.
func Clock(loc *time.Location, t time.Time) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// attrNumber writes a figure for an HTML attribute (meter values, SVG
// sizes): always a dot, at most two decimals, empty when unknown.
func attrNumber(v any) string {
	var x float64
	switch n := v.(type) {
	case float64:
		x = n
	case *float64:
		if n == nil {
			return ""
		}
		x = *n
	case int:
		x = float64(n)
	case int64:
		x = float64(n)
	default:
		return ""
	}
	return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64)
}

// TypeIcon is the id of the icon of an event type.
func TypeIcon(t string) string {
	if et, ok := eventType(t); ok {
		return et.Icon
	}
	return OtherIcon
}

// Bounds of the details view: indentation grows to at most maxIndent
// levels, and the indented text to at most prettyFactor times the stored
// size (plus prettySlack bytes); past that the details are shown as
// stored, compact. Deeply nested details must not turn 16 KiB into a page
// of megabytes.
const (
	maxIndent    = 8
	prettyFactor = 4
	prettySlack  = 1024
)

// prettyJSON indents stored details for reading, keeping their key order
// and their numbers exactly as sent.
func prettyJSON(raw json.RawMessage) string {
	if !json.Valid(raw) {
		return string(raw)
	}
	p := indenter{raw: raw, limit: prettyFactor*len(raw) + prettySlack}
	p.out = make([]byte, 0, min(p.limit, 2*len(raw)+64))
	for p.i = 0; p.i < len(raw); p.i++ {
		if p.inString {
			p.stringByte(raw[p.i])
		} else {
			p.structural(raw[p.i])
		}
		if len(p.out) > p.limit {
			var compact bytes.Buffer
			_ = json.Compact(&compact, raw) // raw is valid JSON
			return compact.String()
		}
	}
	return string(p.out)
}

// indenter is prettyJSON's state: where it is in raw, what it wrote.
type indenter struct {
	raw               []byte
	i, depth, limit   int
	out               []byte
	inString, escaped bool
}

func (p *indenter) newline() {
	p.out = append(p.out, '\n')
	for range min(p.depth, maxIndent) {
		p.out = append(p.out, ' ', ' ')
	}
}

// stringByte copies a byte inside a string, watching for its end.
func (p *indenter) stringByte(b byte) {
	p.out = append(p.out, b)
	switch {
	case p.escaped:
		p.escaped = false
	case b == '\\':
		p.escaped = true
	case b == '"':
		p.inString = false
	}
}

func isJSONSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// structural writes a byte outside strings, dropping the white space sent
// and laying out its own.
func (p *indenter) structural(b byte) {
	switch b {
	case ' ', '\t', '\n', '\r':
	case '"':
		p.inString = true
		p.out = append(p.out, b)
	case '{', '[':
		p.out = append(p.out, b)
		j := p.i + 1
		for j < len(p.raw) && isJSONSpace(p.raw[j]) {
			j++
		}
		if j < len(p.raw) && (p.raw[j] == '}' || p.raw[j] == ']') {
			p.out = append(p.out, p.raw[j]) // an empty one stays on its line
			p.i = j
			return
		}
		p.depth++
		p.newline()
	case '}', ']':
		p.depth--
		p.newline()
		p.out = append(p.out, b)
	case ',':
		p.out = append(p.out, b)
		p.newline()
	case ':':
		p.out = append(p.out, ':', ' ')
	default:
		p.out = append(p.out, b)
	}
}

// FormatCursor writes a position in the feed's newest-first order as
// "<unix nanoseconds>-<id>", at the store's full precision.
func FormatCursor(at time.Time, id int64) string {
	return strconv.FormatInt(at.UnixNano(), 10) + "-" + strconv.FormatInt(id, 10)
}

// ParseCursor reads what FormatCursor wrote.
func ParseCursor(s string) (storage.EventCursor, bool) {
	ns, id, ok := strings.Cut(s, "-")
	if !ok {
		return storage.EventCursor{}, false
	}
	n, err1 := strconv.ParseInt(ns, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || n <= 0 || i <= 0 {
		return storage.EventCursor{}, false
	}
	return storage.EventCursor{CreatedAt: time.Unix(0, n).UTC(), ID: i}, true
}

// Bar is the stacked bar of the database connections card, in percent of
// max_connections: this database's sessions active, idle and idle in
// transaction, then every other session of the server (other databases,
// other states), so that the bar's length is what runs out.
type Bar struct {
	Active, Idle, InTx, Other Segment
	// OtherN is how many sessions the Other segment stands for.
	OtherN int64
}

// Segment is one part of a Bar: where it starts and how wide it is.
type Segment struct{ X, W float64 }

// ConnectionBar lays out the server's sessions by state against the
// maximum (this database's alone when the server's count is unknown).
func ConnectionBar(d probes.Database) Bar {
	if d.Connections == nil || d.MaxConnections == nil || *d.MaxConnections <= 0 {
		return Bar{}
	}
	max := float64(*d.MaxConnections)
	val := func(p *int64) float64 {
		if p == nil || *p < 0 {
			return 0
		}
		return float64(*p)
	}
	total := val(d.Connections)
	if d.ServerConnections != nil && val(d.ServerConnections) > total {
		total = val(d.ServerConnections)
	}
	a, i, tx := val(d.ConnectionsActive), val(d.ConnectionsIdle), val(d.ConnectionsIdleInTransaction)
	other := total - a - i - tx
	if other < 0 {
		other = 0
	}
	b := Bar{OtherN: int64(other)}
	x := 0.0
	for _, seg := range []struct {
		dst *Segment
		n   float64
	}{{&b.Active, a}, {&b.Idle, i}, {&b.InTx, tx}, {&b.Other, other}} {
		w := math.Min(100*seg.n/max, 100-x)
		*seg.dst = Segment{X: x, W: w}
		x += w
	}
	return b
}

// worst is the loudest of the states given, for a card that shows more
// than one group's figures.
func worst(ls ...probes.Level) probes.Level { return probes.Worst(ls...) }

// Card is one card of the page with its state, for the header's summary
// and the quiet line: Key is the catalogue key of its title.
type Card struct {
	Key   string
	Level probes.Level
}

// Cards lists every card the page shows for s, in page order, with the
// state each shows; it is the one place the summary, the title, the
// favicon and the quiet line count from.
func Cards(s *probes.Snapshot, t Thresholds) []Card {
	return []Card{
		{"card.cpu", s.CPU.State},
		{"card.memory", s.Memory.State},
		{"card.disk", s.DiskLevel()},
		{"card.load", s.Load.State},
		{"card.network", s.Network.State},
		{"card.db_connections", t.DatabaseConnections(s.Database)},
		{"card.db_latency", t.DatabaseLatency(s.Database)},
		{"card.redis", s.Redis.State},
		{"card.http", s.HTTPLevel()},
		{"card.api", s.App.State},
	}
}

// Summary is what the header, the tab's title and the favicon say: the
// loudest state of the page and how many cards are in each loud state.
type Summary struct {
	Worst                          probes.Level
	Down, Critical, Warning, Stale int
	NotConfigured, NotApplicable   []string
}

// Summarize counts the cards of s by state. A stale page (the snapshot
// too old) is stale whatever its cards said.
func Summarize(s *probes.Snapshot, t Thresholds) Summary {
	var sum Summary
	for _, c := range Cards(s, t) {
		switch c.Level {
		case probes.LevelNotConfigured:
			sum.NotConfigured = append(sum.NotConfigured, c.Key)
		case probes.LevelNotApplicable:
			sum.NotApplicable = append(sum.NotApplicable, c.Key)
		}
	}
	// Counted by source, not by card: a stopped database is "1 down",
	// though both of its cards say so.
	ls := []probes.Level{s.CPU.State, s.Memory.State, s.DiskLevel(), s.Load.State, s.Network.State,
		s.Database.State, s.Redis.State, s.HTTPLevel(), s.App.State}
	for _, l := range ls {
		switch l {
		case probes.LevelDown:
			sum.Down++
		case probes.LevelCritical:
			sum.Critical++
		case probes.LevelWarning:
			sum.Warning++
		case probes.LevelStale:
			sum.Stale++
		}
	}
	sum.Worst = probes.Worst(ls...)
	return sum
}

// summaryText words sum in one line ("1 down · 2 warnings", "all OK").
func (f formatter) summaryText(sum Summary) string {
	var parts []string
	for _, p := range []struct {
		key string
		n   int
	}{{"sum.down", sum.Down}, {"sum.critical", sum.Critical}, {"sum.warning", sum.Warning}, {"sum.stale", sum.Stale}} {
		if p.n > 0 {
			s, err := f.c.N(p.key, p.n)
			if err != nil {
				s = p.key
			}
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return f.c.MustT("sum.ok")
	}
	return strings.Join(parts, " · ")
}

// titles words catalogue keys as a comma-separated list.
func (f formatter) titles(keys []string) string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = f.c.MustT(k)
	}
	return strings.Join(out, ", ")
}

// reasonKeys are the catalogue keys of the reasons the probes give, in
// English in the JSON and /metrics, so that the page says them in its
// language.
func reasonKey(r string) string {
	switch r {
	case "warming up":
		return "reason.warming_up"
	case "REDIS_URL is not set":
		return "reason.redis_not_set"
	case "no database configured":
		return "reason.no_database"
	case "SQLite runs inside the vitals process: no connections to count":
		return "reason.sqlite_connections"
	case "no connection pool to read the figures from":
		return "reason.no_pool"
	case "connection refused":
		return "reason.refused"
	case "authentication failed":
		return "reason.auth_failed"
	case "database does not exist":
		return "reason.no_such_database"
	case "too many connections":
		return "reason.too_many_connections"
	case "server is shutting down or starting up":
		return "reason.pg_restarting"
	case "permission denied":
		return "reason.permission_denied"
	case "cannot connect to PostgreSQL":
		return "reason.pg_unreachable"
	case "TLS certificate verification failed":
		return "reason.tls_cert"
	case "TLS handshake failed (plain HTTP server?)":
		return "reason.tls_handshake"
	case "connection closed by the server":
		return "reason.closed"
	case "invalid URL":
		return "reason.invalid_url"
	case "waiting for the target to start listening":
		return "reason.starting"
	case "no effective cores":
		return "reason.no_cores"
	case "max_connections is not a positive number":
		return "reason.bad_max"
	}
	return ""
}

// reason words a probe's reason in the page's language: a known reason
// or "timeout after 5s", after the operation that failed ("PING: ");
// anything else (an error's own text) as the probe gave it.
func (f formatter) reason(r string) string {
	op, rest := "", r
	for _, p := range [...]string{"SELECT 1: ", "PING: ", "INFO: "} {
		if strings.HasPrefix(r, p) {
			op, rest = p, r[len(p):]
			break
		}
	}
	if d, ok := strings.CutPrefix(rest, "timeout after "); ok {
		return op + f.c.MustT("reason.timeout", "d", d)
	}
	if k := reasonKey(rest); k != "" {
		return op + f.c.MustT(k)
	}
	return r
}

// rows writes the feed's lines for items: the markup the items template
// describes, built here because html/template's per-action escaping through
// reflection cost most of the page's render (12 actions an event, 50
// events). Every text and attribute value is escaped with
// template.HTMLEscapeString; attributes are always double-quoted. The
// icon has no class (the stylesheet styles .feed li>svg): fifty of them
// were half a kilobyte of the page.
func (f formatter) rows(items []Item) template.HTML {
	dl := template.HTMLEscapeString(f.c.MustT("feed.details"))
	var b strings.Builder
	b.Grow(len(items) * 320)
	esc := func(s string) { b.WriteString(template.HTMLEscapeString(s)) }
	for i := range items {
		it := &items[i]
		if it.Day != "" {
			b.WriteString(`<li class="day" data-day="`)
			esc(it.Day)
			b.WriteString(`">`)
			esc(it.DayLabel)
			b.WriteString("</li>")
		}
		b.WriteString(`<li id="e`)
		b.WriteString(strconv.FormatInt(it.ID, 10))
		b.WriteString(`"><svg aria-hidden="true"><use href="#`)
		esc(it.Icon)
		b.WriteString(`"/></svg><b class="t">`)
		esc(it.Label)
		b.WriteString(`</b><span class="m">`)
		esc(it.Message)
		if it.Email != "" {
			// The address opens that person's timeline.
			b.WriteString(` <a class="u" href="?user=`)
			esc(url.QueryEscape(it.Email))
			b.WriteString(`">`)
			esc(it.Email)
			b.WriteString("</a>")
		}
		b.WriteString(`</span><time datetime="`)
		esc(it.ISO)
		b.WriteString(`" title="`)
		esc(it.Ago)
		b.WriteString(`">`)
		esc(it.Time)
		b.WriteString("</time>")
		if it.HasDetails {
			b.WriteString(`<details data-c="`)
			esc(it.Cursor)
			b.WriteString(`"><summary><span class="sr-only">`)
			b.WriteString(dl)
			b.WriteString(`</span></summary><div class="dt"></div></details>`)
		}
		b.WriteString("</li>\n")
	}
	return template.HTML(b.String()) //nolint:gosec // every value above is escaped
}
