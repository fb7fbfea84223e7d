package ws

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/parleychat/parley/hub"
	"github.com/parleychat/parley/protocol"
)

// conn is one server-side WebSocket connection: the hub's Transport for it,
// its frame reader and what the reader hands frames to, and its entry in the
// event loop. It is one allocation, with methods instead of closures,
// because an idle server holds many thousands of them and each object
// costs its header and size-class rounding.
type conn struct {
	stream
	writeTimeout time.Duration
	closed       atomic.Bool
	echo         bool // the conformance endpoint: every message comes back (set with sess)
	// raw is a plain TCP connection's descriptor, for non-blocking writes
	// and the event loop; nil for TLS.
	raw syscall.RawConn

	h *Handler // set before the hub has the connection
	// Set once the hub accepted the connection.
	sess *hub.Session
	rd   reader

	// One event-loop wake-up reads at a time (EPOLLONESHOT); the mutex
	// states that ordering for the race detector.
	reading sync.Mutex
	pollID  uint64 // the event loop's key, 0 when not in it
}

// stream is what a conn reads and writes: a net.Conn, or a descriptor
// taken out of Go's network poller (socket_linux.go).
type stream interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// newConn wraps nc, keeping its descriptor when it is plain TCP.
func newConn(nc net.Conn, writeTimeout time.Duration) *conn {
	c := &conn{stream: nc, writeTimeout: writeTimeout}
	if tcp, ok := nc.(*net.TCPConn); ok {
		if raw, err := tcp.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	return c
}

// Write writes every buffer in one vectored write (writev on TCP), within
// the write timeout. The deadline is cleared afterwards: a non-blocking
// write (TryWrite) made later must not find it expired.
func (c *conn) Write(bufs net.Buffers) error {
	c.stream.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	err := c.writeAll(bufs)
	c.stream.SetWriteDeadline(time.Time{})
	return err
}

// Close closes the connection once, and takes it out of the event loop.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	err := c.stream.Close()
	if c.h != nil && c.h.poller != nil {
		c.h.poller.forget(c)
	}
	return err
}

// blockingConn is a conn as a Transport that only writes blocking, for
// connections without a descriptor of their own (TLS).
type blockingConn struct{ c *conn }

func (b blockingConn) Write(bufs net.Buffers) error { return b.c.Write(bufs) }
func (b blockingConn) Close() error                 { return b.c.Close() }

// idle bounds the wait for a frame on a read goroutine: two heartbeats.
func (c *conn) idle() time.Duration { return 2 * c.h.hub.Heartbeat() }

// onFrame runs as each frame begins: the peer is alive. On a read
// goroutine the next frame must begin within the idle bound; in the event
// loop the hub closes peers silent for two heartbeats instead.
func (c *conn) onFrame() {
	if c.pollID == 0 {
		c.stream.SetReadDeadline(time.Now().Add(c.idle()))
	}
	c.sess.Touch()
}

func (c *conn) onPing(payload []byte) { c.sess.PushControl(Framer{}.Pong(payload)) }

func (c *conn) onMessage(op ws.OpCode, data []byte) {
	if c.echo {
		c.sess.Send(message(op, data, c.rd.deflate))
		return
	}
	if op != ws.OpText {
		c.sess.Close(protocol.CloseUnsupportedData, "binary messages are not part of the protocol; send text")
		return
	}
	// The connection outlives the upgrade request, so its work must not
	// end with the request's context.
	c.sess.Handle(context.Background(), data)
}

// end closes the session as a read error calls for and reports false, or
// true for no error.
func (c *conn) end(err error) bool {
	if err == nil {
		return true
	}
	var ce *closeError
	var pc *peerClosed
	switch {
	case errors.As(err, &ce):
		c.h.log.Info("closing a connection that broke the protocol", "user", c.sess.User().Name, "remote", c.sess.Remote(), "code", ce.code, "reason", ce.reason)
		c.sess.Close(ce.code, ce.reason)
	case errors.As(err, &pc):
		c.sess.Close(pc.echo, "")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.sess.Close(protocol.CloseHeartbeat, "no heartbeat")
	default:
		c.sess.Abort()
	}
	return false
}

// wake reads every frame that has arrived, when the event loop finds the
// connection readable, and reports whether it stays open. A frame per
// wake-up would cap a busy sender at the event loop's round trips. A buffer
// lent for the wake-up turns a frame's several small reads into one; the
// wake-up ends only once it is empty, so an idle connection keeps none.
func (c *conn) wake() bool {
	c.reading.Lock()
	defer c.reading.Unlock()
	br := readBuffers.Get().(*bufio.Reader)
	br.Reset(c.stream)
	c.rd.r = br
	defer func() {
		c.rd.r = c.stream
		br.Reset(nil)
		readBuffers.Put(br)
	}()
	for i := 1; ; i++ {
		// A frame once begun must arrive within frameTimeout.
		c.stream.SetReadDeadline(time.Now().Add(frameTimeout))
		if !c.end(c.rd.next(c)) {
			return false
		}
		if br.Buffered() == 0 && (i >= maxFramesPerWake || !pending(c.raw)) {
			// Parked with no deadline: an armed timer per idle
			// connection would cost memory and wake nothing useful.
			c.stream.SetReadDeadline(time.Time{})
			return true
		}
	}
}
