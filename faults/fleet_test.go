package faults

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/storage/postgres/postgrestest"
)

const (
	fleetReadToken = "read-token-for-the-fleet-case"
	// fleetInterval is VITALS_HISTORY_INTERVAL, the shortest it may be.
	fleetInterval = 5 * time.Second
	// fleetSlack is what the test allows beyond 3 intervals for its own
	// polling (every 100 ms) and the processes' scheduling.
	fleetSlack = time.Second
)

// TestFleetTakeover runs two real vitals processes on one PostgreSQL
// (a fresh schema of the test server), both on the fleet view; then the
// lease holder is killed with SIGKILL, or frozen with SIGSTOP, 40 s before
// a 5-minute boundary. Within 3 intervals the fleet view shows it stale and
// the survivor holds the lease; the survivor rolls up the bucket that ends
// at the boundary, with the dead instance's samples in it; every 5-minute
// bucket equals the raw samples it covers (no gap, none rolled twice),
// also after a frozen holder wakes. Both cases share one boundary, so they
// run at once; the whole takes up to about 6 minutes.
func TestFleetTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a 5-minute boundary; not in -short")
	}
	postgrestest.URL(t) // skips (or fails in CI) without the server
	// Beside the alert cases, which also mostly wait: one after the other
	// they took the package past go test's 10-minute limit.
	t.Parallel()
	// The boundary leaves a minute to start both, register and pick the
	// holder before the signal at 40 s before it.
	boundary := time.Now().Add(80 * time.Second).Truncate(5 * time.Minute).Add(5 * time.Minute)
	t.Logf("5-minute boundary %s; signal at %s", boundary.Format(time.TimeOnly), boundary.Add(-40*time.Second).Format(time.TimeOnly))
	for _, c := range []struct {
		name string
		sig  syscall.Signal
	}{{"kill -9", syscall.SIGKILL}, {"SIGSTOP", syscall.SIGSTOP}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fleetCase(t, c.sig, boundary)
		})
	}
}

type fleetMember struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Stale bool   `json:"stale"`
}

