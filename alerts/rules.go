// Package alerts evaluates the alert rules of VITALS_ALERTS (DESIGN.md,
// "Alerts") on every sample tick: over any series of the figure list, a
// group's state, or the application's events. A rule goes pending when its
// condition holds, fires when it has held for the rule's duration, and
// resolves when its clear condition has held for a minute; its state lives
// in the store, so a restart neither fires it again nor forgets to resolve.
package alerts

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/probes"
)

// Kind is what a rule's expression looks at.
type Kind string

// The kinds of expressions.
const (
	KindSeries Kind = "series" // cpu.percent > 90
	KindState  Kind = "state"  // database.state == down
	KindAbsent Kind = "absent" // absent(stream_started) for 30m
	KindCount  Kind = "count"  // count(user_rejected, 10m) > 20
)

// Expr is one condition.
type Expr struct {
	Kind Kind
	// Series is the series pattern (cpu.percent, disk[*].percent,
	// http[api].latency_ms) of a series expression, or the group and key
	// (database, http[*]) of a state expression.
	Series string
	Op     string // >, >=, <, <=, ==, !=
	Value  float64
	State  probes.Level
	// EventType and Window are the arguments of absent() and count().
	EventType string
	Window    time.Duration
}

// Rule is one named rule.
type Rule struct {
	Name string
	When Expr
	// For is how long When must hold before the rule fires; for absent()
	// it is the silence that fires it.
	For time.Duration
	// Clear is the condition that resolves it once it has held for
	// ClearFor; nil means the negation of When with a margin of 5 % of
	// the threshold.
	Clear *Expr
	// Text is the rule as written, for the API and the page.
	Text string
	// Shared rules look at what every instance of a fleet shares (the
	// database, Redis, HTTP targets, events): the lease holder evaluates
	// them, once for the fleet.
	Shared bool
}

// ClearFor is how long a clear condition must hold before a firing rule
// resolves.
const ClearFor = time.Minute

// Defaults are the built-in rules, as DESIGN.md names them.
const Defaults = "cpu_high: cpu.percent > 90 for 5m; " +
	"memory_high: memory.percent > 90 for 5m; " +
	"disk_full: disk[*].percent > 90; " +
	"db_connections_high: database.server_connections_percent > 80; " +
	"db_down: database.state == down for 1m; " +
	"redis_down: redis.state == down for 1m; " +
	"http_down: http[*].state == down for 1m"

// SyntaxError is a rule that cannot be read: the start stops with it.
type SyntaxError struct {
	Rule   string // the rule's name, or its text when it has none
	Offset int    // byte offset in VITALS_ALERTS (or the defaults)
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("rule %q at position %d: %s", e.Rule, e.Offset+1, e.Msg)
}

var (
	nameRe   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,49}$`)
	typeRe   = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,49}$`)
	seriesRe = regexp.MustCompile(`^([a-z_]+)(\[([^\]]*)\])?(\.([a-z0-9_]+))?$`)
	ops      = []string{">=", "<=", "==", "!=", ">", "<"}
)

// Parse reads the rules: the defaults, then VITALS_ALERTS (spec), where a
// rule of the same name replaces a default and "name: off" disables it. A
// rule that cannot be read is a *SyntaxError naming it and its position.
func Parse(spec string) ([]Rule, error) {
	rules, err := parseList(Defaults, 0)
	if err != nil {
		return nil, fmt.Errorf("built-in rules: %w", err)
	}
	mine, err := parseList(spec, 0)
	if err != nil {
		return nil, err
	}
	for _, r := range mine {
		i := slices.IndexFunc(rules, func(d Rule) bool { return d.Name == r.Name })
		switch {
		case r.Text == "off" && i >= 0:
			rules = slices.Delete(rules, i, i+1)
		case r.Text == "off":
			// Disabling a rule that is not there is harmless.
		case i >= 0:
			rules[i] = r
		default:
			rules = append(rules, r)
		}
	}
	return rules, nil
}

