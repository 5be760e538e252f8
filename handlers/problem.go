package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/storage"
)

// FieldError names one invalid field of a request. Index is the position of
// the event in a batch, nil for a single event.
type FieldError struct {
	Index   *int   `json:"index,omitempty"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// problem is an RFC 9457 problem details document.
type problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
}

// Problem is an error that knows the HTTP status and the words a client
// should see. Handlers return it; the app's ErrorHandler writes it.
type Problem struct {
	// Type names a kind of problem a client must tell apart; empty means
	// "about:blank" (the status says it all).
	Type   string
	Status int
	Detail string
	Errors []FieldError
	// Header is set on the response as well (e.g. WWW-Authenticate).
	Header map[string]string
}

func (p *Problem) Error() string { return p.Detail }

// ProblemOutcomeUnknown is the type of the 503 that answers a post whose
// commit may or may not have happened (storage.ErrOutcomeUnknown).
const ProblemOutcomeUnknown = "urn:vitals:problem:outcome-unknown"

func newProblem(status int, detail string) *Problem {
	return &Problem{Status: status, Detail: detail}
}

// writeProblem sends p as application/problem+json.
func writeProblem(c *fiber.Ctx, p *Problem) error {
	for k, v := range p.Header {
		c.Set(k, v)
	}
	body, err := json.Marshal(problem{
		Type:   cmp.Or(p.Type, "about:blank"),
		Title:  http.StatusText(p.Status),
		Status: p.Status,
		Detail: p.Detail,
		Errors: p.Errors,
	})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(p.Status).Send(body)
}

// errorHandler is the one place where errors become HTTP statuses. Users
// never see internal error text: anything unexpected is logged and answered
// with a bare 500.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	var p *Problem
	var fe *fiber.Error
	switch {
	case errors.As(err, &p):
	case errors.As(err, &fe):
		p = newProblem(fe.Code, fe.Message)
		if fe.Code == fiber.StatusRequestEntityTooLarge {
			p.Detail = "request body is too large"
		}
	case errors.Is(err, storage.ErrNoSpace):
		// Logged by the store once per change, not once per request.
		p = newProblem(fiber.StatusInsufficientStorage,
			"the store refuses writes (its disk is full or read-only): nothing was stored; vitals resumes by itself once there is room, so retry later")
		p.Header = map[string]string{fiber.HeaderRetryAfter: "30"}
	case errors.Is(err, storage.ErrOutcomeUnknown):
		// Not "try again" alone: a retry without the same idempotency
		// keys could store the events twice.
		p = &Problem{Type: ProblemOutcomeUnknown, Status: fiber.StatusServiceUnavailable,
			Detail: "outcome unknown: the events may have been stored; retry with the same idempotency keys",
			Header: map[string]string{fiber.HeaderRetryAfter: "1"}}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		// The store did not answer within the request's time, or vitals
		// is stopping and cut the request; nothing was changed.
		p = newProblem(fiber.StatusServiceUnavailable, "the store did not answer in time; try again shortly")
		p.Header = map[string]string{fiber.HeaderRetryAfter: "5"}
	case errors.Is(err, storage.ErrUnavailable):
		p = newProblem(fiber.StatusServiceUnavailable, "the store is unavailable; try again shortly")
		p.Header = map[string]string{fiber.HeaderRetryAfter: "5"}
	case errors.Is(err, storage.ErrNotFound):
		p = newProblem(fiber.StatusNotFound, "not found")
	default:
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		p = newProblem(fiber.StatusInternalServerError, "internal error")
	}
	if p.Status == fiber.StatusUnauthorized && !isAPI(c.Path()) && p.Header == nil {
		// Browsers sign in with the form (session.go), never with a Basic
		// dialog.
		p.Header = map[string]string{fiber.HeaderWWWAuthenticate: cookieChallenge}
	}
	return writeProblem(c, p)
}
