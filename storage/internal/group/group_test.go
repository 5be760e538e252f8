package group

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalsdev/vitals/storage"
)

// fakeCommit records group sizes and answers each call with one event per
// input, after a pause that lets callers pile up.
type fakeCommit struct {
	mu     sync.Mutex
	groups []int
	pause  time.Duration
	fail   error
}

func (f *fakeCommit) commit(ctx context.Context, calls []*Call) {
	f.mu.Lock()
	f.groups = append(f.groups, len(calls))
	f.mu.Unlock()
	time.Sleep(f.pause)
	for _, c := range calls {
		if f.fail != nil {
			c.Err = f.fail
			continue
		}
		c.Out = make([]storage.Event, len(c.Events))
		for i, e := range c.Events {
			c.Out[i] = storage.Event{Type: e.Type, Message: e.Message}
		}
	}
}

func TestGroupsConcurrentCalls(t *testing.T) {
	f := &fakeCommit{pause: 20 * time.Millisecond}
	c := Start(f.commit, 1000, time.Minute)
	defer c.Close()
	var wg sync.WaitGroup
	var stored atomic.Int64
	for range 50 {
		wg.Go(func() {
			out, err := c.Insert(t.Context(), []storage.NewEvent{{Type: "t", Message: "m"}})
			if err != nil || len(out) != 1 || out[0].Message != "m" {
				t.Errorf("Insert = %v, %v", out, err)
			}
			stored.Add(int64(len(out)))
		})
	}
	wg.Wait()
	if stored.Load() != 50 {
		t.Fatalf("stored %d, want 50", stored.Load())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.groups) >= 50 {
		t.Errorf("50 concurrent calls took %d commits; no grouping happened", len(f.groups))
	}
}

func TestMaxEvents(t *testing.T) {
	f := &fakeCommit{pause: 20 * time.Millisecond}
	c := Start(f.commit, 3, time.Minute)
	defer c.Close()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.Insert(t.Context(), []storage.NewEvent{{Type: "t"}, {Type: "t"}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.groups {
		// 2 events a call: a group stops gathering at 3 or more events.
		if g > 2 {
			t.Errorf("a group of %d calls (%d events), max 3 events gathered", g, 2*g)
		}
	}
}

func TestErrorsReachCallers(t *testing.T) {
	boom := errors.New("boom")
	c := Start((&fakeCommit{fail: boom}).commit, 100, time.Minute)
	defer c.Close()
	if _, err := c.Insert(t.Context(), []storage.NewEvent{{Type: "t"}}); !errors.Is(err, boom) {
		t.Fatalf("Insert error = %v, want boom", err)
	}
}

func TestCancelledBeforeTaken(t *testing.T) {
	block := make(chan struct{})
	var committed atomic.Int64
	c := Start(func(ctx context.Context, calls []*Call) {
		<-block
		for _, call := range calls {
			committed.Add(int64(len(call.Events)))
			call.Out = []storage.Event{{}}
		}
	}, 100, time.Minute)
	defer c.Close()

	// The first call occupies the committer.
	first := make(chan error, 1)
	go func() {
		_, err := c.Insert(context.Background(), []storage.NewEvent{{Type: "first"}})
		first <- err
	}()
	time.Sleep(20 * time.Millisecond)

	// The second gives up while waiting to be taken: never stored.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.Insert(ctx, []storage.NewEvent{{Type: "second"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Insert error = %v, want deadline exceeded", err)
	}
	close(block)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := committed.Load(); n != 1 {
		t.Fatalf("%d events committed, want only the first call's", n)
	}

	// A context already done never reaches the committer.
	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := c.Insert(done, []storage.NewEvent{{Type: "x"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Insert with a done context = %v", err)
	}
}

func TestGroupDeadline(t *testing.T) {
	got := make(chan time.Duration, 1)
	c := Start(func(ctx context.Context, calls []*Call) {
		d, _ := ctx.Deadline()
		got <- time.Until(d)
		for _, call := range calls {
			call.Out = []storage.Event{{}}
		}
	}, 100, time.Minute)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := c.Insert(ctx, []storage.NewEvent{{}}); err != nil {
		t.Fatal(err)
	}
	if d := <-got; d > 2*time.Second || d < time.Second {
		t.Errorf("group deadline in %v, want the caller's (2s)", d)
	}
	// Without a caller deadline, maxWait applies.
	if _, err := c.Insert(context.Background(), []storage.NewEvent{{}}); err != nil {
		t.Fatal(err)
	}
	if d := <-got; d > time.Minute || d < 50*time.Second {
		t.Errorf("group deadline in %v, want maxWait (1m)", d)
	}
}

func TestClose(t *testing.T) {
	c := Start((&fakeCommit{}).commit, 100, time.Minute)
	c.Close()
	c.Close() // idempotent
	if _, err := c.Insert(t.Context(), []storage.NewEvent{{}}); !errors.Is(err, ErrClosed) || !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Insert after Close = %v, want ErrClosed, a storage.ErrUnavailable", err)
	}
}

// TestEachAlone: a group that fails for a reason that rolled it back is
// retried call by call, so only the bad call fails; any other failure fails
// every call without a retry, since the commit may have happened.
func TestEachAlone(t *testing.T) {
	bad := errors.New("rejected row")
	lost := errors.New("connection lost")
	for _, c := range []struct {
		name       string
		groupErr   error
		rolledBack bool
		wantTx     int
		wantErrs   []error
	}{
		{"rolled back", bad, true, 4, []error{nil, bad, nil}},
		{"outcome unknown", lost, false, 1, []error{lost, lost, lost}},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := make([]*Call, 3)
			for i := range calls {
				calls[i] = &Call{Events: []storage.NewEvent{{Type: "t", Message: fmt.Sprint(i)}}, ctx: context.Background()}
			}
			txs := 0
			tx := func(_ context.Context, group []*Call) error {
				txs++
				if len(group) > 1 {
					return c.groupErr
				}
				if group[0] == calls[1] {
					return bad
				}
				group[0].Out = []storage.Event{{Type: "t"}}
				return nil
			}
			EachAlone(tx, func(err error) bool { return c.rolledBack })(context.Background(), calls)
			if txs != c.wantTx {
				t.Errorf("%d transactions, want %d", txs, c.wantTx)
			}
			for i, call := range calls {
				if !errors.Is(call.Err, c.wantErrs[i]) || (c.wantErrs[i] == nil && call.Err != nil) {
					t.Errorf("call %d error = %v, want %v", i, call.Err, c.wantErrs[i])
				}
			}
		})
	}
}

// A transaction hung on the database ends once every caller of its group
// has gone (as when vitals stops waiting for the requests in flight),
// however far off the committer's own bound is, so that Close is not held
// by it; while a caller waits, it goes on.
func TestCommitEndsWhenEveryCallerHasGone(t *testing.T) {
	ended := make(chan error, 1)
	started := make(chan struct{})
	c := Start(func(ctx context.Context, calls []*Call) {
		close(started)
		<-ctx.Done() // a database that never answers
		ended <- ctx.Err()
		for _, call := range calls {
			call.Err = ctx.Err()
		}
	}, 100, time.Hour)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { _, err := c.Insert(ctx, []storage.NewEvent{{Type: "a", Message: "1"}}); errs <- err }()
	<-started
	select {
	case err := <-ended:
		t.Fatalf("the commit ended (%v) while its caller was still waiting for it", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-errs; err == nil {
		t.Fatal("a cancelled caller was told its events were stored")
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the commit ended with %v, want cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the commit still runs with every caller gone")
	}
}
