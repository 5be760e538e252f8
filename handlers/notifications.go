package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/storage"
)

// NotificationLog is what GET /api/v1/notifications reads: the outbox and
// delivery log, and each channel's label (its URL without secrets).
type NotificationLog interface {
	ListNotifications(ctx context.Context, limit int) ([]storage.Notification, error)
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
