package ws

import (
	"net"
	"sync"
	"time"
)

// conn adapts a net.Conn to hub.Transport.
type conn struct {
	net.Conn
	writeTimeout time.Duration
	closeOnce    sync.Once
}

// Write writes every buffer in one vectored write (writev on TCP), within
// the write timeout. The deadline is cleared afterwards: a non-blocking
// write (TryWrite) made later must not find it expired.
func (c *conn) Write(bufs net.Buffers) error {
	c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	_, err := bufs.WriteTo(c.Conn)
	c.Conn.SetWriteDeadline(time.Time{})
	return err
}

func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.Conn.Close() })
	return err
}
