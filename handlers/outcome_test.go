package handlers_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/vitalsdev/vitals/handlers"
	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/sqlite"
	"github.com/vitalsdev/vitals/storage/sqlite/sqlitetest"
)

// brokenCommit is a real store whose inserts fail as a connection that
// broke after the commit was sent: the outcome is unknown.
type brokenCommit struct{ *sqlite.Store }

func (brokenCommit) InsertEvents(context.Context, []storage.NewEvent) ([]storage.Event, error) {
	return nil, fmt.Errorf("postgres: insert events: %w: unexpected EOF", storage.ErrOutcomeUnknown)
}

// A post whose commit may or may not have happened is not told "try
// again" alone, which without the same keys could store it twice: it gets
// a 503 of its own type that says to retry with the same idempotency keys.
func TestOutcomeUnknownIsItsOwnProblem(t *testing.T) {
	h := newHarness(t, brokenCommit{sqlitetest.Open(t, sqlite.Options{})})
	status, header, body := h.do("POST", "/api/v1/events", []byte(`{"type":"a","message":"b","idempotency_key":"k1"}`), "application/json", asIngest)
	if status != 503 || header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: want 503 with Retry-After", status, header.Get("Retry-After"))
	}
	p := decode[struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}](t, body)
	if p.Type != handlers.ProblemOutcomeUnknown {
		t.Errorf("type %q, want %q", p.Type, handlers.ProblemOutcomeUnknown)
	}
	if p.Detail != "outcome unknown: the events may have been stored; retry with the same idempotency keys" {
		t.Errorf("detail %q", p.Detail)
	}
}
