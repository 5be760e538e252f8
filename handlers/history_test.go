package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/postgres"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// forEachHistoryStore runs fn with a fresh store of every backend and a harness
// over it.
func forEachHistoryStore(t *testing.T, fn func(t *testing.T, st storage.Store, h *harness)) {
	t.Run("sqlite", func(t *testing.T) {
		st := sqlitetest.Open(t, sqlite.Options{})
		fn(t, st, newHarness(t, st))
	})
	// postgrestest skips without VITALS_TEST_DATABASE_URL, and fails in CI.
	t.Run("postgres", func(t *testing.T) {
		st := postgrestest.Open(t, postgres.Options{})
		fn(t, st, newHarness(t, st))
	})
}

// historyAnswer is GET /api/v1/history's body.
type historyAnswer struct {
	Range       string `json:"range"`
	StepSeconds int64  `json:"step_seconds"`
	StartMS     int64  `json:"start_ms"`
	Instance    string `json:"instance"`
	Series      []struct {
		Name   string        `json:"name"`
		Points []*[4]float64 `json:"points"`
	} `json:"series"`
	Events []struct {
		UnixMS int64  `json:"unix_ms"`
		Type   string `json:"type"`
		ID     int64  `json:"id"`
	} `json:"events"`
}

// sample is one raw sample the test wrote.
type sample struct {
	series string
	t      int64
	v      float64
}

// expect is the bucket of [from, from+step) computed from the samples
// themselves; Count 0 when there is none.
func expect(samples []sample, series string, from, step int64) history.Point {
	b := history.Point{T: from, Min: math.Inf(1), Max: math.Inf(-1)}
	for _, s := range samples {
		if s.series == series && s.t >= from && s.t < from+step {
			b.Min, b.Max = min(b.Min, s.v), max(b.Max, s.v)
			b.Sum += s.v
			b.Count++
		}
	}
	return b
}

// checkAgainst compares every point of the answer with the samples: a
// step without one must be null, any other its min, mean and max.
func checkAgainst(t *testing.T, got historyAnswer, samples []sample) (points, gaps int) {
	t.Helper()
	step := got.StepSeconds * 1000
	for _, s := range got.Series {
		for i, p := range s.Points {
			from := got.StartMS + int64(i)*step
			want := expect(samples, s.Name, from, step)
			if want.Count == 0 {
				if p != nil {
					t.Fatalf("%s %s step %d (%d): %v, want null", got.Range, s.Name, i, from, *p)
				}
				gaps++
				continue
			}
			if p == nil {
				t.Fatalf("%s %s step %d (%d): null, want %d samples", got.Range, s.Name, i, from, want.Count)
			}
			if int64(p[0]) != from || p[1] != want.Min || p[3] != want.Max || math.Abs(p[2]-want.Mean()) > 1e-9 {
				t.Fatalf("%s %s step %d: got %v, want [%d %v %v %v]", got.Range, s.Name, i, *p, from, want.Min, want.Mean(), want.Max)
			}
			points++
		}
	}
	return points, gaps
}

func getHistory(t *testing.T, h *harness, query string) historyAnswer {
	t.Helper()
	status, hdr, body := h.with(t).do(http.MethodGet, "/api/v1/history?"+query, nil, "", asReader)
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/history?%s: %d %s %s", query, status, hdr.Get("Content-Type"), body)
	}
	return decode[historyAnswer](t, body)
}

