package handlers

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/history"
	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/web"
)

// uptimeTTL is how long the strips are reused: their cells are a day and
// a quarter hour, and each reading is a store query over 90 days of
// roll-ups, which the polled fragment must not repeat every few seconds.
const uptimeTTL = time.Minute

// uptimeCache holds the last strips read of each instance shown, for
// every language.
type uptimeCache struct {
	mu   sync.Mutex
	byID map[string]uptimeEntry
}

type uptimeEntry struct {
	at   time.Time
	rows []web.UptimeRow
}

// uptimePartial is the heartbeat strips of the database, Redis and each
// HTTP target of this instance.
func (s *server) uptimePartial(c *fiber.Ctx) error {
	lang := s.lang(c)
	data := s.pageData(c, lang, web.Feed{})
	if err := s.viewInstance(c, &data); err != nil {
		return err
	}
	rows, err := s.uptimeRows(c.UserContext(), data.Snapshot)
	up := &web.Uptime{Rows: rows}
	if err != nil {
		s.log.Warn("dashboard: uptime strips", "err", err)
		up.Unavailable = true
	}
	data.Uptime = up
	return s.renderHTML(c, lang, "uptime", data)
}

// uptimeRows reads the strips of snap's instance, or reuses those read
// within uptimeTTL (shared, read-only: the page words them at render).
func (s *server) uptimeRows(ctx context.Context, snap *probes.Snapshot) ([]web.UptimeRow, error) {
	s.uptime.mu.Lock()
	defer s.uptime.mu.Unlock()
	now := time.Now()
	id := snap.Instance.ID
	if e, ok := s.uptime.byID[id]; ok && now.Sub(e.at) < uptimeTTL {
		return e.rows, nil
	}
	watched := history.WatchedOf(snap)
	sources := make([]string, len(watched))
	for i, w := range watched {
		sources[i] = w.Name
	}
	if len(sources) == 0 {
		return nil, nil
	}
	rd := s.history
	days, err := rd.Strips(ctx, snap.Instance.ID, sources, 90*24*time.Hour, 24*time.Hour, now)
	if err != nil {
		return nil, err
	}
	quarters, err := rd.Strips(ctx, snap.Instance.ID, sources, 24*time.Hour, 15*time.Minute, now)
	if err != nil {
		return nil, err
	}
	rows := make([]web.UptimeRow, len(sources))
	for i, w := range watched {
		rows[i] = web.UptimeRow{Watched: w, Days: days[i], Quarters: quarters[i]}
	}
	// Nothing sampled yet (a fresh start): read again at the next poll
	// rather than show empty strips for a minute.
	if slices.ContainsFunc(rows, func(r web.UptimeRow) bool { return r.Days.Uptime != nil }) {
		if s.uptime.byID == nil {
			s.uptime.byID = map[string]uptimeEntry{}
		}
		// The fleet is bounded (7 days of instances); entries past their
		// time are dropped as others are read.
		for k, e := range s.uptime.byID {
			if now.Sub(e.at) >= uptimeTTL {
				delete(s.uptime.byID, k)
			}
		}
		s.uptime.byID[id] = uptimeEntry{at: now, rows: rows}
	}
	return rows, nil
}
