//go:build linux

package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parleychat/parley/internal/epoll"
)

// socket is a plain TCP connection's descriptor taken out of Go's network
// poller once the WebSocket handshake is done. A net.TCPConn costs an idle
// connection ~0.8 KB that it does not need while the event loop watches the
// descriptor: its netFD and two addresses (~240 B of heap) and the
// runtime's poll record and timers (~550 B outside the heap, kept for good;
// BenchmarkIdleConnection). A socket is a descriptor, a lock and two
// deadlines; when a read or write has to wait, it waits in one of the
// poller's wait sets, which only connections in the middle of a frame or
// behind a full send buffer are in.
//
// It is the conn's stream and its syscall.RawConn.
type socket struct {
	fd     int
	waits  *waitSets
	closed atomic.Bool
	// mu is held (shared) across every system call on fd, and exclusively
	// to close it, so the descriptor's number can't be reused by another
	// connection while a call is still on its way.
	mu sync.RWMutex
	// Deadlines in Unix nanoseconds, 0 for none.
	readDeadline, writeDeadline atomic.Int64
	// woken is made by the first wait, which most sockets never have.
	woken atomic.Pointer[wakeups]
}

// wakeups are how a socket's waiting read and write hear of readiness
// (from their wait set) or of the socket closing. Closing wakes them
// directly: epoll forgets a descriptor once it is closed, with any
// readiness not yet collected.
type wakeups struct{ read, write chan struct{} }

func (s *socket) wakeups() *wakeups {
	if w := s.woken.Load(); w != nil {
		return w
	}
	s.woken.CompareAndSwap(nil, &wakeups{read: make(chan struct{}, 1), write: make(chan struct{}, 1)})
	return s.woken.Load()
}

// wake tells a waiting call, if any, to try again.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// detachTCP takes nc's descriptor (raw) out of Go's network poller: it
// duplicates the descriptor (non-blocking, like the original, whose flags
// it shares) and closes nc, which returns the poll record to the runtime.
func detachTCP(nc *net.TCPConn, raw syscall.RawConn, waits *waitSets) (*socket, error) {
	fd := -1
	var dupErr error
	if err := raw.Control(func(orig uintptr) {
		fd, dupErr = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("ws: detaching a connection: %w", err)
	}
	if dupErr != nil {
		return nil, fmt.Errorf("ws: duplicating a connection's descriptor: %w", dupErr)
	}
	nc.Close()
	return &socket{fd: fd, waits: waits}, nil
}

// do runs f on the descriptor unless the socket is closed.
func (s *socket) do(f func(fd int)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return net.ErrClosed
	}
	f(s.fd)
	return nil
}

// Control implements syscall.RawConn.
func (s *socket) Control(f func(fd uintptr)) error {
	return s.do(func(fd int) { f(uintptr(fd)) })
}

// Read implements syscall.RawConn: f runs until it reports done, waiting
// for the descriptor to be readable in between (within the read deadline).
func (s *socket) Read(f func(fd uintptr) bool) error {
	return s.loop(f, &s.waits.read, &s.readDeadline, func(w *wakeups) chan struct{} { return w.read })
}

// Write implements syscall.RawConn like Read, for writing.
func (s *socket) Write(f func(fd uintptr) bool) error {
	return s.loop(f, &s.waits.write, &s.writeDeadline, func(w *wakeups) chan struct{} { return w.write })
}

func (s *socket) loop(f func(fd uintptr) bool, set *waitSet, deadline *atomic.Int64, ready func(*wakeups) chan struct{}) error {
	for {
		var done bool
		if err := s.do(func(fd int) { done = f(uintptr(fd)) }); err != nil || done {
			return err
		}
		if err := set.wait(s, ready(s.wakeups()), deadline.Load()); err != nil {
			return err
		}
	}
}

// read reads into p as a net.Conn does: io.EOF when the peer has closed,
// os.ErrDeadlineExceeded past the read deadline.
func (s *socket) read(p []byte) (int, error) {
	var n int
	var rerr error
	err := s.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), p)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// write writes all of p.
func (s *socket) write(p []byte) (int, error) {
	written := 0
	var werr error
	err := s.Write(func(fd uintptr) bool {
		for written < len(p) {
			n, err := unix.Write(int(fd), p[written:])
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return false
			case err != nil:
				werr = err
				return true
			}
			written += n
		}
		return true
	})
	if err == nil && werr != nil {
		err = os.NewSyscallError("write", werr)
	}
	return written, err
}