func parseList(spec string, base int) ([]Rule, error) {
	var out []Rule
	seen := map[string]bool{}
	off := base
	for _, part := range strings.Split(spec, ";") {
		start := off + len(part) - len(strings.TrimLeft(part, " \t\r\n"))
		off += len(part) + 1
		text := strings.TrimSpace(part)
		if text == "" {
			continue
		}
		r, err := parseRule(text, start)
		if err != nil {
			return nil, err
		}
		if seen[r.Name] {
			return nil, &SyntaxError{Rule: r.Name, Offset: start, Msg: "is given twice"}
		}
		seen[r.Name] = true
		out = append(out, r)
	}
	return out, nil
}

func parseRule(text string, at int) (Rule, error) {
	name, body, ok := strings.Cut(text, ":")
	name = strings.TrimSpace(name)
	fail := func(offset int, format string, args ...any) (Rule, error) {
		n := name
		if !ok || n == "" {
			n = text
		}
		return Rule{}, &SyntaxError{Rule: n, Offset: at + offset, Msg: fmt.Sprintf(format, args...)}
	}
	if !ok {
		return fail(0, `a rule is "name: condition [for DURATION] [clear CONDITION]"; there is no colon`)
	}
	if !nameRe.MatchString(name) {
		return fail(0, "the name must be lower-case letters, digits and _ (at most 50), starting with a letter")
	}
	bodyAt := len(name) + 1 + len(body) - len(strings.TrimLeft(body, " \t"))
	body = strings.TrimSpace(body)
	r := Rule{Name: name, Text: body}
	if body == "off" {
		return r, nil
	}
	// The clause keywords split the body: condition [for D] [clear C].
	cond, clear, hasClear := cutWord(body, "clear")
	cond, dur, hasFor := cutWord(cond, "for")
	if hasFor {
		d, err := parseDuration(strings.TrimSpace(dur))
		if err != nil {
			return fail(bodyAt+strings.Index(body, " for ")+5, "%v", err)
		}
		r.For = d
	}
	e, pos, err := parseExpr(strings.TrimSpace(cond))
	if err != nil {
		return fail(bodyAt+pos, "%v", err)
	}
	r.When = e
	if e.Kind == KindAbsent {
		if !hasFor {
			return fail(bodyAt, "absent(TYPE) needs a duration: absent(%s) for 30m", e.EventType)
		}
		e.Window = r.For
		r.When = e
	}
	if hasClear {
		cAt := bodyAt + strings.Index(body, " clear ") + 7
		c, pos, err := parseExpr(strings.TrimSpace(clear))
		if err != nil {
			return fail(cAt+pos, "%v", err)
		}
		if c.Kind == KindAbsent {
			return fail(cAt, "absent() cannot be a clear condition")
		}
		r.Clear = &c
	}
	r.Shared = shared(r.When)
	return r, nil
}

// cutWord splits s at the last " word " (a clause keyword between spaces).
func cutWord(s, word string) (before, after string, found bool) {
	i := strings.LastIndex(s, " "+word+" ")
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(word)+2:], true
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (like 30s, 5m, 1h)", s)
	}
	return d, nil
}