// TestHistoryRawMergesOverlappingChunks: two raw chunks of one series that
// overlap in time (an instance restarted within the hour writes a second
// chunk of that hour) are merged step by step, and a stopped period is
// null, on both backends.
func TestHistoryRawMergesOverlappingChunks(t *testing.T) {
	forEachHistoryStore(t, func(t *testing.T, st storage.Store, h *harness) {
		ctx := t.Context()
		now := time.Now()
		// Both chunks lie in the hour before now: the first every 30 s
		// from -58 min to -20 min, the second (the restarted process,
		// 10 s later in each step, other values) from -40 min to -5 min;
		// -5 min to now is a gap, as is -50 to -45 min in the first.
		base := now.Add(-58 * time.Minute).UnixMilli()
		var first, second []history.Point
		var samples []sample
		for k := 0; k < 38*2; k++ {
			at := base + int64(k)*30_000
			if at >= now.Add(-50*time.Minute).UnixMilli() && at < now.Add(-45*time.Minute).UnixMilli() {
				continue
			}
			v := 10 + float64(k%7)*1.25
			first = append(first, history.Point{T: at, Min: v, Max: v, Sum: v, Count: 1})
			samples = append(samples, sample{"cpu.percent", at, v})
		}
		base2 := now.Add(-40*time.Minute).UnixMilli() + 10_000
		for k := 0; k < 35*2; k++ {
			at := base2 + int64(k)*30_000
			v := 80 - float64(k%5)*0.5
			second = append(second, history.Point{T: at, Min: v, Max: v, Sum: v, Count: 1})
			samples = append(samples, sample{"cpu.percent", at, v})
		}
		var enc history.Encoder
		var chunks []storage.HistoryChunk
		for _, pts := range [][]history.Point{first, second} {
			data, err := enc.Encode(pts)
			if err != nil {
				t.Fatal(err)
			}
			chunks = append(chunks, storage.HistoryChunk{Instance: "i-1", Tier: 0, Series: "cpu.percent",
				StartMS: pts[0].T, EndMS: pts[len(pts)-1].T, Points: len(pts), Data: data})
		}
		// Another instance's chunk and another series: neither may leak in.
		other, _ := enc.Encode([]history.Point{{T: base, Min: 1, Max: 1, Sum: 1, Count: 1}})
		chunks = append(chunks,
			storage.HistoryChunk{Instance: "i-2", Tier: 0, Series: "cpu.percent", StartMS: base, EndMS: base, Points: 1, Data: other},
			storage.HistoryChunk{Instance: "i-1", Tier: 0, Series: "memory.percent", StartMS: base, EndMS: base, Points: 1, Data: other})
		if err := st.PutHistoryChunks(ctx, chunks); err != nil {
			t.Fatal(err)
		}
		got := getHistory(t, h, "series=cpu.percent&range=1h&instance=i-1")
		if got.Range != "1h" || got.StepSeconds != 30 || got.Instance != "i-1" || len(got.Series) != 1 || len(got.Series[0].Points) != 120 {
			t.Fatalf("answer: range %q step %d instance %q, %d series", got.Range, got.StepSeconds, got.Instance, len(got.Series))
		}
		points, gaps := checkAgainst(t, got, samples)
		merged := 0
		for _, p := range got.Series[0].Points {
			if p != nil && p[1] < 50 && p[3] > 50 {
				merged++ // a step holding a sample of each chunk
			}
		}
		if merged < 30 || gaps < 15 {
			t.Fatalf("%d steps merged from both chunks, %d gaps; want at least 30 and 15", merged, gaps)
		}
		t.Logf("1h: %d points, %d gaps, %d merged from both chunks", points, gaps, merged)
	})
}