// fleetView is GET /api/v1/instances on base, by id; nil when it did not
// answer 200.
func fleetView(base string) map[string]fleetMember {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/instances", nil)
	req.Header.Set("Authorization", "Bearer "+fleetReadToken)
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Instances []fleetMember `json:"instances"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return nil
	}
	out := map[string]fleetMember{}
	for _, in := range body.Instances {
		out[in.ID] = in
	}
	return out
}

func fleetCase(t *testing.T, sig syscall.Signal, boundary time.Time) {
	url, schema := postgrestest.Schema(t)
	ids := []string{"fleet-a", "fleet-b"}
	procs := map[string]*vitals{}
	for i, id := range ids {
		env := baseEnv(t)
		env["DATABASE_URL"] = url
		env["VITALS_PG_SCHEMA"] = schema
		env["VITALS_HISTORY_INTERVAL"] = fleetInterval.String()
		env["VITALS_READ_TOKEN"] = fleetReadToken
		env["FLY_MACHINE_ID"] = id
		env["FLY_REGION"] = []string{"ams", "fra"}[i]
		procs[id] = startVitals(t, env)
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	table := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	holder := func() string {
		var h string
		_ = conn.QueryRow(ctx, "SELECT holder FROM "+table("leases")+" WHERE name = 'history'").Scan(&h)
		return h
	}
	watermark := func() int64 {
		var wm int64
		_ = conn.QueryRow(ctx, "SELECT until_ms FROM "+table("history_watermarks")+" WHERE tier = 1").Scan(&wm)
		return wm
	}

	// Both on the fleet view of each, neither stale, and a holder.
	deadline := time.Now().Add(45 * time.Second)
	for {
		ok := holder() != ""
		for _, p := range procs {
			view := fleetView(p.base)
			for _, id := range ids {
				ok = ok && view[id].ID == id && !view[id].Stale
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two instances are not both on the fleet view with a lease holder (holder %q)", holder())
		}
		time.Sleep(200 * time.Millisecond)
	}
	signalAt := boundary.Add(-40 * time.Second)
	if time.Until(signalAt) < 0 {
		t.Fatalf("start-up took past %s", signalAt.Format(time.TimeOnly))
	}
	time.Sleep(time.Until(signalAt))
	h := holder()
	survivor := ids[0]
	if h == ids[0] {
		survivor = ids[1]
	}
	if procs[h] == nil {
		t.Fatalf("lease holder %q is not one of %v", h, ids)
	}
	before := watermark()
	sent := time.Now()
	if err := procs[h].cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if sig == syscall.SIGSTOP {
		// Woken at the end, however the test ends, so that it can exit.
		t.Cleanup(func() { _ = procs[h].cmd.Process.Signal(syscall.SIGCONT) })
	}
	var staleAfter, leaseAfter time.Duration
	for staleAfter == 0 || leaseAfter == 0 {
		if time.Since(sent) > 6*fleetInterval {
			t.Fatalf("%s after %s: stale after %s, lease after %s (holder %q)", sig, time.Since(sent), staleAfter, leaseAfter, holder())
		}
		if v := fleetView(procs[survivor].base); staleAfter == 0 && v[h].Stale && v[h].State == "stale" && !v[survivor].Stale {
			staleAfter = time.Since(sent)
		}
		if leaseAfter == 0 && holder() == survivor {
			leaseAfter = time.Since(sent)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s of holder %s: shown stale after %s, lease taken by %s after %s (interval %s)",
		sig, h, staleAfter.Round(10*time.Millisecond), survivor, leaseAfter.Round(10*time.Millisecond), fleetInterval)
	if limit := 3*fleetInterval + fleetSlack; staleAfter > limit || leaseAfter > limit {
		t.Errorf("stale after %s, lease after %s: want both within 3 intervals (%s, with %s for polling)", staleAfter, leaseAfter, 3*fleetInterval, fleetSlack)
	}

	// The bucket ending at the boundary is due a grace of 2 intervals
	// after it; the survivor rolls it up at its next tick.
	due := boundary.Add(2 * fleetInterval)
	for watermark() < boundary.UnixMilli() {
		if time.Now().After(due.Add(3*fleetInterval + fleetSlack)) {
			t.Fatalf("the watermark is at %d, not past the boundary %d, 3 intervals after the bucket was due (holder %q)", watermark(), boundary.UnixMilli(), holder())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("5-minute watermark %s -> %s, rolled up %s after the bucket was due, by %s",
		time.UnixMilli(before).UTC().Format(time.TimeOnly), time.UnixMilli(watermark()).UTC().Format(time.TimeOnly),
		time.Since(due).Round(10*time.Millisecond), holder())
	if holder() != survivor {
		t.Errorf("holder after the roll-up: %q, want %q", holder(), survivor)
	}
	if sig == syscall.SIGSTOP {
		// The frozen holder wakes; it must not roll up what the survivor
		// did, and it rejoins the fleet.
		if err := procs[h].cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		woke := time.Now()
		for {
			if v := fleetView(procs[survivor].base); !v[h].Stale && v[h].ID == h {
				break
			}
			if time.Since(woke) > 3*fleetInterval+fleetSlack {
				t.Fatalf("%s did not rejoin the fleet within 3 intervals of SIGCONT", h)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * fleetInterval) // its ticks after waking, roll-ups tried
		if holder() != survivor {
			t.Errorf("holder after the frozen one woke: %q, want %q", holder(), survivor)
		}
	}
	checkFleetRollups(t, conn, table, boundary, ids)
}

// checkFleetRollups compares every 5-minute bucket before the watermark
// with the raw samples of its span, for every series of both instances:
// a bucket is there exactly when it has samples (no gap), once, with
// their count, min, max and mean (none rolled twice). The bucket that ends
// at the boundary holds samples of both.
func checkFleetRollups(t *testing.T, conn *pgx.Conn, table func(string) string, boundary time.Time, ids []string) {
	t.Helper()
	ctx := t.Context()
	var wm int64
	if err := conn.QueryRow(ctx, "SELECT until_ms FROM "+table("history_watermarks")+" WHERE tier = 1").Scan(&wm); err != nil {
		t.Fatal(err)
	}
	type key struct {
		inst, series string
		bucket       int64
	}
	read := func(tier int) map[key][]history.Point {
		rows, err := conn.Query(ctx, "SELECT instance, series, data FROM "+table("history_chunks")+" WHERE tier = $1", tier)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[key][]history.Point{}
		for rows.Next() {
			var inst, series string
			var data []byte
			if err := rows.Scan(&inst, &series, &data); err != nil {
				t.Fatal(err)
			}
			pts, err := history.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pts {
				b := p.T - p.T%(5*60_000)
				if tier == 0 && p.T >= wm {
					continue
				}
				k := key{inst, series, b}
				out[k] = append(out[k], p)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	raw, rolled := read(0), read(1)
	if len(raw) == 0 {
		t.Fatal("no raw sample before the watermark")
	}
	for k, pts := range rolled {
		if len(pts) != 1 {
			t.Fatalf("%s %s bucket %d is stored %d times", k.inst, k.series, k.bucket, len(pts))
		}
		if len(raw[k]) == 0 {
			t.Fatalf("%s %s bucket %d has no raw sample", k.inst, k.series, k.bucket)
		}
	}
	seen := map[string]bool{}
	for k, samples := range raw {
		got, ok := rolled[k]
		if !ok {
			t.Fatalf("%s %s bucket %d: %d raw samples, not rolled up (a gap)", k.inst, k.series, k.bucket, len(samples))
		}
		want := history.Point{T: k.bucket, Min: math.Inf(1), Max: math.Inf(-1)}
		for _, s := range samples {
			want.Min, want.Max = min(want.Min, s.Min), max(want.Max, s.Max)
			want.Sum += s.Sum
			want.Count += s.Count
		}
		p := got[0]
		if p.T != want.T || p.Count != want.Count || p.Min != want.Min || p.Max != want.Max || math.Abs(p.Mean()-want.Mean()) > 1e-9*math.Max(1, math.Abs(want.Mean())) {
			t.Fatalf("%s %s bucket %d: rolled %+v, raw %+v", k.inst, k.series, k.bucket, p, want)
		}
		if k.bucket == boundary.Add(-5*time.Minute).UnixMilli() {
			seen[k.inst] = true
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("the bucket ending at the boundary has no sample of %s", id)
		}
	}
	t.Logf("%d 5-minute buckets (both instances, every series) checked against the raw samples before %s", len(rolled), time.UnixMilli(wm).UTC().Format(time.TimeOnly))
}