// parseExpr reads one condition; pos is where in s an error is.
func parseExpr(s string) (Expr, int, error) {
	switch {
	case strings.HasPrefix(s, "absent("):
		arg, rest, ok := strings.Cut(s[len("absent("):], ")")
		if !ok || strings.TrimSpace(rest) != "" {
			return Expr{}, 0, fmt.Errorf("absent(TYPE) takes one event type and nothing after it")
		}
		arg = strings.TrimSpace(arg)
		if !typeRe.MatchString(arg) {
			return Expr{}, len("absent("), fmt.Errorf("%q is not an event type", arg)
		}
		return Expr{Kind: KindAbsent, EventType: arg}, 0, nil
	case strings.HasPrefix(s, "count("):
		args, rest, ok := strings.Cut(s[len("count("):], ")")
		if !ok {
			return Expr{}, 0, fmt.Errorf("count(TYPE, WINDOW) is not closed")
		}
		typ, win, ok := strings.Cut(args, ",")
		typ, win = strings.TrimSpace(typ), strings.TrimSpace(win)
		if !ok || !typeRe.MatchString(typ) {
			return Expr{}, len("count("), fmt.Errorf("count(TYPE, WINDOW) takes an event type and a duration")
		}
		w, err := parseDuration(win)
		if err != nil || w <= 0 {
			return Expr{}, len("count(") + len(typ) + 1, fmt.Errorf("count()'s window must be a duration above zero, like 10m")
		}
		op, v, pos, err := comparison(strings.TrimSpace(rest))
		if err != nil {
			return Expr{}, len(s) - len(strings.TrimSpace(rest)) + pos, err
		}
		return Expr{Kind: KindCount, EventType: typ, Window: w, Op: op, Value: v}, 0, nil
	}
	i := strings.IndexAny(s, "<>=!")
	if i <= 0 {
		return Expr{}, 0, fmt.Errorf("a condition compares a series or a state: cpu.percent > 90, database.state == down")
	}
	lhs := strings.TrimSpace(s[:i])
	m := seriesRe.FindStringSubmatch(lhs)
	if m == nil {
		return Expr{}, 0, fmt.Errorf("%q is not a series (like cpu.percent or disk[*].percent)", lhs)
	}
	group, field := m[1], m[5]
	g := groupNamed(group)
	if g == nil {
		return Expr{}, 0, fmt.Errorf("there is no group %q (groups: %s)", group, strings.Join(groupNames(), ", "))
	}
	if g.Keyed() != (m[2] != "") {
		if g.Keyed() {
			return Expr{}, 0, fmt.Errorf("%s has one entry per key: write %s[*].%s or %s[KEY].%s", group, group, field, group, field)
		}
		return Expr{}, 0, fmt.Errorf("%s has no keys", group)
	}
	rest := s[i:]
	if field == "state" {
		op, st, ok := stateComparison(rest)
		if !ok {
			return Expr{}, i, fmt.Errorf("a state is compared with == or != and one of %s", levelNames())
		}
		return Expr{Kind: KindState, Series: group + m[2], Op: op, State: st}, 0, nil
	}
	if !hasFigure(g, field) {
		return Expr{}, 0, fmt.Errorf("%s has no figure %q (it has %s)", group, field, strings.Join(figureNames(g), ", "))
	}
	op, v, pos, err := comparison(rest)
	if err != nil {
		return Expr{}, i + pos, err
	}
	return Expr{Kind: KindSeries, Series: lhs, Op: op, Value: v}, 0, nil
}

func comparison(s string) (op string, v float64, pos int, err error) {
	for _, o := range ops {
		if strings.HasPrefix(s, o) {
			num := strings.TrimSpace(s[len(o):])
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return "", 0, len(o), fmt.Errorf("%q is not a number", num)
			}
			return o, v, 0, nil
		}
	}
	return "", 0, 0, fmt.Errorf("expected a comparison (>, >=, <, <=, ==, !=) and a number")
}

func stateComparison(s string) (op string, st probes.Level, ok bool) {
	for _, o := range []string{"==", "!="} {
		if strings.HasPrefix(s, o) {
			st := probes.Level(strings.TrimSpace(s[len(o):]))
			return o, st, st.Rank() >= 0
		}
	}
	return "", "", false
}

// shared tells the rules the lease holder evaluates once for the fleet:
// everything but an instance's own host and process figures.
func shared(e Expr) bool {
	if e.Kind == KindAbsent || e.Kind == KindCount {
		return true
	}
	g, _, _ := strings.Cut(e.Series, "[")
	g, _, _ = strings.Cut(g, ".")
	switch g {
	case "database", "redis", "http":
		return true
	}
	return false
}

func groupNamed(name string) *probes.Group {
	for _, g := range probes.Groups() {
		if g.Name == name {
			return &g
		}
	}
	return nil
}

func groupNames() []string {
	var out []string
	for _, g := range probes.Groups() {
		out = append(out, g.Name)
	}
	return out
}

func hasFigure(g *probes.Group, field string) bool {
	return slices.Contains(figureNames(g), field)
}

func figureNames(g *probes.Group) []string {
	var out []string
	for _, f := range g.Figures {
		out = append(out, f.Field)
	}
	return out
}

func levelNames() string {
	var out []string
	for _, l := range probes.Levels() {
		out = append(out, string(l))
	}
	return strings.Join(out, ", ")
}
