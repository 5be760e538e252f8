package postgres

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// closeGrace is how long Close lets the pool close its connections
// cleanly (a Terminate message each) before it cuts the sockets: a server
// that stopped answering would otherwise hold pgx's close for up to 15 s a
// connection, and vitals' shutdown with it.
const closeGrace = 500 * time.Millisecond

// conns is every socket the store's connections use, so that Close can cut
// them when the server hangs.
type conns struct {
	mu     sync.Mutex
	set    map[*trackedConn]struct{}
	cutAll bool // set by cut: no new socket, every deadline now
}

// trackedConn is a socket that leaves conns when closed. Once cut, every
// deadline set on it is now: pgx sets a 15 s deadline of its own after
// cancelling a query, which must not undo the cut.
type trackedConn struct {
	net.Conn
	owner *conns
	once  sync.Once
	isCut atomic.Bool
}

func (c *trackedConn) SetDeadline(t time.Time) error {
	if c.isCut.Load() {
		t = time.Now()
	}
	return c.Conn.SetDeadline(t)
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if c.isCut.Load() {
		t = time.Now()
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	if c.isCut.Load() {
		t = time.Now()
	}
	return c.Conn.SetWriteDeadline(t)
}

// errCut is what a dial answers once the store has cut its sockets.
var errCut = errors.New("postgres: store closing")

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.owner.mu.Lock()
		delete(c.owner.set, c)
		c.owner.mu.Unlock()
	})
	return c.Conn.Close()
}

// wrap makes dial register every socket it opens.
func (cs *conns) wrap(dial pgconn.DialFunc) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, owner: cs}
		cs.mu.Lock()
		if cs.cutAll {
			cs.mu.Unlock()
			_ = c.Close()
			return nil, errCut
		}
		if cs.set == nil {
			cs.set = map[*trackedConn]struct{}{}
		}
		cs.set[tc] = struct{}{}
		cs.mu.Unlock()
		return tc, nil
	}
}

// cut makes every read and write still waiting on a socket fail at once.
func (cs *conns) cut() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.cutAll = true
	for c := range cs.set {
		c.isCut.Store(true)
		_ = c.SetDeadline(time.Now())
	}
}

// closeWithin runs closeFn (the pool's Close) and, should it still run after
// grace, cuts the sockets so that it ends; it returns once closeFn has.
func (cs *conns) closeWithin(grace time.Duration, closeFn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		closeFn()
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
		cs.cut()
	}
	<-done
}