// TestHistoryEveryRangeMatchesRaw records 27 hours of two series through
// the real Recorder (with a stopped 20 minutes), rolls them up with the
// real Roller, and checks every step of every range against the raw
// samples: the roll-up tiers where they have been rolled up, the tier
// below for the newest steps that have not.
func TestHistoryEveryRangeMatchesRaw(t *testing.T) {
	forEachHistoryStore(t, func(t *testing.T, st storage.Store, h *harness) {
		ctx := t.Context()
		now := time.Now()
		tiers := history.DefaultTiers()
		rec := history.NewRecorder(st, "i-1", tiers[0])
		var samples []sample
		start := now.Add(-27 * time.Hour).Truncate(30 * time.Second)
		for at := start; at.Before(now); at = at.Add(30 * time.Second) {
			if at.After(now.Add(-3*time.Hour)) && at.Before(now.Add(-160*time.Minute)) {
				continue // stopped
			}
			k := at.Sub(start) / (30 * time.Second)
			for i, s := range []string{"cpu.percent", "disk[/].percent"} {
				v := math.Round((40+20*math.Sin(float64(k)/30+float64(i))+float64(k%11)/10)*100) / 100
				rec.Add(at, s, v)
				samples = append(samples, sample{s, at.UnixMilli(), v})
			}
			if k%120 == 119 {
				if err := rec.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		roller := history.NewRoller(st, "i-1", tiers, 90*time.Second, time.Minute)
		if ok, err := roller.Run(ctx, now); err != nil || !ok {
			t.Fatalf("roll up: %v %v", ok, err)
		}
		for _, r := range history.Ranges() {
			got := getHistory(t, h, "series=cpu.percent,disk%5B%2F%5D.percent&range="+r.Name+"&instance=i-1")
			if got.StepSeconds != int64(r.Step/time.Second) || len(got.Series) != 2 || len(got.Series[0].Points) != r.Points() || r.Points() > 300 {
				t.Fatalf("%s: step %d, %d series, %d points", r.Name, got.StepSeconds, len(got.Series), len(got.Series[0].Points))
			}
			points, gaps := checkAgainst(t, got, samples)
			if points == 0 {
				t.Fatalf("%s: no point", r.Name)
			}
			t.Logf("%s: %d points, %d gaps", r.Name, points, gaps)
		}
	})
}

// TestHistoryEvents: the range's events are the markers, oldest first,
// filtered by type; older ones are left out.
func TestHistoryEvents(t *testing.T) {
	forEachHistoryStore(t, func(t *testing.T, st storage.Store, h *harness) {
		now := time.Now()
		at := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
		evs, err := st.InsertEvents(t.Context(), []storage.NewEvent{
			{Type: "stream_started", Message: "m", OccurredAt: at(50 * time.Minute)},
			{Type: "user_registered", Message: "m", OccurredAt: at(20 * time.Minute)},
			{Type: "stream_started", Message: "m", OccurredAt: at(2 * time.Hour)},
		})
		if err != nil {
			t.Fatal(err)
		}
		got := getHistory(t, h, "series=cpu.percent&range=1h")
		if len(got.Events) != 2 || got.Events[0].ID != evs[0].ID || got.Events[1].ID != evs[1].ID ||
			got.Events[0].Type != "stream_started" || got.Events[0].UnixMS != evs[0].CreatedAt.UnixMilli() {
			t.Fatalf("1h events: %+v", got.Events)
		}
		got = getHistory(t, h, "series=cpu.percent&range=6h&types=stream_started")
		if len(got.Events) != 2 || got.Events[0].ID != evs[2].ID || got.Events[1].ID != evs[0].ID {
			t.Fatalf("6h stream_started events: %+v", got.Events)
		}
		// No sample at all: every step a gap.
		for _, p := range got.Series[0].Points {
			if p != nil {
				t.Fatalf("a point without samples: %v", *p)
			}
		}
	})
}

// TestHistoryRefusesBadQueries: each bad query is a 400 problem naming the
// parameter, the same on both backends, and reads nothing.
func TestHistoryRefusesBadQueries(t *testing.T) {
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("disk[/d%d].percent", i)
	}
	cases := []struct{ query, field string }{
		{"range=1h", "series"},
		{"series=&range=1h", "series"},
		{"series=cpu.percent", "range"},
		{"series=cpu.percent&range=2h", "range"},
		{"series=cpu.percent&range=1H", "range"},
		{"series=cpu.nope&range=1h", "series"},
		{"series=cpu.percent,nope&range=1h", "series"},
		{"series=disk%5B%5D.percent&range=1h", "series"},
		{"series=disk%5B*%5D.percent&range=1h", "series"},
		{"series=" + url.QueryEscape("\xff") + "&range=1h", "series"},
		{"series=" + url.QueryEscape(strings.Join(many, ",")) + "&range=1h", "series"},
		{"series=cpu.percent&range=1h&types=Bad%20Type", "types"},
		{"series=cpu.percent&range=1h&instance=" + strings.Repeat("x", 256), "instance"},
		{"series=cpu.percent&range=1h&instance=a%0Ab", "instance"},
	}
	forEachHistoryStore(t, func(t *testing.T, _ storage.Store, h *harness) {
		for _, c := range cases {
			status, hdr, body := h.with(t).do(http.MethodGet, "/api/v1/history?"+c.query, nil, "", asReader)
			if status != http.StatusBadRequest || hdr.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s: %d %s %s", c.query, status, hdr.Get("Content-Type"), body)
			}
			p := decode[struct {
				Status int `json:"status"`
				Errors []struct {
					Field string `json:"field"`
				} `json:"errors"`
			}](t, body)
			if p.Status != 400 || len(p.Errors) == 0 || p.Errors[0].Field != c.field {
				t.Fatalf("%s: %s, want the field %s named", c.query, body, c.field)
			}
			if strings.Contains(string(body), "nope") || strings.Contains(string(body), "xxxxxxxx") {
				t.Fatalf("%s: the answer quotes the request: %s", c.query, body)
			}
		}
	})
}

// TestHistoryAndFleetNeedReadCredentials: a read token or the admin's
// session reads them; an ingest token is refused, and nothing answers
// without a credential.
func TestHistoryAndFleetNeedReadCredentials(t *testing.T) {
	h := newSQLiteHarness(t)
	for _, target := range []string{"/api/v1/history?series=cpu.percent&range=1h", "/api/v1/instances"} {
		for _, c := range []struct {
			name string
			cred cred
			want int
		}{{"read token", asReader, 200}, {"admin", asAdmin, 200}, {"ingest token", asIngest, 403}, {"nobody", anon, 401}} {
			if status, _, body := h.do(http.MethodGet, target, nil, "", c.cred); status != c.want {
				t.Errorf("GET %s as %s: %d, want %d: %s", target, c.name, status, c.want, body)
			}
		}
	}
}

// instancesAnswer is GET /api/v1/instances's body.
type instancesAnswer struct {
	Instances []struct {
		ID              string  `json:"id"`
		Region          string  `json:"region"`
		Version         string  `json:"version"`
		StartedAt       string  `json:"started_at"`
		LastSeenAt      string  `json:"last_seen_at"`
		IntervalSeconds float64 `json:"interval_seconds"`
		State           string  `json:"state"`
		Stale           bool    `json:"stale"`
		Current         bool    `json:"current"`
	} `json:"instances"`
}

