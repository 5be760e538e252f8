package handlers

import (
	"context"
	"errors"
	"fmt"
	"html"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/alerts"
)

// Alerts is what GET /api/v1/alerts reads: the rules and their alerts'
// phases. *alerts.Engine is one.
type Alerts interface {
	Rules() []alerts.Rule
	Alerts() []alerts.Alert
	// Silences are the rules silenced now; Silence silences one for d (0
	// unsilences it) and records it in the feed.
	Silences() map[string]alerts.Silence
	Silence(ctx context.Context, rule string, d time.Duration, by string) (alerts.Silence, error)
}

type alertRule struct {
	Name       string       `json:"name"`
	Condition  string       `json:"condition"`
	ForSeconds float64      `json:"for_seconds"`
	Shared     bool         `json:"shared"`
	Alerts     []alertState `json:"alerts"`
	// SilencedUntil is when the rule's silence ends; nil when it is not
	// silenced.
	SilencedUntil *time.Time `json:"silenced_until"`
	SilencedBy    string     `json:"silenced_by,omitempty"`
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
	silences := s.AlertRules.Silences()
	out := make([]alertRule, 0, len(rules))
	for _, r := range rules {
		list := by[r.Name]
		if list == nil {
			list = []alertState{}
		}
		ar := alertRule{Name: r.Name, Condition: r.Text, ForSeconds: r.For.Seconds(), Shared: r.Shared, Alerts: list}
		if sl, ok := silences[r.Name]; ok {
			u := sl.Until.UTC()
			ar.SilencedUntil, ar.SilencedBy = &u, sl.By
		}
		out = append(out, ar)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"rules": out})
}

// silenceAlert silences a rule for a time (?rule=NAME&for=DURATION, a Go
// duration up to 7 days; for=0 unsilences it). Admin only, with the page's
// CSRF token; the silence is kept in the store and recorded in the feed.
func (s *server) silenceAlert(c *fiber.Ctx) error {
	rule := c.Query("rule")
	d, err := time.ParseDuration(c.Query("for"))
	if err != nil || d < 0 || d > alerts.MaxSilence || (d > 0 && d < time.Minute) {
		return &Problem{Status: fiber.StatusBadRequest, Detail: "the silence's length is not valid",
			Errors: []FieldError{{Field: "for", Message: "must be a duration from 1m to 168h (like 1h, 4h, 24h), or 0 to unsilence"}}}
	}
	sl, err := s.AlertRules.Silence(c.UserContext(), rule, d, "admin")
	switch {
	case errors.Is(err, alerts.ErrNoSuchRule):
		return &Problem{Status: fiber.StatusBadRequest, Detail: "no such rule",
			Errors: []FieldError{{Field: "rule", Message: "must be the name of a rule, as GET /api/v1/alerts lists them"}}}
	case err != nil:
		return fmt.Errorf("silence %s: %w", rule, err)
	}
	var until *time.Time
	if d > 0 {
		u := sl.Until.UTC()
		until = &u
	}
	if c.Get("HX-Request") == "true" {
		cat := s.Site.Catalog(s.lang(c))
		msg := cat.MustT("alerts.unsilenced")
		if until != nil {
			msg = cat.MustT("alerts.silenced_until", "t", until.In(s.Location).Format("2006-01-02 15:04"))
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.SendString(`<span class="note">` + html.EscapeString(msg) + `</span>`)
	}
	return c.JSON(fiber.Map{"rule": rule, "silenced_until": until})
}

// noAlerts is the empty engine of a server built without one (tests).
type noAlerts struct{}

func (noAlerts) Rules() []alerts.Rule                { return nil }
func (noAlerts) Alerts() []alerts.Alert              { return nil }
func (noAlerts) Silences() map[string]alerts.Silence { return nil }
func (noAlerts) Silence(context.Context, string, time.Duration, string) (alerts.Silence, error) {
	return alerts.Silence{}, alerts.ErrNoSuchRule
}
