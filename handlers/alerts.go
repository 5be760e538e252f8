package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/alerts"
)

// Alerts is what GET /api/v1/alerts reads: the rules and their alerts'
// phases. *alerts.Engine is one.
type Alerts interface {
	Rules() []alerts.Rule
	Alerts() []alerts.Alert
}

type alertRule struct {
	Name       string       `json:"name"`
	Condition  string       `json:"condition"`
	ForSeconds float64      `json:"for_seconds"`
	Shared     bool         `json:"shared"`
	Alerts     []alertState `json:"alerts"`
}

type alertState struct {
	Series  string     `json:"series"`
	Phase   string     `json:"phase"`
	Since   time.Time  `json:"since"`
	Value   *float64   `json:"value"`
	State   string     `json:"state,omitempty"`
	FiredAt *time.Time `json:"fired_at,omitempty"`
}

// listAlerts answers every rule with its alerts that are pending, firing
// or resolved (an inactive one is not listed).
func (s *server) listAlerts(c *fiber.Ctx) error {
	by := map[string][]alertState{}
	for _, a := range s.AlertRules.Alerts() {
		st := alertState{Series: a.Series, Phase: string(a.Phase), Since: a.Since.UTC(), Value: a.Value, State: string(a.Level)}
		if !a.FiredAt.IsZero() {
			f := a.FiredAt.UTC()
			st.FiredAt = &f
		}
		by[a.Rule] = append(by[a.Rule], st)
	}
	rules := s.AlertRules.Rules()
	out := make([]alertRule, 0, len(rules))
	for _, r := range rules {
		list := by[r.Name]
		if list == nil {
			list = []alertState{}
		}
		out = append(out, alertRule{Name: r.Name, Condition: r.Text, ForSeconds: r.For.Seconds(), Shared: r.Shared, Alerts: list})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"rules": out})
}

// noAlerts is the empty engine of a server built without one (tests).
type noAlerts struct{}

func (noAlerts) Rules() []alerts.Rule   { return nil }
func (noAlerts) Alerts() []alerts.Alert { return nil }
