package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"vitals/storage"
)

// Limits on what an event may carry (DESIGN.md, Security model).
const (
	maxTypeLen      = 50
	maxMessageRunes = 2000
	maxEmailLen     = 255
	maxDetailsBytes = 16 << 10
	// MaxEventBody is the largest body of a single event.
	MaxEventBody = 64 << 10
	// MaxBatchBody is the largest body of a batch.
	MaxBatchBody = 1 << 20
	// MaxBatchEvents is the most events one batch may hold.
	MaxBatchEvents = 500
	defaultLimit   = 50
	maxLimit       = 200
)

var typePattern = regexp.MustCompile(`^[a-z][a-z0-9_.]*$`)

// eventInput is one event as a client sends it. Details stays raw so that
// it is stored as sent, after checking it is an object.
type eventInput struct {
	Type      *string         `json:"type"`
	Message   *string         `json:"message"`
	UserEmail *string         `json:"user_email"`
	Details   json.RawMessage `json:"details"`
}

// validateEvent checks one event and returns it ready to store, or the
// fields that are wrong. index is its position in a batch (nil when single).
func validateEvent(in eventInput, index *int) (storage.NewEvent, []FieldError) {
	var errs []FieldError
	bad := func(field, msg string) { errs = append(errs, FieldError{Index: index, Field: field, Message: msg}) }
	var ev storage.NewEvent

	switch {
	case in.Type == nil || *in.Type == "":
		bad("type", "is required")
	case len(*in.Type) > maxTypeLen:
		bad("type", fmt.Sprintf("is longer than %d characters", maxTypeLen))
	case !typePattern.MatchString(*in.Type):
		bad("type", "must match ^[a-z][a-z0-9_.]*$ (lower-case letters, digits, '_' and '.', starting with a letter)")
	default:
		ev.Type = *in.Type
	}

	switch {
	case in.Message == nil || *in.Message == "":
		bad("message", "is required")
	case utf8.RuneCountInString(*in.Message) > maxMessageRunes:
		bad("message", fmt.Sprintf("is longer than %d characters", maxMessageRunes))
	case strings.ContainsRune(*in.Message, 0):
		bad("message", "must not contain NUL characters")
	default:
		ev.Message = *in.Message
	}

	if in.UserEmail != nil {
		email := *in.UserEmail
		switch {
		case len(email) > maxEmailLen:
			bad("user_email", fmt.Sprintf("is longer than %d characters", maxEmailLen))
		case !emailShaped(email):
			bad("user_email", "is not an email address (like name@example.com)")
		default:
			ev.UserEmail = &email
		}
	}

	if d := bytes.TrimSpace(in.Details); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		switch {
		case len(d) > maxDetailsBytes:
			bad("details", fmt.Sprintf("is larger than %d bytes", maxDetailsBytes))
		case d[0] != '{':
			bad("details", "must be a JSON object")
		case bytes.Contains(d, []byte(`\u0000`)):
			// PostgreSQL's jsonb cannot hold NUL; refuse it on both backends
			// so they accept the same events.
			bad("details", "must not contain NUL characters")
		default:
			ev.Details = append(json.RawMessage(nil), d...)
		}
	}
	return ev, errs
}

// emailShaped accepts a bare address with a local part, an @ and a domain
// with a dot, the shape applications store; no display names or comments.
func emailShaped(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " \t\r\n")
}

// decodeStrict decodes one JSON value, refusing unknown fields and trailing
// data, and words errors so that a client can fix the request.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return newProblem(fiber.StatusBadRequest, "the body holds more than one JSON value")
	}
	return nil
}

