package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/web"
)

// HistoryReader is the slice of the store the history and fleet routes
// read: the history's chunks and watermarks, and the registered instances.
type HistoryReader interface {
	history.ReadStore
	Instances(ctx context.Context) ([]storage.Instance, error)
}

const (
	// maxHistorySeries is the most series one history request may ask
	// for: a chart draws a few, a page of sparklines a few dozen.
	maxHistorySeries = 50
	// maxHistoryEvents is the most event markers one answer carries, the
	// newest; retention keeps about as many events in all.
	maxHistoryEvents = 1000
	// fleetGone is how long an instance that stopped registering is
	// listed: after it, it is gone (DESIGN.md, "Fleet"), even before the
	// lease holder's prune deletes its row.
	fleetGone = 7 * 24 * time.Hour
	// staleIntervals is how many of its intervals an instance may be
	// silent before it is stale.
	staleIntervals = 3
)

// historyQuery is a parsed GET /api/v1/history.
type historyQuery struct {
	series   []string
	rng      history.Range
	instance string
	types    []string
}

// parseHistoryQuery reads series (comma-separated or repeated), range,
// instance (default: this instance) and types; every bad parameter is
// named in the 400.
func (s *server) parseHistoryQuery(c *fiber.Ctx) (historyQuery, error) {
	var q historyQuery
	var errs []FieldError
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	for _, raw := range c.Context().QueryArgs().PeekMulti("series") {
		for _, name := range strings.Split(string(raw), ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "":
			case !utf8.ValidString(name) || !history.KnownSeries(name):
				// Not quoted back: answers never repeat the request.
				bad("series", "names a series that is not in the figure list (like cpu.percent or disk[/].percent)")
			case !slices.Contains(q.series, name):
				q.series = append(q.series, name)
			}
		}
	}
	switch {
	case len(q.series) == 0 && len(errs) == 0:
		bad("series", "is required: one or more series, comma-separated")
	case len(q.series) > maxHistorySeries:
		bad("series", fmt.Sprintf("names more than %d series", maxHistorySeries))
	}
	var names []string
	for _, r := range history.Ranges() {
		names = append(names, r.Name)
	}
	if r, ok := history.RangeNamed(c.Query("range")); ok {
		q.rng = r
	} else {
		bad("range", "must be one of "+strings.Join(names, ", "))
	}
	q.instance = c.Query("instance")
	switch {
	case q.instance == "":
		q.instance = s.Snapshots.Latest().Snapshot.Instance.ID
	case !validInstanceID(q.instance):
		bad("instance", badInstanceID)
	}
	for _, raw := range c.Context().QueryArgs().PeekMulti("types") {
		for _, t := range strings.Split(string(raw), ",") {
			t = strings.TrimSpace(t)
			switch {
			case t == "":
			case len(t) > maxTypeLen || !typePattern.MatchString(t):
				bad("types", "names something that is not an event type (like user_registered)")
			case !slices.Contains(q.types, t):
				q.types = append(q.types, t)
			}
		}
	}
	if len(errs) > 0 {
		return q, &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query", Errors: errs}
	}
	return q, nil
}

