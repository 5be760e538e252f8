package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// maxDetailsDepth is how deeply details may nest, the details object
// itself counting as 1. Both backends hold far more (SQLite's JSON stops
// at 1000); the bound keeps the verdict the same on each and the details
// view small.
const maxDetailsDepth = 32

// eventFields are the keys an event may carry, matched exactly: encoding/json
// would take "TYPE" for "type" and let the last of two duplicates win.
var eventFields = map[string]func(*eventInput) any{
	"type":            func(e *eventInput) any { return &e.Type },
	"message":         func(e *eventInput) any { return &e.Message },
	"user_email":      func(e *eventInput) any { return &e.UserEmail },
	"details":         func(e *eventInput) any { return &e.Details },
	"idempotency_key": func(e *eventInput) any { return &e.IdempotencyKey },
	"occurred_at":     func(e *eventInput) any { return &e.OccurredAt },
}

// decodeEvents reads a body holding one event object or an array of them,
// strictly: keys exactly as documented, none twice, nothing after the value.
func decodeEvents(body []byte) (inputs []eventInput, batch bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, false, syntaxProblem(err)
	}
	switch tok {
	case json.Delim('{'):
		one, err := decodeEventObject(dec, nil)
		if err != nil {
			return nil, false, err
		}
		inputs = []eventInput{one}
	case json.Delim('['):
		batch = true
		for i := 0; dec.More(); i++ {
			if i == MaxBatchEvents {
				return nil, true, newProblem(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("a batch may hold at most %d events", MaxBatchEvents))
			}
			idx := i
			tok, err := dec.Token()
			if err != nil {
				return nil, true, syntaxProblem(err)
			}
			if tok != json.Delim('{') {
				return nil, true, &Problem{Status: fiber.StatusBadRequest, Detail: "the event is not valid; nothing was stored",
					Errors: []FieldError{{Index: &idx, Field: "", Message: "must be a JSON object"}}}
			}
			one, err := decodeEventObject(dec, &idx)
			if err != nil {
				return nil, true, err
			}
			inputs = append(inputs, one)
		}
		if _, err := dec.Token(); err != nil { // the closing bracket
			return nil, true, syntaxProblem(err)
		}
		if len(inputs) == 0 {
			return nil, true, newProblem(fiber.StatusBadRequest, "the batch is empty")
		}
	default:
		return nil, false, newProblem(fiber.StatusBadRequest, "the body must be an event object or an array of them")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, batch, newProblem(fiber.StatusBadRequest, "the body holds more than one JSON value")
	}
	return inputs, batch, nil
}

// decodeEventObject reads the members of an event object whose opening
// brace was read.
func decodeEventObject(dec *json.Decoder, index *int) (eventInput, error) {
	var in eventInput
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return in, syntaxProblem(err)
		}
		key, _ := tok.(string) // inside an object the decoder only yields string keys
		field, ok := eventFields[key]
		switch {
		case !ok:
			return in, &Problem{Status: fiber.StatusBadRequest, Detail: "unknown field",
				Errors: []FieldError{{Index: index, Field: clip(key), Message: "is not a field of an event (field names are lower case, matched exactly)"}}}
		case seen[key]:
			return in, &Problem{Status: fiber.StatusBadRequest, Detail: "duplicate field",
				Errors: []FieldError{{Index: index, Field: key, Message: "appears more than once"}}}
		}
		seen[key] = true
		if err := dec.Decode(field(&in)); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return in, &Problem{Status: fiber.StatusBadRequest, Detail: "a field has the wrong type",
					Errors: []FieldError{{Index: index, Field: key, Message: "must be a JSON string"}}}
			}
			return in, syntaxProblem(err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return in, syntaxProblem(err)
	}
	return in, nil
}

// clip shortens a client's text quoted back in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func syntaxProblem(err error) *Problem {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return newProblem(fiber.StatusBadRequest, fmt.Sprintf("the body is not valid JSON: %s (at byte %d)", se.Error(), se.Offset))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return newProblem(fiber.StatusBadRequest, "the body is not valid JSON: it ends too early")
	}
	return newProblem(fiber.StatusBadRequest, "the body is not valid JSON: "+err.Error())
}

