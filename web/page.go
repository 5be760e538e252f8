package web

import (
	"net/url"
	"strings"
	"time"

	"github.com/vitalsdev/vitals/probes"
	"github.com/vitalsdev/vitals/storage"
)

// Page is what the dashboard templates render: the full page and each
// polled fragment take the same value, so there is one source of truth.
type Page struct {
	Lang     Lang
	Snapshot *probes.Snapshot
	Limits   Thresholds
	Feed     Feed
	// Now is the time relative times are counted from.
	Now time.Time
	// Location is where exact times are shown (VITALS_TIMEZONE).
	Location *time.Location
	// PollSeconds is how often the page's fragments refresh.
	PollSeconds int
	Backend     string
	// CSRF is the token every state-changing form carries.
	CSRF string
	// Theme is "light" or "dark" when the admin chose one, empty to follow
	// the system.
	Theme string
	// Back is the page the preference forms return to.
	Back  string
	Login LoginForm
	// Fragment is true when the cards are rendered alone (polled): the
	// header's summary then travels with them as an out-of-band swap.
	Fragment bool
	// Alerts are the alerts pending or firing now, firing first.
	Alerts []Alert
	// Channels are VITALS_NOTIFY's, each with a test button.
	Channels []Channel
	// Rules are every alert rule for the alerts panel (rules.html).
	Rules []RuleRow
	// Uptime is the heartbeat strips, in their own fragment; nil on the
	// page, which loads them after it.
	Uptime *Uptime
	// Fleet is the fleet list, in its own fragment like Uptime; the page
	// has it only on PostgreSQL, where instances share the store.
	Fleet *Fleet
	// Viewing is set when the page shows another instance than the one
	// serving it.
	Viewing *Viewing
	// Sparks are the cards' sparklines by card (chart.go); Chart is the
	// larger chart a card opened, in its own fragment.
	Sparks map[string]*Spark
	Chart  *Chart
}

// InstanceQuery is the query string that keeps the instance shown in a
// fragment's URL: "" for the serving instance.
func (p Page) InstanceQuery() string {
	if p.Viewing == nil {
		return ""
	}
	return "?instance=" + url.QueryEscape(p.Viewing.ID)
}

// RuleRow is one alert rule on the alerts panel: its alerts pending,
// firing or resolved (none: inactive), and its silence.
type RuleRow struct {
	Name, Condition string
	Alerts          []Alert
	// SilencedUntil is when its silence ends; zero when not silenced.
	SilencedUntil time.Time
}

// SilenceChoices are the silences the alerts panel offers.
func (Page) SilenceChoices() []string { return []string{"1h", "4h", "24h"} }

// Channel is one notification channel: its id and its label (the URL
// without secrets).
type Channel struct {
	ID, Label string
}

// Alert is one alert the page lists above the cards.
type Alert struct {
	Rule   string
	Series string
	Phase  string // pending or firing (resolved on the alerts panel)
	Since  time.Time
	// Value is the figure that made it fire, formatted; "" for a state.
	Value string
	Level probes.Level
}

// LoginForm is what the sign-in page shows besides the form itself.
type LoginForm struct {
	User string
	// Error is the message above the form, already in the page's language.
	Error string
	// Notice is a calm message above the form (the session ended).
	Notice string
	// Next is the local path to return to after signing in.
	Next string
}

// Feed is the activity feed's part of a page.
type Feed struct {
	Events []storage.Event
	// Items are Events as the page shows them (Site.Items); the handler
	// fills them in the page's language.
	Items []Item
	Chips []Chip
	// Query is the search text (email or message).
	Query string
	// User is the person whose timeline the feed is (the user_email
	// filter); EveryoneURL is the same view without it.
	User        string
	EveryoneURL string
	// Filtered is true when a type filter or a search is applied.
	Filtered bool
	// Unavailable is true when the store could not be read.
	Unavailable bool
	// NewURL is what the feed polls: the events after the newest shown.
	NewURL string
	// NewCount, when not zero, is how many new events a poll found, too
	// many to add at once; NewCapped says there may be more. ShowURL
	// reloads the feed from the newest (with the same filter).
	NewCount  int
	NewCapped bool
	ShowURL   string
	// OlderURL loads the page after the events shown; empty at the end.
	OlderURL string
}