// historyAPI answers GET /api/v1/history: each series asked for over the
// range at its step, a gap as null, with the range's events as markers.
func (s *server) historyAPI(c *fiber.Ctx) error {
	q, err := s.parseHistoryQuery(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	now := time.Now()
	res, err := s.history.Query(ctx, q.instance, q.series, q.rng, now)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	events, err := s.store.ListEvents(ctx, storage.EventFilter{Types: q.types, Limit: maxHistoryEvents,
		Since: time.UnixMilli(res.StartMS), Until: now.Add(time.Millisecond)})
	if err != nil {
		return fmt.Errorf("history: events: %w", err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(appendHistory(make([]byte, 0, 4096+len(q.series)*q.rng.Points()*48), q, res, events))
}

// appendHistory writes the answer by hand: a year of a few series is
// thousands of numbers, which encoding/json would box one by one.
func appendHistory(b []byte, q historyQuery, res history.Result, events []storage.Event) []byte {
	b = append(b, `{"range":`...)
	b = strconv.AppendQuote(b, q.rng.Name)
	b = append(b, `,"step_seconds":`...)
	b = strconv.AppendInt(b, int64(q.rng.Step/time.Second), 10)
	b = append(b, `,"start_ms":`...)
	b = strconv.AppendInt(b, res.StartMS, 10)
	b = append(b, `,"instance":`...)
	b = appendJSONString(b, q.instance)
	b = append(b, `,"series":[`...)
	for i, name := range q.series {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, name)
		b = append(b, `,"points":[`...)
		for j, p := range res.Series[i] {
			if j > 0 {
				b = append(b, ',')
			}
			if p.Count == 0 {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			b = strconv.AppendInt(b, p.T, 10)
			for _, v := range [...]float64{p.Min, p.Mean(), p.Max} {
				b = append(b, ',')
				b = appendNumber(b, v)
			}
			b = append(b, ']')
		}
		b = append(b, "]}"...)
	}
	b = append(b, `],"events":[`...)
	// Oldest first, along the time axis.
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		b = append(b, `{"unix_ms":`...)
		b = strconv.AppendInt(b, e.CreatedAt.UnixMilli(), 10)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, e.Type)
		b = append(b, `,"id":`...)
		b = strconv.AppendInt(b, e.ID, 10)
		b = append(b, '}')
		if i > 0 {
			b = append(b, ',')
		}
	}
	return append(b, "]}"...)
}

// appendNumber writes v as JSON; a value that is not finite (a sum that
// overflowed) has no JSON form and is written as null.
func appendNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendJSONString writes s as a JSON string, escaped as encoding/json
// escapes it (an instance id or a key is the store's text, not trusted).
func appendJSONString(b []byte, s string) []byte {
	out, _ := json.Marshal(s) // a string always marshals
	return append(b, out...)
}

// fleetInstance is one instance in GET /api/v1/instances.
type fleetInstance struct {
	ID              string  `json:"id"`
	Region          string  `json:"region"`
	Version         string  `json:"version"`
	StartedAt       string  `json:"started_at"`
	LastSeenAt      string  `json:"last_seen_at"`
	IntervalSeconds float64 `json:"interval_seconds"`
	// State is the worst state of the instance's latest snapshot, or
	// stale when it has been silent for 3 of its intervals.
	State probes.Level `json:"state"`
	Stale bool         `json:"stale"`
	// Current marks the instance that answered.
	Current bool `json:"current"`
}

// instancesAPI answers GET /api/v1/instances: every instance of the fleet
// seen within 7 days, by id.
func (s *server) instancesAPI(c *fiber.Ctx) error {
	list, err := s.fleet(c.UserContext())
	if err != nil {
		return err
	}
	out := struct {
		Instances []fleetInstance `json:"instances"`
	}{Instances: []fleetInstance{}}
	for _, m := range list {
		out.Instances = append(out.Instances, m.fleetInstance)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

// badInstanceID is what a 400 says of an instance parameter that
// validInstanceID refuses.
const badInstanceID = "is not an instance id (at most 255 characters of text)"

// validInstanceID reports whether id can name an instance: at most 255
// bytes of UTF-8 text without control characters.
func validInstanceID(id string) bool {
	return len(id) <= 255 && utf8.ValidString(id) && !strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// member is one instance of the fleet with its stored latest snapshot and
// its times as times (fleetInstance has them as text, for the API).
type member struct {
	fleetInstance
	started, seen time.Time
	snapshot      []byte
}

// fleet lists the instances seen within 7 days, by id, each stale when
// silent for 3 of its intervals, else with its snapshot's worst state.
func (s *server) fleet(ctx context.Context) ([]member, error) {
	list, err := s.store.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	now := time.Now()
	self := s.Snapshots.Latest().Snapshot.Instance.ID
	var out []member
	for _, in := range list {
		if now.Sub(time.UnixMilli(in.SeenMS)) > fleetGone {
			continue
		}
		interval := storage.InstanceInterval(in)
		fi := fleetInstance{ID: in.ID, Region: in.Region, Version: in.Version,
			StartedAt: rfc3339ms(in.StartedMS), LastSeenAt: rfc3339ms(in.SeenMS),
			IntervalSeconds: float64(interval) / 1000, Current: in.ID == self}
		fi.Stale = now.UnixMilli()-in.SeenMS > staleIntervals*interval
		if fi.Stale {
			fi.State = probes.LevelStale
		} else {
			fi.State = s.worstOf(in.Snapshot)
		}
		out = append(out, member{fleetInstance: fi, started: time.UnixMilli(in.StartedMS), seen: time.UnixMilli(in.SeenMS), snapshot: in.Snapshot})
	}
	return out, nil
}

// worstOf is the page's header state of a stored snapshot; a snapshot
// that cannot be read says nothing about the instance: stale.
func (s *server) worstOf(snapshot []byte) probes.Level {
	var snap probes.Snapshot
	if err := json.Unmarshal(snapshot, &snap); err != nil {
		return probes.LevelStale
	}
	return web.Summarize(&snap, s.Thresholds).Worst
}

func rfc3339ms(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
