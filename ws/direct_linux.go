//go:build linux

package ws

import (
	"errors"
	"io"
	"net"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/parleychat/parley/hub"
)

// maxIovec is the most buffers one writev takes (IOV_MAX on Linux).
const maxIovec = 1024

// transport is c as the hub's Transport: a plain TCP connection can also
// write without blocking, so the hub writes a room's fan-out straight from
// its flusher.
func (c *conn) transport() hub.Transport {
	if c.raw == nil {
		return blockingConn{c}
	}
	return c
}

// iovecs holds writev's argument arrays between calls, so a write
// allocates nothing and an idle connection holds none.
var iovecs = sync.Pool{New: func() any { s := make([]unix.Iovec, 0, 64); return &s }}

// TryWrite writes as much of bufs as the socket buffer takes now, in one
// writev; a full buffer writes nothing and is not an error. Only for
// connections with a descriptor (transport hands the hub no other).
func (c *conn) TryWrite(bufs [][]byte) (int, error) { return c.writev(bufs, false) }

// writeAll writes all of bufs, waiting for the socket (within the write
// deadline). A plain TCP connection uses writev here too: net.Buffers
// would leave an iovec array on the descriptor for good, which an idle
// connection should not hold.
func (c *conn) writeAll(bufs net.Buffers) error {
	if c.raw == nil {
		_, err := bufs.WriteTo(c.stream)
		return err
	}
	for {
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(bufs) == 0 {
			return nil
		}
		n, err := c.writev(bufs, true)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite // a socket that takes nothing without saying why
		}
		for n > 0 {
			k := min(n, len(bufs[0]))
			bufs[0] = bufs[0][k:]
			n -= k
			if len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
	}
}

// writev writes what one writev of bufs takes; with wait set it first
// waits for the socket to take something (or the write deadline).
func (c *conn) writev(bufs [][]byte, wait bool) (int, error) {
	if len(bufs) > maxIovec {
		bufs = bufs[:maxIovec]
	}
	vp := iovecs.Get().(*[]unix.Iovec)
	vs := (*vp)[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		vs = append(vs, v)
	}
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		if len(vs) == 0 {
			return true
		}
		r, _, errno := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&vs[0])), uintptr(len(vs)))
		if wait && errno == unix.EAGAIN {
			return false // wait until the socket takes more
		}
		if errno != 0 {
			werr = errno
		} else {
			n = int(r)
		}
		return true
	})
	clear(vs) // drop the pointers into the frames
	*vp = vs[:0]
	iovecs.Put(vp)
	switch {
	case err != nil:
		return 0, err
	case errors.Is(werr, unix.EAGAIN), errors.Is(werr, unix.EINTR):
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}