// close wakes any read or write waiting on the socket, shuts the
// connection down and closes the descriptor once no call is using it.
func (s *socket) close() error {
	if s.closed.Swap(true) {
		return net.ErrClosed
	}
	// A wait that began before closed was set made woken first.
	if w := s.woken.Load(); w != nil {
		wake(w.read)
		wake(w.write)
	}
	s.mu.RLock()
	unix.Shutdown(s.fd, unix.SHUT_RDWR)
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return unix.Close(s.fd)
}

func setDeadline(d *atomic.Int64, t time.Time) {
	if t.IsZero() {
		d.Store(0)
		return
	}
	d.Store(t.UnixNano())
}

// detached is a socket as a conn's stream.
type detached struct{ *socket }

func (d detached) Read(p []byte) (int, error)         { return d.read(p) }
func (d detached) Write(p []byte) (int, error)        { return d.write(p) }
func (d detached) Close() error                       { return d.close() }
func (d detached) SetReadDeadline(t time.Time) error  { setDeadline(&d.readDeadline, t); return nil }
func (d detached) SetWriteDeadline(t time.Time) error { setDeadline(&d.writeDeadline, t); return nil }

// waitSets are the epoll sets a detached socket's blocked reads and writes
// wait in; the poller runs them.
type waitSets struct{ read, write waitSet }

func newWaitSets() (*waitSets, error) {
	w := &waitSets{}
	if err := w.read.init(unix.EPOLLIN); err != nil {
		return nil, err
	}
	if err := w.write.init(unix.EPOLLOUT); err != nil {
		unix.Close(w.read.epfd)
		return nil, err
	}
	return w, nil
}

// run dispatches both sets' readiness until ctx ends, then closes them;
// waits still in them end with net.ErrClosed.
func (w *waitSets) run(ctx context.Context) error {
	errs := make(chan error, 1)
	go func() { errs <- w.write.run(ctx) }()
	err := w.read.run(ctx)
	return errors.Join(err, <-errs)
}

// waitSet is an epoll set in which goroutines wait for their socket to be
// ready for one kind of I/O. A socket is in it only while a goroutine waits
// (added for the wait, deleted after), so the set is as big as the number
// of waits, not of connections.
type waitSet struct {
	epfd   int
	events uint32
	done   chan struct{} // closed when run ends

	// mu orders changes to the set with its closing, so no change reaches
	// a closed set's descriptor number.
	mu      sync.Mutex
	stopped bool
	waiters map[uint64]chan struct{}
	next    uint64
}

func (w *waitSet) init(events uint32) error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("ws: creating an epoll set: %w", err)
	}
	w.epfd, w.events, w.done, w.waiters = epfd, events, make(chan struct{}), make(map[uint64]chan struct{})
	return nil
}

// wait blocks until s is ready for the set's kind of I/O (ready hears of
// it; it is s's own channel for this kind, so closing s can wake it), the deadline
// (Unix nanoseconds, 0 for none) passes (os.ErrDeadlineExceeded), s is
// closed or the set stops (net.ErrClosed). Readiness may be spurious: the
// caller tries again.
func (w *waitSet) wait(s *socket, ready chan struct{}, deadline int64) error {
	var timeout <-chan time.Time
	if deadline != 0 {
		d := time.Until(time.Unix(0, deadline))
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	id, err := w.add(s, ready)
	if err != nil {
		return err
	}
	defer w.remove(s, id)
	select {
	case <-ready:
		return nil
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-w.done:
		return net.ErrClosed
	}
}

// add puts s into the set for one wait; ready hears of its readiness.
func (w *waitSet) add(s *socket, ready chan struct{}) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return 0, net.ErrClosed
	}
	w.next++
	id := w.next
	// Level-triggered: a socket ready already is reported at once.
	ev := epoll.Event(w.events|unix.EPOLLONESHOT, id)
	var ctlErr error
	if err := s.do(func(fd int) { ctlErr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev) }); err != nil {
		return 0, err
	}
	if ctlErr != nil {
		return 0, fmt.Errorf("ws: waiting for a connection: %w", ctlErr)
	}
	w.waiters[id] = ready
	return id, nil
}

// remove takes s out of the set after its wait id.
func (w *waitSet) remove(s *socket, id uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waiters, id)
	if !w.stopped {
		s.do(func(fd int) { unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil) })
	}
}

// run wakes waiters as their sockets become ready, until ctx ends.
func (w *waitSet) run(ctx context.Context) error {
	defer func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.stopped = true
		close(w.done)
		unix.Close(w.epfd)
	}()
	return epoll.Loop(ctx, w.epfd, 128, func(events []unix.EpollEvent) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, ev := range events {
			if ready := w.waiters[epoll.ID(ev)]; ready != nil {
				wake(ready)
			}
		}
	})
}
