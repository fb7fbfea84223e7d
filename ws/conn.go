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

// Write writes every buffer in one vectored write (writev on TCP).
func (c *conn) Write(bufs net.Buffers) error {
	c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	_, err := bufs.WriteTo(c.Conn)
	return err
}

func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.Conn.Close() })
	return err
}
