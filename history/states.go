package history

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/probes"
)

// Each watched source's state is recorded as two numeric series beside the
// figures, so that the roll-ups that keep min, mean, max and count keep
// what the heartbeat strips need: STATE_OK is 1 for a sample whose state
// was ok and 0 otherwise (its mean over a step is the share of samples
// ok), STATE_RANK the state's rank in probes.Levels (its max is the
// step's worst state). A source that is not configured or not applicable
// records nothing: its steps have no sample and are unknown, never down.
const (
	stateOKSuffix   = ".state_ok"
	stateRankSuffix = ".state_rank"
)

// Watched is one source the strips show: the database, Redis or one HTTP
// target, named as its series are ("database", "redis", "http[api]");
// Target is the HTTP target's name, empty for the other two.
type Watched struct {
	Name, Target string
	Level        probes.Level
}

// WatchedOf lists the sources of snap whose state the history records:
// those configured and applicable.
func WatchedOf(snap *probes.Snapshot) []Watched {
	all := []Watched{{Name: "database", Level: snap.Database.State}, {Name: "redis", Level: snap.Redis.State}}
	for _, h := range snap.HTTP {
		all = append(all, Watched{Name: "http[" + h.Name + "]", Target: h.Name, Level: h.State})
	}
	return slices.DeleteFunc(all, func(w Watched) bool { return w.Level == "" || w.Level.Quiet() })
}

// recordStates adds the state series of snap's watched sources.
func (r *Recorder) recordStates(snap *probes.Snapshot) {
	for _, w := range WatchedOf(snap) {
		ok := 0.0
		if w.Level == probes.LevelOK {
			ok = 1
		}
		r.Add(snap.CollectedAt, w.Name+stateOKSuffix, ok)
		r.Add(snap.CollectedAt, w.Name+stateRankSuffix, float64(w.Level.Rank()))
	}
}

// StateSeries returns the two series of source (see WatchedOf).
func StateSeries(source string) (ok, rank string) {
	return source + stateOKSuffix, source + stateRankSuffix
}

// knownStateSeries reports whether name is a state series of a source
// the history records: database, redis, or an HTTP target by its name.
func knownStateSeries(name string) bool {
	base, found := strings.CutSuffix(name, stateOKSuffix)
	if !found {
		if base, found = strings.CutSuffix(name, stateRankSuffix); !found {
			return false
		}
	}
	switch {
	case base == "database" || base == "redis":
		return true
	case strings.HasPrefix(base, "http[") && strings.HasSuffix(base, "]"):
		return validKey(base[len("http[") : len(base)-1])
	}
	return false
}

// Cell is one step of a heartbeat strip. Samples 0 means nothing was
// recorded in it (vitals stopped, the machine scaled to zero): unknown.
type Cell struct {
	StartMS int64
	Samples int64
	// OKShare is the share of samples whose state was ok, 0 to 1.
	OKShare float64
	// Worst is the loudest state of the step.
	Worst probes.Level
}

// Strip is one source's cells, oldest first, with the share of samples
// ok over the whole strip (nil without samples).
type Strip struct {
	Source string
	Cells  []Cell
	Uptime *float64
}

// Strips reads the heartbeat strips of sources for instance: span in
// steps of step, ending with the step that holds now. The step must be a
// multiple of the tier's step (one day from the hourly tier, 15 minutes
// from the 5-minute one); newer steps not yet rolled up are read from the
// tiers below, as Query does.
func (rd *Reader) Strips(ctx context.Context, instance string, sources []string, span, step time.Duration, now time.Time) ([]Strip, error) {
	r := Range{Name: "strip", Span: span, Step: step, Tier: 0}
	for i := len(rd.tiers) - 1; i > 0; i-- {
		if rd.tiers[i].Step > 0 && step%rd.tiers[i].Step == 0 {
			r.Tier = i
			break
		}
	}
	names := make([]string, 0, 2*len(sources))
	for _, s := range sources {
		ok, rank := StateSeries(s)
		names = append(names, ok, rank)
	}
	res, err := rd.Query(ctx, instance, names, r, now)
	if err != nil {
		return nil, err
	}
	levels := probes.Levels()
	out := make([]Strip, len(sources))
	for i, s := range sources {
		oks, ranks := res.Series[2*i], res.Series[2*i+1]
		st := Strip{Source: s, Cells: make([]Cell, len(oks))}
		var okSum float64
		var n int64
		for j, p := range oks {
			c := Cell{StartMS: p.T, Samples: p.Count}
			if p.Count > 0 {
				c.OKShare = p.Sum / float64(p.Count)
				okSum += p.Sum
				n += p.Count
				if rk := int(ranks[j].Max); ranks[j].Count > 0 && rk >= 0 && rk < len(levels) {
					c.Worst = levels[rk]
				}
			}
			st.Cells[j] = c
		}
		if n > 0 {
			u := okSum / float64(n)
			st.Uptime = &u
		}
		out[i] = st
	}
	return out, nil
}
