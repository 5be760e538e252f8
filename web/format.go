package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"time"
)

// Funcs are the formatting helpers the templates use. Each takes the
// snapshot's nullable figures and prints "N/A" for a missing one, never 0.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"pct":     formatPercent,
		"bytes":   formatBytes,
		"ms":      formatMillis,
		"int":     formatInt,
		"ago":     Ago,
		"iso":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ratio":   ratio,
		"json":    prettyJSON,
		"deref":   func(s *string) string { return derefString(s) },
	}
}

// NA is what the page shows for a figure that could not be read.
const NA = "N/A"

func formatPercent(v *float64) string {
	if v == nil {
		return NA
	}
	return fmt.Sprintf("%.1f %%", *v)
}

func formatMillis(v *float64) string {
	if v == nil {
		return NA
	}
	if *v < 10 {
		return fmt.Sprintf("%.2f ms", *v)
	}
	return fmt.Sprintf("%.0f ms", *v)
}

func formatInt(v *int64) string {
	if v == nil {
		return NA
	}
	return fmt.Sprintf("%d", *v)
}

func formatBytes(v *uint64) string {
	if v == nil {
		return NA
	}
	const unit = 1024
	b := float64(*v)
	if b < unit {
		return fmt.Sprintf("%d B", *v)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	exp := int(math.Log(b) / math.Log(unit))
	if exp > len(units) {
		exp = len(units)
	}
	return fmt.Sprintf("%.1f %s", b/math.Pow(unit, float64(exp)), units[exp-1])
}

// ratio returns a/b in 0..1 for a <meter>, 0 when either is unknown.
func ratio(a, b *int64) float64 {
	if a == nil || b == nil || *b <= 0 {
		return 0
	}
	return float64(*a) / float64(*b)
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func prettyJSON(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(raw)
	}
	return string(out)
}

// Ago says how long before now t was, in words: "just now", "5 minutes ago".
func Ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return plural(int(d/time.Second), "second")
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	default:
		return plural(int(d/(24*time.Hour)), "day")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit + " ago"
	}
	return fmt.Sprintf("%d %ss ago", n, unit)
}
