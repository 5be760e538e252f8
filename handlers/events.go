package handlers

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/storage"
)

// Limits on what an event may carry (docs/architecture.md, "Security").
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
	Type           *string         `json:"type"`
	Message        *string         `json:"message"`
	UserEmail      *string         `json:"user_email"`
	Details        json.RawMessage `json:"details"`
	IdempotencyKey *string         `json:"idempotency_key"`
	OccurredAt     *string         `json:"occurred_at"`
}

// How far occurred_at may lie from the server's clock: at most a day back
// (older events would be pruned at once and confuse the feed), and ahead
// only by a clock skew, which is taken as now.
const (
	maxOccurredAge  = 24 * time.Hour
	maxOccurredSkew = time.Minute
)

// validateEvent checks one event and returns it ready to store, or the
// fields that are wrong. index is its position in a batch (nil when single);
// now is the server's time, for occurred_at.
func validateEvent(in eventInput, index *int, now time.Time) (storage.NewEvent, []FieldError) {
	v := eventCheck{index: index}
	var ev storage.NewEvent
	ev.Type = v.field("type")(checkType(in.Type))
	ev.Message = v.field("message")(checkMessage(in.Message))
	if in.UserEmail != nil {
		if email := v.field("user_email")(checkEmail(*in.UserEmail)); email != "" {
			ev.UserEmail = &email
		}
	}
	if d := bytes.TrimSpace(in.Details); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		if msg := checkDetailsField(d); msg != "" {
			v.bad("details", msg)
		} else {
			ev.Details = append(json.RawMessage(nil), d...)
		}
	}
	if in.IdempotencyKey != nil {
		ev.IdempotencyKey = v.field("idempotency_key")(checkIdempotencyKey(*in.IdempotencyKey))
	}
	if in.OccurredAt != nil {
		at, msg := checkOccurredAt(*in.OccurredAt, now)
		if msg != "" {
			v.bad("occurred_at", msg)
		} else {
			ev.OccurredAt = at
		}
	}
	return ev, v.errs
}

// eventCheck gathers the field errors of one event.
type eventCheck struct {
	index *int
	errs  []FieldError
}

func (v *eventCheck) bad(field, msg string) {
	v.errs = append(v.errs, FieldError{Index: v.index, Field: field, Message: msg})
}

// field returns what records a check's message as the field's error
// unless it is empty, and returns the value to store (empty when wrong).
func (v *eventCheck) field(name string) func(value, msg string) string {
	return func(value, msg string) string {
		if msg != "" {
			v.bad(name, msg)
			return ""
		}
		return value
	}
}

// The field checks return the value to store and an empty message, or the
// message that says what is wrong.

func checkType(t *string) (string, string) {
	switch {
	case t == nil || *t == "":
		return "", "is required"
	case len(*t) > maxTypeLen:
		return "", fmt.Sprintf("is longer than %d characters", maxTypeLen)
	case !typePattern.MatchString(*t):
		return "", "must match ^[a-z][a-z0-9_.]*$ (lower-case letters, digits, '_' and '.', starting with a letter)"
	}
	return *t, ""
}

func checkMessage(m *string) (string, string) {
	switch {
	case m == nil || *m == "":
		return "", "is required"
	case utf8.RuneCountInString(*m) > maxMessageRunes:
		return "", fmt.Sprintf("is longer than %d characters", maxMessageRunes)
	case strings.ContainsRune(*m, 0):
		return "", "must not contain NUL characters"
	}
	return *m, ""
}

func checkEmail(email string) (string, string) {
	switch {
	case len(email) > maxEmailLen:
		return "", fmt.Sprintf("is longer than %d characters", maxEmailLen)
	case !emailShaped(email):
		return "", "is not an email address (like name@example.com)"
	}
	return email, ""
}

// checkDetailsField judges details that are present: a JSON object within
// the size and the one verdict both backends share (checkDetails).
func checkDetailsField(d []byte) string {
	switch {
	case len(d) > maxDetailsBytes:
		return fmt.Sprintf("is larger than %d bytes", maxDetailsBytes)
	case d[0] != '{':
		return "must be a JSON object"
	}
	return checkDetails(d)
}

