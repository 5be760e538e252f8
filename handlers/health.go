package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// CheckFailure is a check's failure whose words are safe to show on the
// public /health (a fixed phrase such as "writes failing: disk full");
// any other error shows as "unreachable".
type CheckFailure string

func (c CheckFailure) Error() string { return string(c) }

// Wait waits for checks still running past their budget (each ends with
// its context), for a shutdown that leaves nothing behind.
func (h *Health) Wait() { h.inflight.Wait() }

// HealthCheck is one component /health looks at.
type HealthCheck struct {
	// Name is the key in the checks map, e.g. "database:responseTime".
	Name          string
	ComponentType string
	// Critical components fail the whole check when down (the store);
	// others only warn (Redis).
	Critical bool
	Check    func(ctx context.Context) error
	// Generation, when set, moves whenever the check's answer may have
	// changed (a state it reads from memory flipped): a cached result made
	// under another generation is not reused, so /health turns within a
	// request of the change instead of a TTL later.
	Generation func() uint64
}

// Health answers /health in the application/health+json format. Its checks
// run within their own budget and the result is cached, so a storm of
// health checks costs the database at most one query per TTL.
type Health struct {
	// inflight are the checks running, those past the budget included.
	inflight sync.WaitGroup
	checks   []HealthCheck
	budget   time.Duration
	ttl      time.Duration
	version  string

	mu      sync.Mutex
	body    []byte
	status  int
	expires time.Time
	gen     uint64 // the checks' generations when body was made
}

// NewHealth makes the checker. budget bounds one run of all checks (1 s);
// ttl is how long a result is reused (1 s).
func NewHealth(version string, budget, ttl time.Duration, checks ...HealthCheck) *Health {
	return &Health{checks: checks, budget: budget, ttl: ttl, version: version}
}

type healthResult struct {
	ComponentType string   `json:"componentType,omitempty"`
	ObservedValue *float64 `json:"observedValue"`
	ObservedUnit  string   `json:"observedUnit"`
	Status        string   `json:"status"`
	Time          string   `json:"time"`
	Output        string   `json:"output,omitempty"`
}

// HealthServiceID is the serviceId of every /health answer.
const HealthServiceID = "vitals"

type healthDoc struct {
	Status string `json:"status"`
	// ServiceID is always "vitals": `vitals healthcheck` checks it, so a
	// health check pointed at the application's port fails instead of
	// passing on the application's own {"status": "ok"}.
	ServiceID string                    `json:"serviceId"`
	Version   string                    `json:"version,omitempty"`
	Checks    map[string][]healthResult `json:"checks"`
}

// Result returns the cached body and status, running the checks when the
// cache has expired. Callers arriving during a run wait for it instead of
// starting their own.
func (h *Health) Result() ([]byte, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	gen := h.generation()
	if time.Now().Before(h.expires) && gen == h.gen {
		return h.body, h.status
	}
	h.body, h.status = h.run()
	h.expires = time.Now().Add(h.ttl)
	h.gen = gen
	return h.body, h.status
}

// generation sums the checks' generations: any move changes the sum.
func (h *Health) generation() uint64 {
	var g uint64
	for _, c := range h.checks {
		if c.Generation != nil {
			g += c.Generation()
		}
	}
	return g
}

func (h *Health) run() ([]byte, int) {
	ctx, cancel := context.WithTimeout(context.Background(), h.budget)
	defer cancel()
	doc := healthDoc{Status: "pass", ServiceID: HealthServiceID, Version: h.version, Checks: map[string][]healthResult{}}
	// A check that overruns the budget writes its result after the answer
	// is made: the results are shared under mu, and read once.
	var mu sync.Mutex
	results := make([]healthResult, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
		wg.Add(1)
		h.inflight.Add(1)
		go func() {
			defer h.inflight.Done()
			defer wg.Done()
			r := runCheck(ctx, c)
			mu.Lock()
			results[i] = r
			mu.Unlock()
		}()
	}
	// Every check honours ctx; wait past the budget only by a hair, so a
	// check that ignores its context cannot hold /health.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(h.budget + 50*time.Millisecond):
	}
	mu.Lock()
	got := slices.Clone(results)
	mu.Unlock()
	for i, c := range h.checks {
		r := got[i]
		if r.Status == "" {
			r = healthResult{ComponentType: c.ComponentType, ObservedUnit: "ms", Status: "fail",
				Time: time.Now().UTC().Format(time.RFC3339Nano), Output: "no answer within " + h.budget.String()}
		}
		if r.Status == "fail" {
			if c.Critical {
				doc.Status = "fail"
			} else {
				r.Status = "warn"
				if doc.Status == "pass" {
					doc.Status = "warn"
				}
			}
		}
		doc.Checks[c.Name] = []healthResult{r}
	}
	body, _ := json.Marshal(doc)
	if doc.Status == "fail" {
		return body, fiber.StatusServiceUnavailable
	}
	return body, fiber.StatusOK
}

func runCheck(ctx context.Context, c HealthCheck) healthResult {
	start := time.Now()
	err := c.Check(ctx)
	ms := float64(time.Since(start).Microseconds()) / 1000
	r := healthResult{ComponentType: c.ComponentType, ObservedUnit: "ms", Status: "pass", Time: time.Now().UTC().Format(time.RFC3339Nano)}
	if err != nil {
		r.Status = "fail"
		// Only a fixed phrase: error text could carry a host name or a
		// connection string, and /health is public.
		var cf CheckFailure
		switch {
		case errors.As(err, &cf):
			r.Output = string(cf)
		case ctx.Err() != nil:
			r.Output = "no answer within budget"
		default:
			r.Output = "unreachable"
		}
		return r
	}
	r.ObservedValue = &ms
	return r
}

func (s *server) health(c *fiber.Ctx) error {
	body, status := s.Health.Result()
	c.Set(fiber.HeaderContentType, "application/health+json")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).Send(body)
}