func jsonProblem(err error) *Problem {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &Problem{Status: fiber.StatusBadRequest, Detail: "a field has the wrong type",
			Errors: []FieldError{{Field: te.Field, Message: "must be a JSON " + jsonKind(te.Type.Kind().String())}}}
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		field := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		return &Problem{Status: fiber.StatusBadRequest, Detail: "unknown field",
			Errors: []FieldError{{Field: field, Message: "is not a field of an event"}}}
	}
	return newProblem(fiber.StatusBadRequest, "the body is not valid JSON: "+strings.TrimPrefix(msg, "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "ptr", "string":
		return "string"
	case "slice":
		return "array or object"
	}
	return k
}

// postEvents stores one event (a JSON object) or a batch (a JSON array) in
// one transaction. Nothing is stored unless every event is valid.
func (s *server) postEvents(c *fiber.Ctx) error {
	if !strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEApplicationJSON) {
		return newProblem(fiber.StatusUnsupportedMediaType, "send the event as application/json")
	}
	body := bytes.TrimSpace(c.Body())
	if !utf8.Valid(body) {
		return newProblem(fiber.StatusBadRequest, "the body is not valid UTF-8")
	}
	if len(body) == 0 {
		return newProblem(fiber.StatusBadRequest, "the body is empty; send an event object or an array of them")
	}
	batch := body[0] == '['
	if !batch && len(body) > MaxEventBody {
		return newProblem(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("a single event body may be at most %d bytes", MaxEventBody))
	}

	var inputs []eventInput
	if batch {
		if err := decodeStrict(body, &inputs); err != nil {
			return err
		}
		if len(inputs) == 0 {
			return newProblem(fiber.StatusBadRequest, "the batch is empty")
		}
		if len(inputs) > MaxBatchEvents {
			return newProblem(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("a batch may hold at most %d events", MaxBatchEvents))
		}
	} else {
		var one eventInput
		if err := decodeStrict(body, &one); err != nil {
			return err
		}
		inputs = []eventInput{one}
	}

	events := make([]storage.NewEvent, len(inputs))
	var errs []FieldError
	for i, in := range inputs {
		var idx *int
		if batch {
			idx = new(int)
			*idx = i
		}
		ev, fe := validateEvent(in, idx)
		events[i] = ev
		errs = append(errs, fe...)
	}
	if len(errs) > 0 {
		return &Problem{Status: fiber.StatusBadRequest, Detail: "the event is not valid; nothing was stored", Errors: errs}
	}

	stored, err := s.store.InsertEvents(c.UserContext(), events)
	if err != nil {
		return fmt.Errorf("post events: %w", err)
	}
	c.Status(fiber.StatusCreated)
	if batch {
		return c.JSON(fiber.Map{"events": stored})
	}
	return c.JSON(stored[0])
}

// listEvents answers GET /api/v1/events?type=a,b&limit=N, newest first.
func (s *server) listEvents(c *fiber.Ctx) error {
	f, err := parseEventFilter(c)
	if err != nil {
		return err
	}
	events, err := s.store.ListEvents(c.UserContext(), f)
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	if events == nil {
		events = []storage.Event{}
	}
	return c.JSON(fiber.Map{"events": events})
}

// parseEventFilter reads the type and limit query parameters. type may be
// repeated or comma-separated.
func parseEventFilter(c *fiber.Ctx) (storage.EventFilter, error) {
	f := storage.EventFilter{Limit: defaultLimit}
	var errs []FieldError
	for _, raw := range c.Context().QueryArgs().PeekMulti("type") {
		for _, t := range strings.Split(string(raw), ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			if len(t) > maxTypeLen || !typePattern.MatchString(t) {
				errs = append(errs, FieldError{Field: "type", Message: fmt.Sprintf("%q is not an event type", t)})
				continue
			}
			f.Types = append(f.Types, t)
		}
	}
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxLimit {
			errs = append(errs, FieldError{Field: "limit", Message: fmt.Sprintf("must be a whole number from 1 to %d", maxLimit)})
		} else {
			f.Limit = n
		}
	}
	if len(errs) > 0 {
		return f, &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query", Errors: errs}
	}
	return f, nil
}
