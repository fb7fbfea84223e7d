//go:build !linux

package ws

import (
	"net"

	"github.com/parleychat/parley/hub"
)

// transport is c as the hub's Transport; non-blocking writes are
// Linux-only.
func (c *conn) transport() hub.Transport { return c }

func (c *conn) writeAll(bufs net.Buffers) error {
	_, err := bufs.WriteTo(c.stream)
	return err
}
