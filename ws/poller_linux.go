//go:build linux

package ws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/parleychat/parley/internal/epoll"
)

// poller waits in one epoll set for idle connections to have data, so an
// idle connection needs no goroutine of its own (a blocked read goroutine
// costs several KB of stack). When a connection becomes readable, a
// goroutine reads what has arrived (conn.wake) and re-arms the connection;
// EPOLLONESHOT guarantees one reader per connection at a time.
type poller struct {
	epfd  int
	log   *slog.Logger
	waits *waitSets // where detached sockets wait mid-frame or for a full send buffer

	mu    sync.Mutex
	conns map[uint64]*conn // by conn.pollID
	next  uint64
}

func newPoller(log *slog.Logger) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("ws: creating an epoll set: %w", err)
	}
	waits, err := newWaitSets()
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	return &poller{epfd: epfd, log: log, waits: waits, conns: make(map[uint64]*conn)}, nil
}

// detach takes c's descriptor out of Go's network poller when it is plain
// TCP; its waits go to the poller's wait sets instead. Call it before c is
// used.
func (p *poller) detach(c *conn) error {
	tcp, ok := c.stream.(*net.TCPConn)
	if !ok || c.raw == nil {
		return nil
	}
	s, err := detachTCP(tcp, c.raw, p.waits)
	if err != nil {
		return err
	}
	c.stream, c.raw = detached{s}, s
	return nil
}

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// add starts watching c, a plain TCP connection; c.wake runs whenever it
// has data. c.Close calls forget (a closed descriptor leaves the epoll set
// by itself, but not this map).
func (p *poller) add(c *conn) error {
	p.mu.Lock()
	// Under mu, which forget takes after closed is set: either forget sees
	// c here or c is not added.
	if c.closed.Load() {
		p.mu.Unlock()
		return net.ErrClosed
	}
	p.next++
	c.pollID = p.next
	p.conns[c.pollID] = c
	p.mu.Unlock()
	if err := p.ctl(c, unix.EPOLL_CTL_ADD); err != nil {
		// The caller falls back to a read goroutine, which keeps its
		// read deadline only while pollID says "not in the event loop".
		// Under mu, which a concurrent Close's forget reads it under.
		p.mu.Lock()
		delete(p.conns, c.pollID)
		c.pollID = 0
		p.mu.Unlock()
		return err
	}
	return nil
}

// size is how many connections the poller holds.
func (p *poller) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// ctl adds or re-arms c. The descriptor is only used inside Control, so a
// concurrent Close can't hand its number to another connection meanwhile.
func (p *poller) ctl(c *conn, op int) error {
	ev := epoll.Event(pollEvents, c.pollID)
	var ctlErr error
	err := c.raw.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err != nil {
		return err // the connection is closed
	}
	return ctlErr
}

func (p *poller) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c.pollID)
	p.mu.Unlock()
}

// serve reads what c has and, if it stays open, waits for more. A closed
// descriptor leaves the epoll set by itself.
func (p *poller) serve(c *conn) {
	if c.wake() && p.ctl(c, unix.EPOLL_CTL_MOD) == nil {
		return
	}
	p.forget(c)
}

// run dispatches readiness until ctx ends, then closes the epoll set.
// Connections still registered are the hub's to close.
func (p *poller) run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	waitsDone := make(chan error, 1)
	go func() { waitsDone <- p.waits.run(ctx) }()
	err := p.dispatch(ctx)
	stop()
	return errors.Join(err, <-waitsDone)
}

func (p *poller) dispatch(ctx context.Context) error {
	defer unix.Close(p.epfd)
	return epoll.Loop(ctx, p.epfd, 256, func(events []unix.EpollEvent) {
		for _, ev := range events {
			p.mu.Lock()
			c := p.conns[epoll.ID(ev)]
			p.mu.Unlock()
			if c != nil {
				go p.serve(c)
			}
		}
		// Let the readers just started run before asking for more: an
		// epoll_wait with events ready returns at once, so on a busy core
		// the loop would otherwise start a goroutine for every connection
		// of a surge (a reconnect storm) before any of them runs, and the
		// runtime keeps every goroutine it ever made.
		runtime.Gosched()
	})
}

// pending reports whether raw has received bytes waiting to be read.
func pending(raw syscall.RawConn) bool {
	n := 0
	err := raw.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	})
	return err == nil && n > 0
}
