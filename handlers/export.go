package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/storage"
)

// exportPage is how many events one store read of an export takes: large
// enough that a year's feed is a few dozen queries, small enough that the
// memory an export holds stays near 1 MiB whatever the feed's size.
const exportPage = 500

// exportColumns is the CSV header; details is the event's JSON object.
var exportColumns = []string{"id", "created_at", "type", "source", "user_email", "message", "details"}

// exportEvents streams every retained event that the list's filters (type,
// since, until, q, user_email) keep, newest first, as CSV or JSON Lines. The
// first page is read before the answer starts, so that a store that is down
// is a 503 rather than an empty file; a failure after that ends the file
// with a line saying it is incomplete.
func (s *server) exportEvents(c *fiber.Ctx) error {
	format := c.Query("format")
	var errs []FieldError
	if format != "csv" && format != "jsonl" {
		errs = append(errs, FieldError{Field: "format", Message: "must be csv or jsonl"})
	}
	for _, name := range []string{"limit", "cursor"} {
		if c.Query(name) != "" {
			errs = append(errs, FieldError{Field: name, Message: "is for GET /api/v1/events; an export holds every event the filters keep"})
		}
	}
	f, err := s.parseEventFilter(c)
	if p, ok := err.(*Problem); ok {
		errs = append(errs, p.Errors...)
	} else if err != nil {
		return err
	}
	if len(errs) > 0 {
		return &Problem{Status: fiber.StatusBadRequest, Detail: "invalid query", Errors: errs}
	}
	f.Limit = exportPage
	first, err := s.exportRead(f)
	if err != nil {
		return fmt.Errorf("export events: %w", err)
	}
	name := "vitals-events-" + time.Now().UTC().Format("20060102T150405Z") + "." + format
	if format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, "application/jsonl; charset=utf-8")
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		out := newExportWriter(format, w)
		page := first
		for {
			for _, e := range page {
				if out.event(e) != nil {
					return // the client went away
				}
			}
			if len(page) < f.Limit {
				break
			}
			last := page[len(page)-1]
			f.Before = &storage.EventCursor{CreatedAt: last.CreatedAt, ID: last.ID}
			if page, err = s.exportRead(f); err != nil {
				s.log.Warn("events export stopped early", "err", err)
				out.incomplete()
				break
			}
		}
		out.flush()
	})
	return nil
}

// exportRead is one page of an export, under the request deadline the
// other store reads have; the export as a whole has none, as its size is
// the feed's.
func (s *server) exportRead(f storage.EventFilter) ([]storage.Event, error) {
	ctx, cancel := s.storeContext()
	defer cancel()
	return s.store.ListEvents(ctx, f)
}

// exportWriter writes events in one export format.
type exportWriter struct {
	w   *bufio.Writer
	csv *csv.Writer // nil for JSON Lines
	row []string
}

func newExportWriter(format string, w *bufio.Writer) *exportWriter {
	x := &exportWriter{w: w}
	if format == "csv" {
		x.csv = csv.NewWriter(w)
		_ = x.csv.Write(exportColumns)
		x.row = make([]string, len(exportColumns))
	}
	return x
}

func (x *exportWriter) event(e storage.Event) error {
	if x.csv == nil {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := x.w.Write(append(b, '\n')); err != nil {
			return err
		}
		return nil
	}
	email := ""
	if e.UserEmail != nil {
		email = *e.UserEmail
	}
	details := ""
	if !storage.IsNullDetails(e.Details) {
		details = string(e.Details)
	}
	x.row[0] = strconv.FormatInt(e.ID, 10)
	x.row[1] = e.CreatedAt.UTC().Format(time.RFC3339Nano)
	x.row[2] = cell(e.Type)
	x.row[3] = cell(e.Source)
	x.row[4] = cell(email)
	x.row[5] = cell(e.Message)
	x.row[6] = details
	if err := x.csv.Write(x.row); err != nil {
		return err
	}
	return x.csv.Error()
}

// incomplete ends a file that could not be finished, in a line no reader
// takes for an event.
func (x *exportWriter) incomplete() {
	const msg = "export incomplete: the store failed while reading; run the export again"
	if x.csv == nil {
		_, _ = x.w.WriteString(`{"error":"` + msg + `"}` + "\n")
		return
	}
	_ = x.csv.Write([]string{"# " + msg})
}

func (x *exportWriter) flush() {
	if x.csv != nil {
		x.csv.Flush()
	}
	_ = x.w.Flush()
}

// cell keeps a text cell from being run as a formula by the spreadsheet an
// admin opens the file in (OWASP's CSV injection advice): a leading quote
// marks it as text.
func cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