// TestInstancesListsTheFleet: every instance seen within 7 days, by id,
// with its worst state; one silent for 3 of its intervals is stale, one
// gone for 7 days is not listed; the instance that answers is current.
func TestInstancesListsTheFleet(t *testing.T) {
	forEachHistoryStore(t, func(t *testing.T, st storage.Store, h *harness) {
		ctx := t.Context()
		now := time.Now()
		critical := probes.Snapshot{CollectedAt: now, CPU: probes.CPU{Status: probes.StatusOK, State: probes.LevelCritical},
			Database: probes.Database{Status: probes.StatusUnavailable, State: probes.LevelWarning}}
		calm := probes.Snapshot{CollectedAt: now, CPU: probes.CPU{Status: probes.StatusOK, State: probes.LevelOK}}
		snap := func(s probes.Snapshot) []byte {
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		ms := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
		for _, in := range []storage.Instance{
			// The harness's own instance has the sampler's (empty) id.
			{ID: "", Region: "ams", Version: "v1", StartedMS: ms(time.Hour), SeenMS: ms(time.Second), IntervalMS: 30_000, Snapshot: snap(calm)},
			{ID: "busy", Region: "fra", Version: "v1", StartedMS: ms(time.Hour), SeenMS: ms(80 * time.Second), IntervalMS: 30_000, Snapshot: snap(critical)},
			{ID: "quiet", Region: "fra", Version: "v0", StartedMS: ms(time.Hour), SeenMS: ms(16 * time.Second), IntervalMS: 5_000, Snapshot: snap(calm)},
			{ID: "gone", Region: "fra", Version: "v0", StartedMS: ms(200 * time.Hour), SeenMS: ms(7*24*time.Hour + time.Minute), IntervalMS: 5_000, Snapshot: snap(calm)},
			{ID: "broken", Region: "", Version: "v0", StartedMS: ms(time.Hour), SeenMS: ms(time.Second), IntervalMS: 5_000, Snapshot: []byte("not json")},
		} {
			if err := st.UpsertInstance(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		status, _, body := h.with(t).do(http.MethodGet, "/api/v1/instances", nil, "", asReader)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		got := decode[instancesAnswer](t, body)
		type row struct {
			id, state      string
			stale, current bool
		}
		var rows []row
		for _, in := range got.Instances {
			rows = append(rows, row{in.ID, in.State, in.Stale, in.Current})
		}
		want := []row{{"", "ok", false, true}, {"broken", "stale", false, false}, {"busy", "critical", false, false}, {"quiet", "stale", true, false}}
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("instances: %v, want %v\n%s", rows, want, body)
		}
		b := got.Instances[2]
		if b.Region != "fra" || b.Version != "v1" || b.IntervalSeconds != 30 ||
			b.LastSeenAt != time.UnixMilli(ms(80*time.Second)).UTC().Format("2006-01-02T15:04:05.000Z07:00") ||
			b.StartedAt != time.UnixMilli(ms(time.Hour)).UTC().Format("2006-01-02T15:04:05.000Z07:00") {
			t.Fatalf("busy: %+v", b)
		}
	})
}

// The store down: the history and the fleet answer 503 (openapi_test.go).

func (unavailableStore) HistoryChunks(context.Context, storage.HistoryQuery) ([]storage.HistoryChunk, error) {
	return nil, fmt.Errorf("history: %w", storage.ErrUnavailable)
}

func (unavailableStore) HistoryWatermark(context.Context, int) (int64, error) {
	return 0, fmt.Errorf("watermark: %w", storage.ErrUnavailable)
}

func (unavailableStore) Instances(context.Context) ([]storage.Instance, error) {
	return nil, fmt.Errorf("instances: %w", storage.ErrUnavailable)
}

// seedHistory stores a quarter hour of cpu.percent and disk[/].percent for
// instance, a gap in the middle, and registers it, so that the document's
// answers have points, nulls and an instance to show.
func seedHistory(t *testing.T, st storage.Store, instance string) {
	t.Helper()
	now := time.Now()
	rec := history.NewRecorder(st, instance, history.DefaultTiers()[0])
	for k := range 30 {
		if k > 10 && k < 15 {
			continue
		}
		at := now.Add(-time.Duration(30-k) * 30 * time.Second)
		rec.Add(at, "cpu.percent", 12.5+float64(k))
		rec.Add(at, "disk[/].percent", 63)
	}
	if err := rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	snap, _ := json.Marshal(probes.Snapshot{CollectedAt: now})
	if err := st.UpsertInstance(t.Context(), storage.Instance{ID: instance, StartedMS: now.Add(-time.Hour).UnixMilli(),
		SeenMS: now.UnixMilli(), IntervalMS: 30_000, Snapshot: snap}); err != nil {
		t.Fatal(err)
	}
}
