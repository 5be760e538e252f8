package web

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/probes"
)

// UptimeRow is one watched source's heartbeat strips: the last 90 days a
// cell a day, the last 24 hours a cell per 15 minutes (history.Strips).
type UptimeRow struct {
	history.Watched
	Days, Quarters history.Strip
}

// Uptime is the strips' fragment: the rows, or Unavailable when the store
// could not be read.
type Uptime struct {
	Rows        []UptimeRow
	Unavailable bool
}

// stripClass is a cell's class: its worst state, or unknown without a
// sample.
func stripClass(c history.Cell) string {
	if c.Samples == 0 || c.Worst == "" {
		return "unknown"
	}
	return string(c.Worst)
}

// strip draws one strip as an SVG of one rectangle per run of cells
// alike, each with its time span and share of ok samples as a tooltip;
// day says the cells are days (dated) rather than quarter hours (timed, in
// loc). Runs, not cells: 90 days that were all fine are one rectangle,
// which keeps the page light. The label the image carries says the
// uptime, so a screen reader gets the gist without the cells.
func (f formatter) strip(s history.Strip, day bool, loc *time.Location, label string) template.HTML {
	n := len(s.Cells)
	var b strings.Builder
	b.WriteString(`<svg class="strip" viewBox="0 0 `)
	b.WriteString(strconv.Itoa(n))
	b.WriteString(` 1" preserveAspectRatio="none" role="img" aria-label="`)
	b.WriteString(template.HTMLEscapeString(label))
	b.WriteString(`">`)
	span := func(c history.Cell) string {
		t := time.UnixMilli(c.StartMS)
		if day {
			return t.UTC().Format("2006-01-02")
		}
		return t.In(loc).Format("15:04")
	}
	for i := 0; i < n; {
		c := s.Cells[i]
		cls := stripClass(c)
		j := i + 1
		// Cells merge when alike: unknown ones, and ok ones (all their
		// samples ok); any other cell keeps its own share in its tooltip.
		for j < n && (cls == "unknown" || cls == "ok") && stripClass(s.Cells[j]) == cls {
			j++
		}
		b.WriteString(`<rect x="`)
		b.WriteString(strconv.Itoa(i))
		b.WriteString(`" width="`)
		b.WriteString(strconv.Itoa(j - i))
		b.WriteString(`" height="1" class="k-`)
		b.WriteString(cls)
		b.WriteString(`"><title>`)
		when := span(c)
		if j-i > 1 {
			when += " – " + span(s.Cells[j-1])
		}
		b.WriteString(template.HTMLEscapeString(when))
		b.WriteString(": ")
		if cls == "unknown" {
			b.WriteString(template.HTMLEscapeString(f.c.MustT("uptime.no_samples")))
		} else {
			share := 100 * c.OKShare
			b.WriteString(template.HTMLEscapeString(f.c.MustT("uptime.cell", "v", f.decimal(share, 2), "state", f.state(probes.Level(cls)))))
		}
		b.WriteString("</title></rect>")
		i = j
	}
	b.WriteString("</svg>")
	return template.HTML(b.String()) //nolint:gosec // every value above is escaped or a number
}

// source is what the page calls a watched source: an HTTP target by its
// name, the database and Redis in the page's language.
func (f formatter) source(w history.Watched) string {
	if w.Target != "" {
		return w.Target
	}
	return f.c.MustT("uptime." + w.Name)
}

// uptime words a strip's share of ok samples: "99.95 % ok", or that
// there were none.
func (f formatter) uptime(s history.Strip) string {
	if s.Uptime == nil {
		return f.c.MustT("uptime.no_samples")
	}
	return f.c.MustT("uptime.share", "v", f.decimal(100**s.Uptime, 2))
}