func checkIdempotencyKey(k string) (string, string) {
	switch {
	case k == "":
		return "", "must not be empty; leave the field out for none"
	case utf8.RuneCountInString(k) > storage.MaxIdempotencyKeyLen:
		return "", fmt.Sprintf("is longer than %d characters", storage.MaxIdempotencyKeyLen)
	case strings.ContainsFunc(k, unicode.IsControl):
		return "", "must not contain control characters"
	}
	return k, ""
}

// checkOccurredAt returns when the event happened, nil for "now" (a time
// within the allowed clock skew ahead of the server's).
func checkOccurredAt(raw string, now time.Time) (*time.Time, string) {
	at, err := time.Parse(time.RFC3339Nano, raw)
	switch {
	case err != nil:
		return nil, "is not an RFC 3339 time with a time zone (like 2026-11-26T10:15:30.123Z)"
	case at.After(now.Add(maxOccurredSkew)):
		return nil, "is in the future"
	case now.Sub(at) > maxOccurredAge:
		return nil, "is more than 24 hours ago"
	case at.After(now):
		// Within the clock skew allowed: the event happened now, as far as
		// this server can tell.
		return nil, ""
	}
	return &at, ""
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

// postEvents stores one event (a JSON object) or a batch (a JSON array) in
// one transaction. Nothing is stored unless every event is valid.
func (s *server) postEvents(c *fiber.Ctx) error {
	body, err := eventBody(c)
	if err != nil {
		return err
	}
	inputs, batch, err := decodeEvents(body)
	if err != nil {
		return err
	}
	events, err := validateEvents(inputs, batch, time.Now())
	if err != nil {
		return err
	}
	stored, err := s.store.InsertEvents(c.UserContext(), events)
	if err != nil {
		return fmt.Errorf("post events: %w", err)
	}
	return s.answerPosted(c, stored, batch)
}

// eventBody is the body of a post, decoded and within the limits: JSON in
// UTF-8, not empty, a single event no larger than MaxEventBody.
func eventBody(c *fiber.Ctx) ([]byte, error) {
	if !jsonContentType(c.Get(fiber.HeaderContentType)) {
		return nil, newProblem(fiber.StatusUnsupportedMediaType, "send the event as application/json (at most a charset=utf-8 parameter)")
	}
	body, err := ingestBody(c)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	switch {
	case !utf8.Valid(body):
		return nil, newProblem(fiber.StatusBadRequest, "the body is not valid UTF-8")
	case len(body) == 0:
		return nil, newProblem(fiber.StatusBadRequest, "the body is empty; send an event object or an array of them")
	case body[0] != '[' && len(body) > MaxEventBody:
		return nil, newProblem(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("a single event body may be at most %d bytes", MaxEventBody))
	}
	return body, nil
}

// validateEvents checks every event of a post; one wrong field anywhere
// refuses the whole post, naming every wrong field.
func validateEvents(inputs []eventInput, batch bool, now time.Time) ([]storage.NewEvent, error) {
	events := make([]storage.NewEvent, len(inputs))
	var errs []FieldError
	for i, in := range inputs {
		var idx *int
		if batch {
			idx = new(int)
			*idx = i
		}
		ev, fe := validateEvent(in, idx, now)
		if p := reservedPrefix(ev.Type); p != "" {
			fe = append(fe, FieldError{Index: idx, Field: "type", Message: fmt.Sprintf("uses the prefix %q, reserved for vitals' own events", p)})
		}
		events[i] = ev
		errs = append(errs, fe...)
	}
	if len(errs) > 0 {
		return nil, &Problem{Status: fiber.StatusBadRequest, Detail: "the event is not valid; nothing was stored", Errors: errs}
	}
	return events, nil
}

// answerPosted answers 201 when anything was stored, 200 when every event
// repeated an idempotency key already stored, so that a retry reads as
// "already done".
func (s *server) answerPosted(c *fiber.Ctx, stored []storage.Event, batch bool) error {
	out := make([]any, len(stored))
	newOnes := make([]storage.Event, 0, len(stored))
	for i, e := range stored {
		if e.Duplicate {
			// An ingest token writes and never reads: a repeated key says
			// only which event it was, never what another client stored.
			out[i] = duplicateEvent{ID: e.ID, CreatedAt: e.CreatedAt, Duplicate: true}
			continue
		}
		out[i] = postedEvent{Event: e}
		newOnes = append(newOnes, e)
	}
	s.Metrics.EventsIngested(newOnes)
	if len(newOnes) > 0 {
		c.Status(fiber.StatusCreated)
	} else {
		c.Status(fiber.StatusOK)
	}
	if batch {
		return c.JSON(postedBatch{Events: out})
	}
	return c.JSON(out[0])
}

// postedEvent is one newly stored event of the answer to a post.
type postedEvent struct {
	storage.Event
	Duplicate bool `json:"duplicate"`
}

// duplicateEvent answers for an event that repeated an idempotency key
// already stored: nothing new was stored, and id and created_at are the
// stored event's.
type duplicateEvent struct {
	ID        int64     `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Duplicate bool      `json:"duplicate"`
}

// postedBatch is the answer to a batch: its events in the order sent,
// each a postedEvent or a duplicateEvent.
type postedBatch struct {
	Events []any `json:"events"`
}

// eventList is a page of GET /api/v1/events. NextCursor is absent on the
// last page.
type eventList struct {
	Events     []storage.Event `json:"events"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// listEvents answers GET /api/v1/events, newest first, one page: the query
// parseEventFilter reads, and cursor, the next_cursor of the page before.
func (s *server) listEvents(c *fiber.Ctx) error {
	f, err := s.parseEventFilter(c)
	if err != nil {
		return err
	}
	limit := f.Limit
	// One more than the page, to know whether another page follows: the
	// last page carries no cursor, not even when it is full.
	f.Limit++
	events, err := s.store.ListEvents(c.UserContext(), f)
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	page := eventList{Events: events}
	if page.Events == nil {
		page.Events = []storage.Event{}
	}
	if len(events) > limit {
		page.Events = events[:limit]
		last := page.Events[limit-1]
		k, err := s.sess.key(c.UserContext())
		if err != nil {
			return fmt.Errorf("list events: cursor key: %w", storage.ErrUnavailable)
		}
		page.NextCursor = encodeCursor(k, storage.EventCursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(page)
}

// cursorVersion is the first byte of a cursor, so that its layout can
// change without old cursors being misread.
const cursorVersion = 2

// cursorPayloadLen is the version, created_at and id; cursorMACLen the
// signature's bytes kept after them.
const (
	cursorPayloadLen = 17
	cursorMACLen     = 16
)

// encodeCursor makes the opaque next_cursor: base64url of a version byte,
// created_at in Unix nanoseconds (the store's full precision), the id, and
// an HMAC under a key derived from the session secret, so that every
// instance sharing the secret verifies every other's cursors and nobody
// else can make one.
func encodeCursor(k *sessionKeys, p storage.EventCursor) string {
	b := make([]byte, cursorPayloadLen, cursorPayloadLen+sha256.Size)
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(p.CreatedAt.UnixNano()))
	binary.BigEndian.PutUint64(b[9:], uint64(p.ID))
	m := hmac.New(sha256.New, k.cursor)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(b)[:cursorPayloadLen+cursorMACLen])
}

// decodeCursor reads a cursor made by encodeCursor, refusing any it did
// not sign.
func decodeCursor(k *sessionKeys, s string) (storage.EventCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorPayloadLen+cursorMACLen || b[0] != cursorVersion {
		return storage.EventCursor{}, false
	}
	m := hmac.New(sha256.New, k.cursor)
	m.Write(b[:cursorPayloadLen])
	if !hmac.Equal(m.Sum(nil)[:cursorMACLen], b[cursorPayloadLen:]) {
		return storage.EventCursor{}, false
	}
	id := int64(binary.BigEndian.Uint64(b[9:cursorPayloadLen]))
	if id <= 0 {
		return storage.EventCursor{}, false
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	return storage.EventCursor{CreatedAt: at, ID: id}, true
}

// parseEventFilter reads the list's query: type (repeated or
// comma-separated), since and until (RFC 3339; since inclusive, until
// exclusive), q (text in the message or the user's email, ignoring case),
// user_email (one person's events, the whole address ignoring case), cursor
// and limit. Every bad parameter is named in the 400.
func (s *server) parseEventFilter(c *fiber.Ctx) (storage.EventFilter, error) {
	f := storage.EventFilter{Limit: defaultLimit}
	var errs []FieldError
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	f.Types = queryTypes(c, bad)
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxLimit {
			bad("limit", fmt.Sprintf("must be a whole number from 1 to %d", maxLimit))
		} else {
			f.Limit = n
		}
	}
	f.Since = queryTime(c, "since", bad)
	f.Until = queryTime(c, "until", bad)
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		bad("until", "must be later than since")
	}
	if q := c.Query("q"); q != "" {
		if msg := checkSearch(q); msg != "" {
			bad("q", msg)
		} else {
			f.Search = q
		}
	}
	if email := c.Query("user_email"); email != "" {
		if e, msg := checkEmail(email); msg != "" {
			bad("user_email", msg)
		} else {
			f.UserEmail = e
		}
	}
	if raw := c.Query("cursor"); raw != "" {
		k, err := s.sess.key(c.UserContext())
		if err != nil {
			return f, fmt.Errorf("list events: cursor key: %w", storage.ErrUnavailable)
		}
		if cur, ok := decodeCursor(k, raw); ok {
			f.Before = &cur
		} else {
			bad("cursor", "is not a cursor this server made; pass next_cursor as it came")
		}
	}
	if len(errs) > 0 {
		return f, &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query", Errors: errs}
	}
	return f, nil
}

// queryTypes reads type, repeated or comma-separated.
func queryTypes(c *fiber.Ctx, bad func(field, msg string)) []string {
	var types []string
	for _, raw := range c.Context().QueryArgs().PeekMulti("type") {
		for _, t := range strings.Split(string(raw), ",") {
			t = strings.TrimSpace(t)
			switch {
			case t == "":
			case len(t) > maxTypeLen || !typePattern.MatchString(t):
				bad("type", fmt.Sprintf("%q is not an event type", t))
			default:
				types = append(types, t)
			}
		}
	}
	return types
}

// queryTime reads an RFC 3339 time parameter; zero when absent or wrong.
func queryTime(c *fiber.Ctx, name string, bad func(field, msg string)) time.Time {
	raw := c.Query(name)
	if raw == "" {
		return time.Time{}
	}
	// An offset's '+' sent unencoded arrives as a space; RFC 3339 as Go
	// reads it has no space, so it can only be that.
	t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(raw, " ", "+"))
	if err != nil {
		bad(name, "is not an RFC 3339 time with a time zone (like 2026-11-26T10:15:30Z)")
		return time.Time{}
	}
	return t
}