// Item is one event as the feed shows it: every figure already worded, so
// that rendering fifty of them costs field reads, not function calls.
type Item struct {
	ID      int64
	Icon    string
	Label   string
	Message string
	Email   string
	// ISO is the RFC 3339 time, Time its clock part in the page's zone
	// (shown, under the day's separator), Ago the relative time in the
	// page's language (on hover).
	ISO, Time, Ago string
	// Day and DayLabel are set on the first event of each day (in the
	// page's zone): the feed puts a separator above it.
	Day, DayLabel string
	// Cursor is the event's position, for fetching its details.
	Cursor     string
	HasDetails bool
}

// Chip is one type filter of the feed.
type Chip struct {
	// Value is sent as the type parameter: one type, or several joined by
	// commas.
	Value string
	// Key is the catalogue key of the label; empty for a type vitals has no
	// label for, which shows Value.
	Key     string
	Icon    string
	Checked bool
}

// Limit is a warning and a critical threshold for one figure; the probes
// own it because the sampler judges every snapshot by it.
type Limit = probes.Limit

// Thresholds colour the cards; the admin sets them by environment.
type Thresholds = probes.Thresholds

// DefaultThresholds are the thresholds used when none are configured; the
// configuration's defaults are the same numbers (a test checks).
func DefaultThresholds() Thresholds { return probes.DefaultThresholds() }

// EventType is how the feed shows one kind of event.
type EventType struct {
	Type string
	// Key is the catalogue key of its label.
	Key  string
	Icon string
	// Own is true for vitals' own events, which the feed hides unless
	// their chip is on.
	Own bool
}

// EventTypes lists the types the feed has a label and an icon for: the
// seed's six, then vitals' own.
func EventTypes() []EventType {
	return []EventType{
		{"user_registered", "type.user_registered", "i-reg", false},
		{"user_approved", "type.user_approved", "i-ok", false},
		{"user_rejected", "type.user_rejected", "i-rej", false},
		{"stream_started", "type.stream_started", "i-play", false},
		{"stream_stopped", "type.stream_stopped", "i-stop", false},
		{"track_added", "type.track_added", "i-track", false},
		{storage.TypeSignedIn, "type.admin.signed_in", "i-key", true},
		{storage.TypeSignInFailed, "type.admin.sign_in_failed", "i-key", true},
		{storage.TypeLockedOut, "type.admin.locked_out", "i-key", true},
		{storage.TypeTokenCreated, "type.token.created", "i-key", true},
		{storage.TypeTokenRevoked, "type.token.revoked", "i-key", true},
		{storage.TypeEventsErased, "type.events.erased", "i-key", true},
		// The alert engine's transitions (alerts.TypeFiring, TypeResolved;
		// web may not import alerts).
		{"alert.firing", "type.alert.firing", "i-rej", true},
		{"alert.resolved", "type.alert.resolved", "i-ok", true},
		{"alert.silenced", "type.alert.silenced", "i-key", true},
		{"alert.unsilenced", "type.alert.unsilenced", "i-key", true},
	}
}

// OtherIcon is the icon of a type vitals has no label for.
const OtherIcon = "i-dot"

// OwnChip is the chip value that selects every one of vitals' own event
// types (sign-ins, tokens, erasures).
func OwnChip() string {
	var own []string
	for _, et := range EventTypes() {
		if et.Own {
			own = append(own, et.Type)
		}
	}
	return strings.Join(own, ",")
}

func eventType(t string) (EventType, bool) {
	for _, et := range EventTypes() {
		if et.Type == t {
			return et, true
		}
	}
	return EventType{}, false
}

// Chips returns the feed's type filters with those in selected checked:
// one per seed type, one for vitals' own events, and one for each other
// selected type so that it can be unchecked.
func Chips(selected []string) []Chip {
	sel := map[string]bool{}
	for _, t := range selected {
		sel[t] = true
	}
	var chips []Chip
	known := map[string]bool{}
	group := true
	for _, et := range EventTypes() {
		known[et.Type] = true
		if et.Own {
			group = group && sel[et.Type]
			continue
		}
		chips = append(chips, Chip{Value: et.Type, Key: et.Key, Icon: et.Icon, Checked: sel[et.Type]})
	}
	chips = append(chips, Chip{Value: OwnChip(), Key: "chip.own", Icon: "i-key", Checked: group})
	added := map[string]bool{}
	for _, t := range selected {
		if et, ok := eventType(t); ok && et.Own && !group && !added[t] {
			// One of vitals' own types picked on its own (by URL): show
			// it so that it can be unchecked.
			added[t] = true
			chips = append(chips, Chip{Value: t, Key: et.Key, Icon: et.Icon, Checked: true})
			continue
		}
		if !known[t] {
			known[t] = true
			chips = append(chips, Chip{Value: t, Icon: OtherIcon, Checked: true})
		}
	}
	return chips
}
