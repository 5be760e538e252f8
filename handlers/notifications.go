package handlers

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/storage"
)

// NotificationLog is what GET /api/v1/notifications reads: the outbox and
// delivery log, and each channel's label (its URL without secrets).
type NotificationLog interface {
	ListNotifications(ctx context.Context, limit int) ([]storage.Notification, error)
	EnqueueNotifications(ctx context.Context, ns []storage.Notification) error
}

type notificationEntry struct {
	Key        string     `json:"key"`
	Channel    string     `json:"channel"`
	Label      string     `json:"label"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	CreatedAt  time.Time  `json:"created_at"`
	NextAt     *time.Time `json:"next_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	LastStatus int        `json:"last_status"`
	LastError  string     `json:"last_error,omitempty"`
}

// listNotifications answers the delivery log, newest first (7 days, at
// most 1,000 entries, and what is still pending).
func (s *server) listNotifications(c *fiber.Ctx) error {
	if s.Notifications == nil {
		return c.JSON(fiber.Map{"notifications": []notificationEntry{}})
	}
	list, err := s.Notifications.ListNotifications(c.UserContext(), 1000)
	if err != nil {
		return fmt.Errorf("list notifications: %w", err)
	}
	out := make([]notificationEntry, 0, len(list))
	ms := func(v int64) *time.Time {
		if v == 0 {
			return nil
		}
		t := time.UnixMilli(v).UTC()
		return &t
	}
	for _, n := range list {
		e := notificationEntry{Key: n.Key, Channel: n.Channel, Label: s.ChannelLabels[n.Channel], State: n.State, Attempts: n.Attempts,
			CreatedAt: time.UnixMilli(n.CreatedMS).UTC(), FinishedAt: ms(n.FinishedMS), LastStatus: n.LastStatus, LastError: n.LastError}
		if n.State == storage.NotificationPending {
			e.NextAt = ms(n.NextMS)
		}
		out = append(out, e)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"notifications": out})
}

// testNotification puts one test notification for a channel in the outbox,
// as a transition would: the worker delivers it, and its outcome is on the
// delivery log under the key the answer gives. Admin only, with the page's
// CSRF token.
func (s *server) testNotification(c *fiber.Ctx) error {
	id := c.Query("channel")
	label, ok := s.ChannelLabels[id]
	if !ok || s.Notifications == nil {
		return &Problem{Status: fiber.StatusBadRequest, Detail: "no such channel",
			Errors: []FieldError{{Field: "channel", Message: "must be the id of a VITALS_NOTIFY channel, as GET /api/v1/notifications names it"}}}
	}
	now := time.Now()
	key := "test-" + rand.Text()
	payload, _ := json.Marshal(map[string]string{"key": key, "rule": "test", "series": "", "phase": "test",
		"since": now.UTC().Format(time.RFC3339), "text": "vitals: a test notification, sent from the dashboard"})
	n := storage.Notification{Key: key, Channel: id, Payload: string(payload), CreatedMS: now.UnixMilli(), NextMS: now.UnixMilli()}
	if err := s.Notifications.EnqueueNotifications(c.UserContext(), []storage.Notification{n}); err != nil {
		return fmt.Errorf("test notification: %w", err)
	}
	s.log.Info("test notification queued", "channel", id)
	if c.Get("HX-Request") == "true" {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.Status(fiber.StatusAccepted).SendString(`<span class="note">` + html.EscapeString(s.Site.Catalog(s.lang(c)).MustT("notify.queued")) + `</span>`)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"key": key, "channel": id, "label": label})
}