// checkSearch judges q: UTF-8 text of bounded length without control
// characters (which PostgreSQL's LIKE would refuse, and nobody types).
func checkSearch(q string) string {
	switch {
	case !utf8.ValidString(q):
		return "is not valid UTF-8"
	case utf8.RuneCountInString(q) > maxSearchRunes:
		return fmt.Sprintf("is longer than %d characters", maxSearchRunes)
	case strings.ContainsFunc(q, unicode.IsControl):
		return "must not contain control characters"
	}
	return ""
}

// eraseEvents answers DELETE /api/v1/events?user_email=...: it deletes every
// event of one person (user_email equal, ignoring case), for erasure
// requests, and records that it did in the feed, without the address.
func (s *server) eraseEvents(c *fiber.Ctx) error {
	email := c.Query("user_email")
	switch {
	case email == "":
		return &Problem{Status: fiber.StatusBadRequest, Detail: "say whose events to erase; nothing was deleted",
			Errors: []FieldError{{Field: "user_email", Message: "is required"}}}
	case len(email) > maxEmailLen || !utf8.ValidString(email) || !emailShaped(email):
		return &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query; nothing was deleted",
			Errors: []FieldError{{Field: "user_email", Message: "is not an email address (like name@example.com)"}}}
	}
	n, err := s.store.DeleteEventsByEmail(c.UserContext(), email)
	if err != nil {
		return fmt.Errorf("erase events: %w", err)
	}
	// The message key and its parameter let the page word it in the
	// reader's language.
	details, _ := json.Marshal(map[string]any{"message_key": "event." + storage.TypeEventsErased, "deleted": n}) // always encodes
	if _, err := s.store.InsertEvents(c.UserContext(), []storage.NewEvent{{
		Type:    storage.TypeEventsErased,
		Message: fmt.Sprintf("Erased %d events of one person on request", n),
		Details: details,
		Source:  storage.SourceVitals,
	}}); err != nil {
		// The erasure is done and must be reported as done.
		s.log.Warn("erase events: record the erasure", "err", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"deleted": n})
}

