//go:build linux

package ws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// detachedPair returns a loopback connection whose server end is detached
// from Go's poller, with wait sets running until stop or the test's end.
func detachedPair(t *testing.T) (s *socket, client net.Conn, stop func()) {
	t.Helper()
	server, client := tcpPair(t)
	waits, err := newWaitSets()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- waits.run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("wait sets: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	tcp := server.(*net.TCPConn)
	raw, err := tcp.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	s, err = detachTCP(tcp, raw, waits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close() })
	return s, client, stop
}

// TestSocketReads: a detached read waits for data, returns it, honours its
// deadline, and reports the peer's close as io.EOF.
func TestSocketReads(t *testing.T) {
	s, client, _ := detachedPair(t)
	d := detached{s}
	buf := make([]byte, 64)

	d.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	if n, err := d.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing sent = %d, %v; want the deadline", n, err)
	}
	if waited := time.Since(start); waited < 90*time.Millisecond || waited > 2*time.Second {
		t.Fatalf("the read gave up after %v, want ~100ms", waited)
	}

	d.SetReadDeadline(time.Time{})
	go func() {
		time.Sleep(50 * time.Millisecond)
		client.Write([]byte("hello"))
	}()
	n, err := d.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read = %q, %v; want hello", buf[:n], err)
	}

	client.Close()
	if n, err := d.Read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed = %d, %v; want io.EOF", n, err)
	}
}

// TestSocketWritesWaitForTheReader: a write bigger than the socket buffers
// waits for the peer to read, arrives whole, and one the peer never reads
// ends at its deadline.
func TestSocketWritesWaitForTheReader(t *testing.T) {
	s, client, _ := detachedPair(t)
	d := detached{s}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB

	d.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := d.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n == len(big) {
		t.Fatalf("write nobody reads = %d, %v; want part of it and the deadline", n, err)
	}
	d.SetWriteDeadline(time.Time{})

	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(n+len(big))))
		got <- b
	}()
	if m, err := d.Write(big); err != nil || m != len(big) {
		t.Fatalf("write to a reader = %d, %v; want %d", m, err, len(big))
	}
	b := <-got
	if !bytes.Equal(b[:n], big[:n]) || !bytes.Equal(b[n:], big) {
		t.Fatalf("the reader got %d bytes that differ from what was written", len(b))
	}
}

// TestSocketCloseWakesWaiters: closing a socket ends a read and a write
// that wait on it without deadlines, and it is closed for every use after.
func TestSocketCloseWakesWaiters(t *testing.T) {
	s, _, _ := detachedPair(t)
	d := detached{s}
	errs := make(chan error, 2)
	go func() {
		_, err := d.Read(make([]byte, 16))
		errs <- err
	}()
	go func() {
		_, err := d.Write(bytes.Repeat([]byte("x"), 16<<20))
		errs <- err
	}()
	time.Sleep(100 * time.Millisecond) // both are waiting
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("a waiting call ended without an error when the socket closed")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiting call did not end when the socket closed")
		}
	}
	if err := s.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Control after close = %v, want net.ErrClosed", err)
	}
	if err := d.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second close = %v, want net.ErrClosed", err)
	}
}

// TestSocketWaitEndsWithItsSets: a wait still pending when the poller
// stops ends, rather than hanging a goroutine for good.
func TestSocketWaitEndsWithItsSets(t *testing.T) {
	s, _, stop := detachedPair(t)
	errs := make(chan error, 1)
	go func() {
		_, err := detached{s}.Read(make([]byte, 16))
		errs <- err
	}()
	time.Sleep(50 * time.Millisecond)
	stop()
	select {
	case err := <-errs:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read when the wait sets stopped = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read kept waiting after the wait sets stopped")
	}
}

// TestClosedConnLeavesTheEventLoop: a conn leaves the poller when it
// closes, and one the hub closed before the handler parked it is refused
// rather than parked for good.
func TestClosedConnLeavesTheEventLoop(t *testing.T) {
	p, err := newPoller(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Never run: its epoll sets are closed here.
	t.Cleanup(func() {
		for _, fd := range []int{p.epfd, p.waits.read.epfd, p.waits.write.epfd} {
			unix.Close(fd)
		}
	})
	h := &Handler{poller: p}

	parked := func() *conn {
		server, _ := tcpPair(t)
		c := newConn(server, time.Second)
		c.h = h
		if err := p.detach(c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := parked()
	if err := p.add(c); err != nil {
		t.Fatal(err)
	}
	if p.size() != 1 {
		t.Fatalf("%d connections parked, want 1", p.size())
	}
	c.Close()
	if p.size() != 0 {
		t.Fatalf("%d connections parked after Close, want 0", p.size())
	}

	early := parked()
	early.Close()
	if err := p.add(early); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("add of a closed conn = %v, want net.ErrClosed", err)
	}
	if p.size() != 0 {
		t.Fatalf("%d connections parked, want 0: a closed conn was parked", p.size())
	}
}
