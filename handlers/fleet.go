package handlers

import (
	"encoding/json"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/web"
)

// instanceParam reads the page's instance parameter: "" for the instance
// serving the page (also when it names that one).
func (s *server) instanceParam(c *fiber.Ctx) (string, error) {
	id := c.Query("instance")
	if id == "" || id == s.Snapshots.Latest().Snapshot.Instance.ID {
		return "", nil
	}
	if !validInstanceID(id) {
		return "", &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query",
			Errors: []FieldError{{Field: "instance", Message: badInstanceID}}}
	}
	return id, nil
}

// viewInstance points page at another instance of the fleet, when the
// request names one: its latest stored snapshot replaces this one's. An
// instance the fleet does not list (never seen, or gone for 7 days) is a
// 404.
func (s *server) viewInstance(c *fiber.Ctx, page *web.Page) error {
	id, err := s.instanceParam(c)
	if err != nil || id == "" {
		return err
	}
	list, err := s.fleet(c.UserContext())
	if err != nil {
		return err
	}
	return view(list, id, page)
}

// view points page at the instance id of list.
func view(list []member, id string, page *web.Page) error {
	i := slices.IndexFunc(list, func(m member) bool { return m.ID == id })
	if i < 0 {
		return newProblem(fiber.StatusNotFound, "no instance of the fleet has this id (GET /api/v1/instances lists them)")
	}
	var snap probes.Snapshot
	if err := json.Unmarshal(list[i].snapshot, &snap); err != nil {
		return newProblem(fiber.StatusNotFound, "this instance has not stored a readable snapshot")
	}
	page.Snapshot = &snap
	page.Viewing = &web.Viewing{ID: id, TakenAt: snap.CollectedAt, Stale: list[i].Stale}
	return nil
}

// fleetPartial is the fleet list; one read of the fleet serves the list
// and the instance shown.
func (s *server) fleetPartial(c *fiber.Ctx) error {
	id, err := s.instanceParam(c)
	if err != nil {
		return err
	}
	lang := s.lang(c)
	data := s.pageData(c, lang, web.Feed{})
	fl := &web.Fleet{}
	list, err := s.fleet(c.UserContext())
	switch {
	case err != nil:
		s.log.Warn("dashboard: fleet", "err", err)
		fl.Unavailable = true
	case id != "":
		if err := view(list, id, &data); err != nil {
			return err
		}
	}
	shown := data.Snapshot.Instance.ID
	for _, m := range list {
		fl.Rows = append(fl.Rows, web.FleetRow{ID: m.ID, Region: m.Region, Version: m.Version,
			Started: m.started, LastSeen: m.seen, State: m.State, Current: m.Current, Selected: m.ID == shown})
	}
	s.fleetSparks(c.UserContext(), fl.Rows)
	data.Fleet = fl
	return s.renderHTML(c, lang, "fleet", data)
}