// csrfHeader carries the page's CSRF token on requests a script on the
// page sends (the form field csrf works too).
const csrfHeader = "X-CSRF-Token"

// sessionCSRF guards a state-changing API route the admin's browser may
// call: when the session cookie is the request's credential, the request
// must carry the CSRF token bound to that session (header X-CSRF-Token, or
// the csrf query field). A credential a browser never sends by
// itself (a bearer token) needs none.
func (s *server) sessionCSRF(c *fiber.Ctx) error {
	if _, ok := c.Locals(sessionLocal).(session); !ok {
		return c.Next()
	}
	k, err := s.sess.key(c.UserContext())
	if err != nil {
		return fmt.Errorf("csrf: %w", storage.ErrUnavailable)
	}
	b, ok := s.csrfBinding(c, false)
	got := c.Get(csrfHeader)
	if got == "" {
		got = c.Query("csrf")
	}
	want := csrfToken(k, b)
	if !ok || len(got) != len(want) || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return newProblem(fiber.StatusForbidden, "the CSRF token is missing or wrong: send the page's token in the X-CSRF-Token header")
	}
	return c.Next()
}

// reservedPrefixes are the type namespaces of vitals' own events: an
// ingest token may not write an event that looks like vitals' audit trail.
var reservedPrefixes = []string{"admin.", "token.", "events.", "alert.", "vitals."}

