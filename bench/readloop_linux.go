package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parleychat/parley/internal/epoll"
)

// readLoop reads every connection of a group from one goroutine through
// one epoll set, instead of a goroutine blocked in a read per connection.
// The bench shares a small machine with the server it measures: at a
// million deliveries a second, waking a goroutine for each one cost more
// of the bench's core than reading the bytes did, and a saturated bench
// measures itself. It waits through Go's own poller (epoll.Loop), so the
// publishers' timers run while it waits. Writes (pongs, sends, close
// frames) still go through the connection's net.Conn, from whichever
// goroutine makes them.
type readLoop struct {
	g    *group
	epfd int
	buf  []byte // the loop's one read buffer
	stop context.CancelFunc

	mu      sync.Mutex
	conns   map[uint64]*polledConn // by the id its epoll events carry
	nextID  uint64
	winding bool // the group is closing: stop once the last conn ended
	exited  bool // the loop ended; conns added later end at once
}

// polledConn is a connection the loop reads. The loop owns its read side
// and closes it; close and drop shut the socket down (conn.takeFD), which
// the loop reads as the end.
type polledConn struct {
	id     uint64
	c      *conn
	fd     int // valid until the loop closes c.nc
	handle func([]byte)
	done   chan struct{}
	pend   []byte // the start of a frame still on its way
}

// loopReadBuf is the loop's read size: a receiver's backlog in one read.
const loopReadBuf = 64 << 10

// loopBatch is how many ready sockets one wake-up takes.
const loopBatch = 256

// loopCloseWait bounds how long a closing group's loop waits for its
// connections to end before it ends them itself.
const loopCloseWait = 10 * time.Second

// poll makes g's event loop c's read side, starting the loop on first use.
// It reports false when c is not a plain TCP socket (TLS), is closed, or
// the loop can't start; c then gets a goroutine of its own.
func (g *group) poll(c *conn, handle func([]byte), done chan struct{}) bool {
	if _, ok := c.nc.(*net.TCPConn); !ok {
		return false
	}
	g.mu.Lock()
	if g.rl == nil && !g.noLoop {
		var err error
		if g.rl, err = newReadLoop(g); err != nil {
			g.noLoop = true
		}
	}
	l := g.rl
	g.mu.Unlock()
	if l == nil {
		return false
	}
	fd, ok := c.takeFD()
	if !ok {
		return false
	}
	l.add(&polledConn{c: c, fd: fd, handle: handle, done: done})
	return true
}

func newReadLoop(g *group) (*readLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &readLoop{g: g, epfd: epfd, buf: make([]byte, loopReadBuf), stop: stop, conns: make(map[uint64]*polledConn)}
	g.wg.Add(1)
	go l.run(ctx)
	return l, nil
}

// add hands p's connection to the loop. Bytes already read past the last
// frame its owner read are handled first, here: the loop hears of a
// socket only when more arrives. The socket joins the set and the table
// together, under mu, so endAll sees it in both or in neither.
func (l *readLoop) add(p *polledConn) {
	pend := p.c.unread()
	used, err := p.c.feed(pend, p.handle)
	if err != nil {
		l.finish(p, err)
		return
	}
	p.pend = pend[used:]
	l.mu.Lock()
	if l.exited {
		l.mu.Unlock()
		l.finish(p, net.ErrClosed)
		return
	}
	p.id = l.nextID
	l.nextID++
	ev := epoll.Event(unix.EPOLLIN|unix.EPOLLRDHUP, p.id)
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, p.fd, &ev); err != nil {
		l.mu.Unlock()
		l.finish(p, fmt.Errorf("epoll_ctl: %w", err))
		return
	}
	l.conns[p.id] = p
	l.mu.Unlock()
}

// run waits for readable sockets and reads each once per wake-up (the set
// is level-triggered: a socket with more to read comes back in the next)
// until windDown stops it.
func (l *readLoop) run(ctx context.Context) {
	defer l.g.wg.Done()
	defer unix.Close(l.epfd)
	ready := make([]*polledConn, 0, loopBatch)
	err := epoll.Loop(ctx, l.epfd, loopBatch, func(events []unix.EpollEvent) {
		ready = ready[:0]
		l.mu.Lock()
		for _, ev := range events {
			if p := l.conns[epoll.ID(ev)]; p != nil {
				ready = append(ready, p)
			}
		}
		l.mu.Unlock()
		for _, p := range ready {
			l.read(p)
		}
	})
	if err == nil {
		err = net.ErrClosed
	}
	l.endAll(err)
}

// windDown stops the loop once every connection has ended, which closing
// them makes happen at once, or after loopCloseWait at the latest.
func (l *readLoop) windDown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.winding = true
	if len(l.conns) == 0 {
		l.stop()
		return
	}
	time.AfterFunc(loopCloseWait, l.stop)
}

// read reads what p's socket holds and handles every whole frame in it.
func (l *readLoop) read(p *polledConn) {
	n, err := unix.Read(p.fd, l.buf)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return
	case err != nil:
		l.end(p, fmt.Errorf("reading: %w", err))
		return
	case n == 0:
		l.end(p, io.EOF)
		return
	}
	p.c.readAt = time.Now()
	data := l.buf[:n]
	if len(p.pend) > 0 {
		p.pend = append(p.pend, data...)
		data = p.pend
	}
	used, err := p.c.feed(data, p.handle)
	if err != nil {
		l.end(p, err)
		return
	}
	// Keep the unfinished frame (when data is pend itself, copy moves it
	// to the front). A big message's buffer is not kept once it is done.
	if rest := data[used:]; len(p.pend) > 0 {
		p.pend = p.pend[:copy(p.pend, rest)]
	} else {
		p.pend = append(p.pend, rest...)
	}
	if len(p.pend) == 0 && cap(p.pend) > loopReadBuf {
		p.pend = nil
	}
}

// end takes p out of the loop and ends its connection.
func (l *readLoop) end(p *polledConn, err error) {
	l.mu.Lock()
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, p.fd, nil)
	delete(l.conns, p.id)
	if l.winding && len(l.conns) == 0 {
		l.stop()
	}
	l.mu.Unlock()
	l.finish(p, err)
}

func (l *readLoop) finish(p *polledConn, err error) {
	l.g.ended(p.c, err)
	close(p.done)
}

func (l *readLoop) endAll(err error) {
	l.mu.Lock()
	l.exited = true
	conns := make([]*polledConn, 0, len(l.conns))
	for _, p := range l.conns {
		conns = append(conns, p)
	}
	l.mu.Unlock()
	for _, p := range conns {
		l.end(p, err)
	}
}
