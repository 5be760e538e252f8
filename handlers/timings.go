package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/probes"
)

// Bounds of one timings post. A client keeps at most a few hundred routes
// (the templates of its router, not raw paths); the bins are the shared
// layout's.
const (
	maxTimingRoutes   = 500
	maxRouteLen       = 200
	maxMethodLen      = 16
	maxTimingsBody    = 1 << 20
	maxRequestsPerBin = 1 << 40 // far beyond a day of any one server's requests
)

type timingsInput struct {
	Routes *[]routeInput `json:"routes"`
}

type routeInput struct {
	Method string      `json:"method"`
	Route  string      `json:"route"`
	Count  *uint64     `json:"count"`
	Errors uint64      `json:"errors"`
	Bins   [][2]uint64 `json:"bins"`
}

// postTimings takes one post of the application's request timings: per
// route template, the requests since the client's last post as a
// histogram in probes.LatencyBin's layout. One wrong field refuses the
// whole post, naming every wrong field, and nothing of it is kept.
func (s *server) postTimings(c *fiber.Ctx) error {
	if !jsonContentType(c.Get(fiber.HeaderContentType)) {
		return newProblem(fiber.StatusUnsupportedMediaType, "send the timings as application/json (at most a charset=utf-8 parameter)")
	}
	body := bytes.TrimSpace(c.Request().Body())
	if len(body) > maxTimingsBody {
		return newProblem(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("a timings post may be at most %d bytes", maxTimingsBody))
	}
	routes, err := decodeTimings(body)
	if err != nil {
		return err
	}
	s.AppTimings.Add(routes)
	return c.SendStatus(fiber.StatusNoContent)
}

// decodeTimings reads and checks a post: an object with exactly the
// documented keys and nothing after it.
func decodeTimings(body []byte) ([]probes.RouteTimings, error) {
	if !utf8.Valid(body) {
		return nil, newProblem(fiber.StatusBadRequest, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in timingsInput
	if err := dec.Decode(&in); err != nil {
		return nil, &Problem{Status: fiber.StatusBadRequest, Detail: "the body is not a timings object: " + clip(err.Error()),
			Errors: []FieldError{{Field: "body", Message: `must be {"routes": [{"method", "route", "count", "errors", "bins"}]}`}}}
	}
	if dec.More() {
		return nil, newProblem(fiber.StatusBadRequest, "the body holds more than one JSON value")
	}
	var errs []FieldError
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	if in.Routes == nil {
		bad("routes", "is required: an array, empty when no request was served")
		return nil, &Problem{Status: fiber.StatusBadRequest, Detail: "invalid timings", Errors: errs}
	}
	if len(*in.Routes) > maxTimingRoutes {
		bad("routes", fmt.Sprintf("holds %d routes; at most %d (send route templates, not raw paths)", len(*in.Routes), maxTimingRoutes))
		return nil, &Problem{Status: fiber.StatusBadRequest, Detail: "invalid timings", Errors: errs}
	}
	out := make([]probes.RouteTimings, 0, len(*in.Routes))
	seen := map[string]bool{}
	for i, r := range *in.Routes {
		f := func(name string) string { return fmt.Sprintf("routes[%d].%s", i, name) }
		if msg := checkMethod(r.Method); msg != "" {
			bad(f("method"), msg)
		}
		if msg := checkRoute(r.Route); msg != "" {
			bad(f("route"), msg)
		}
		key := r.Method + " " + r.Route
		if seen[key] {
			bad(f("route"), "is given twice in this post with the same method")
		}
		seen[key] = true
		if r.Count == nil {
			bad(f("count"), "is required")
			continue
		}
		if r.Errors > *r.Count {
			bad(f("errors"), "is more than count")
		}
		var sum uint64
		for j, b := range r.Bins {
			switch {
			case b[0] >= probes.AppLatencyBins:
				bad(fmt.Sprintf("routes[%d].bins[%d]", i, j), fmt.Sprintf("bin %d is past the last bin, %d", b[0], probes.AppLatencyBins-1))
			case b[1] > maxRequestsPerBin:
				bad(fmt.Sprintf("routes[%d].bins[%d]", i, j), "holds more requests than any interval can")
			}
			sum += b[1]
		}
		if len(r.Bins) > probes.AppLatencyBins {
			bad(f("bins"), fmt.Sprintf("has %d pairs; there are %d bins", len(r.Bins), probes.AppLatencyBins))
		} else if sum != *r.Count {
			bad(f("bins"), fmt.Sprintf("counts sum to %d, count is %d", sum, *r.Count))
		}
		out = append(out, probes.RouteTimings{Method: r.Method, Route: r.Route, Count: *r.Count, Errors: r.Errors, Bins: r.Bins})
	}
	if len(errs) > 0 {
		return nil, &Problem{Status: fiber.StatusBadRequest, Detail: "invalid timings", Errors: errs}
	}
	return out, nil
}

func checkMethod(m string) string {
	if m == "" || len(m) > maxMethodLen {
		return fmt.Sprintf("must be an HTTP method such as GET (1 to %d capital letters)", maxMethodLen)
	}
	for _, r := range m {
		if r < 'A' || r > 'Z' {
			return "must be an HTTP method in capital letters, such as GET"
		}
	}
	return ""
}

func checkRoute(r string) string {
	switch {
	case !strings.HasPrefix(r, "/"):
		return "must be the route's template, starting with / (such as /tracks/{id})"
	case utf8.RuneCountInString(r) > maxRouteLen:
		return fmt.Sprintf("is longer than %d characters", maxRouteLen)
	}
	for _, c := range r {
		if unicode.IsControl(c) || unicode.IsSpace(c) {
			return "holds a control or space character"
		}
	}
	return ""
}