// reservedPrefix is the reserved prefix typ starts with, empty when none.
func reservedPrefix(typ string) string {
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(typ, p) {
			return p
		}
	}
	return ""
}

// jsonContentType reports whether ct is exactly application/json with at
// most a charset=utf-8 parameter.
func jsonContentType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	return err == nil && mt == fiber.MIMEApplicationJSON && onlyUTF8Charset(params)
}

// ingestBody is the request's body, decoded when it came gzipped (the
// only encoding edgeChecks lets through, and only here). The decoder
// reads at most one byte more than a batch may hold, so that a small
// compressed body never becomes a large one in memory; the size limits
// then apply to the decoded bytes.
func ingestBody(c *fiber.Ctx) ([]byte, error) {
	raw := c.Request().Body() // never fiber's c.Body(), which decompresses without a bound
	if len(c.Request().Header.Peek(fiber.HeaderContentEncoding)) == 0 {
		return raw, nil
	}
	src := bytes.NewReader(raw)
	zr, err := gzip.NewReader(src)
	if err != nil {
		return nil, newProblem(fiber.StatusBadRequest, "the body is not valid gzip")
	}
	zr.Multistream(false)
	out, err := io.ReadAll(io.LimitReader(zr, MaxBatchBody+1))
	switch {
	case len(out) > MaxBatchBody:
		return nil, newProblem(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("the decoded body is larger than %d bytes", MaxBatchBody))
	case err != nil:
		return nil, newProblem(fiber.StatusBadRequest, "the body is not valid gzip")
	case src.Len() > 0:
		return nil, newProblem(fiber.StatusBadRequest, "the body holds data after its gzip stream")
	}
	return out, nil
}