// checkDetails checks, in details already known to be valid JSON, what the
// two backends would judge differently or not at all: nesting depth,
// numbers a double cannot hold (PostgreSQL's numeric fails on 1e999999),
// escapes that are not Unicode text (a lone surrogate, NUL: jsonb refuses
// both), and keys given twice (jsonb keeps the last, SQLite both). It
// returns the problem's words, empty when details are fine.
func checkDetails(raw []byte) string {
	d := detailsScan{raw: raw}
	for d.i < len(raw) {
		if msg := d.step(); msg != "" {
			return msg
		}
	}
	return ""
}

// detailsScan walks details (JSON the standard library already accepted)
// one token at a time, keeping the open objects and arrays.
type detailsScan struct {
	raw   []byte
	i     int
	stack []detailsFrame
}

type detailsFrame struct {
	object, wantKey bool
	keys            map[string]bool
}

// step reads the token at d.i and advances past it.
func (d *detailsScan) step() string {
	switch b := d.raw[d.i]; {
	case b == '{' || b == '[':
		if len(d.stack) == maxDetailsDepth {
			return fmt.Sprintf("is nested more than %d levels deep", maxDetailsDepth)
		}
		d.stack = append(d.stack, detailsFrame{object: b == '{', wantKey: b == '{'})
	case b == '}' || b == ']':
		d.stack = d.stack[:len(d.stack)-1]
	case b == ',':
		if top := &d.stack[len(d.stack)-1]; top.object {
			top.wantKey = true
		}
	case b == '"':
		return d.str()
	case b == '-' || b >= '0' && b <= '9':
		return d.number()
	}
	// White space, ':', the brackets, true, false and null.
	d.i++
	return ""
}

// str checks a string and, where a key is due, that the object has not
// had it before.
func (d *detailsScan) str() string {
	end, msg := scanString(d.raw, d.i)
	if msg != "" {
		return msg
	}
	if top := &d.stack[len(d.stack)-1]; top.object && top.wantKey {
		var key string
		_ = json.Unmarshal(d.raw[d.i:end], &key) // a string the scanner accepted
		if top.keys == nil {
			top.keys = map[string]bool{}
		}
		if top.keys[key] {
			return fmt.Sprintf("holds the key %q more than once in one object", clip(key))
		}
		top.keys[key] = true
		top.wantKey = false
	}
	d.i = end
	return ""
}

func (d *detailsScan) number() string {
	j := d.i + 1
	for j < len(d.raw) && bytes.IndexByte([]byte("0123456789+-.eE"), d.raw[j]) >= 0 {
		j++
	}
	if !finiteDouble(d.raw[d.i:j]) {
		return fmt.Sprintf("holds the number %s, which is not a finite double", clip(string(d.raw[d.i:j])))
	}
	d.i = j
	return ""
}

// scanString finds the end of the JSON string starting at raw[start] (a
// quote) and checks its escapes.
func scanString(raw []byte, start int) (end int, msg string) {
	for i := start + 1; i < len(raw); i++ {
		switch {
		case raw[i] == '"':
			return i + 1, ""
		case raw[i] == '\\' && i+1 < len(raw) && raw[i+1] == 'u':
			n, msg := unicodeEscape(raw, i)
			if msg != "" {
				return 0, msg
			}
			i += n - 1
		case raw[i] == '\\':
			i++ // a one-letter escape
		}
	}
	return 0, "holds an unterminated string"
}

// unicodeEscape checks the \u escape at raw[i] (and the low half after a
// high surrogate) and returns how many bytes it spans.
func unicodeEscape(raw []byte, i int) (int, string) {
	r, ok := hex4(raw, i+2)
	switch {
	case !ok:
		return 0, "holds an invalid \\u escape"
	case r == 0:
		return 0, "must not contain NUL characters (\\u0000)"
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, "holds a lone surrogate escape (not Unicode text)"
	case r >= 0xD800 && r <= 0xDBFF:
		lo, ok := rune(0), i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u'
		if ok {
			lo, ok = hex4(raw, i+8)
		}
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, "holds a lone surrogate escape (not Unicode text)"
		}
		return 12, ""
	}
	return 6, ""
}

func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[at:at+4]), 16, 32)
	return rune(n), err == nil
}

// finiteDouble reports whether a JSON number is one a double holds: not
// out of range, and not so small it would silently become zero.
func finiteDouble(num []byte) bool {
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return false
	}
	if f == 0 {
		mant := num
		if i := bytes.IndexAny(num, "eE"); i >= 0 {
			mant = num[:i]
		}
		if bytes.ContainsAny(mant, "123456789") {
			return false
		}
	}
	return true
}
