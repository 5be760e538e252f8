// Package group commits concurrent InsertEvents calls together.
//
// Both stores serialise event writes: SQLite has one writer, and PostgreSQL
// transactions queue on the retention counter's row lock until the one ahead
// has committed, fsync included. One transaction per call would cap ingest at
// one commit per fsync however many callers wait. A Committer instead hands
// every call to one goroutine, which takes all calls waiting at that moment
// and stores them in one transaction: the more callers wait, the more events
// each commit carries. A call returns only after the commit that holds its
// events (no response says "stored" before the commit).
//
// Each call stays all or nothing: when a grouped transaction fails for a
// reason that certainly rolled it back (a rejected row), the store retries
// every call of the group on its own, so one bad call fails alone.
package group

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

// ErrClosed is returned by Insert after Close. It is a storage.ErrUnavailable,
// so that a post that arrives while vitals stops is answered 503 "try
// again" (nothing was stored), never 500.
var ErrClosed = fmt.Errorf("store closed: %w", storage.ErrUnavailable)

// Call is one InsertEvents call waiting in a group. The commit function sets
// Out or Err.
type Call struct {
	Events []storage.NewEvent
	Out    []storage.Event
	Err    error

	ctx  context.Context
	done chan struct{}
}

// Ctx is the caller's context, for the commit function to skip calls whose
// caller has gone.
func (c *Call) Ctx() context.Context { return c.ctx }

// CommitFunc stores the events of calls, setting each call's Out or Err. It
// runs on the committer's goroutine, one group at a time. ctx ends at the
// latest deadline among the calls, capped by the committer's MaxWait.
type CommitFunc func(ctx context.Context, calls []*Call)

// Committer runs the grouping goroutine of one store.
type Committer struct {
	commit    CommitFunc
	maxEvents int
	maxWait   time.Duration

	calls     chan *Call
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

// Start starts a committer. maxEvents bounds the events gathered into one
// group (a single larger call still goes through, alone); maxWait bounds one
// group's transaction when its callers have no earlier deadline, so that a
// hung server cannot hold the writer for ever.
func Start(commit CommitFunc, maxEvents int, maxWait time.Duration) *Committer {
	c := &Committer{
		commit:    commit,
		maxEvents: maxEvents,
		maxWait:   maxWait,
		calls:     make(chan *Call), // unbuffered: a call not received is a call not stored
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	go c.run()
	return c
}

// Insert stores events in the next group and returns them as stored. If ctx
// ends before the group took the call, nothing was stored; if it ends while
// the group commits, Insert returns at once and the outcome is unknown, as
// with any transaction whose commit is interrupted.
func (c *Committer) Insert(ctx context.Context, events []storage.NewEvent) ([]storage.Event, error) {
	if len(events) == 0 {
		return []storage.Event{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	call := &Call{Events: events, ctx: ctx, done: make(chan struct{})}
	select {
	case c.calls <- call:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.stop:
		return nil, ErrClosed
	}
	select {
	case <-call.done:
		return call.Out, call.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w while committing", storage.ErrOutcomeUnknown, ctx.Err())
	}
}

// Close stops the goroutine after the group in progress, if any.
func (c *Committer) Close() {
	c.closeOnce.Do(func() { close(c.stop) })
	<-c.stopped
}

func (c *Committer) run() {
	defer close(c.stopped)
	for {
		var first *Call
		select {
		case first = <-c.calls:
		case <-c.stop:
			return
		}
		calls := []*Call{first}
		n := len(first.Events)
	gather:
		for n < c.maxEvents {
			select {
			case call := <-c.calls:
				calls = append(calls, call)
				n += len(call.Events)
			default:
				break gather
			}
		}
		c.commitGroup(calls)
	}
}

func (c *Committer) commitGroup(calls []*Call) {
	// Callers that gave up while waiting to be received are dropped here;
	// their Insert already returned.
	live := calls[:0]
	for _, call := range calls {
		if err := call.ctx.Err(); err != nil {
			call.Err = err
			close(call.done)
			continue
		}
		live = append(live, call)
	}
	if len(live) == 0 {
		return
	}
	deadline := time.Now().Add(c.maxWait)
	latest, all := time.Time{}, true
	for _, call := range live {
		d, ok := call.ctx.Deadline()
		if !ok {
			all = false
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	if all && latest.Before(deadline) {
		deadline = latest
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// The transaction ends early when every caller has gone (each
	// cancelled, as when vitals stops waiting for the requests in flight):
	// a hung database then cannot hold the writer, or the shutdown, past
	// the callers' own bounds.
	var left atomic.Int32
	left.Store(int32(len(live)))
	for _, call := range live {
		stop := context.AfterFunc(call.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	c.commit(ctx, live)
	for _, call := range live {
		if call.Out == nil && call.Err == nil {
			call.Err = errors.New("group commit: no result") // a bug in the commit function
		}
		close(call.done)
	}
}

// TxFunc stores the events of calls in one transaction and, on success,
// sets each call's Out.
type TxFunc func(ctx context.Context, calls []*Call) error

// EachAlone is both stores' CommitFunc: every call in one transaction
// (tx); when that fails and rolledBack says the failure certainly rolled it
// back (a rejected row, not a connection lost after the commit was sent),
// each call again in a transaction of its own, so that only a call whose
// own rows are rejected fails. Otherwise, or when ctx has ended, every call
// fails with the group's error. Calls whose caller has gone are not
// retried.
func EachAlone(tx TxFunc, rolledBack func(error) bool) CommitFunc {
	return func(ctx context.Context, calls []*Call) { eachAlone(ctx, calls, tx, rolledBack) }
}

func eachAlone(ctx context.Context, calls []*Call, tx TxFunc, rolledBack func(error) bool) {
	err := tx(ctx, calls)
	if err == nil {
		return
	}
	if len(calls) == 1 || ctx.Err() != nil || !rolledBack(err) {
		for _, c := range calls {
			c.Err = err
		}
		return
	}
	for _, c := range calls {
		if err := c.Ctx().Err(); err != nil {
			c.Err = err
			continue
		}
		if err := tx(ctx, []*Call{c}); err != nil {
			c.Err = err
		}
	}
}
