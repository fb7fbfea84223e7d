//go:build !linux

package ws

import (
	"net"
	"time"

	"github.com/parleychat/parley/hub"
)

// newTransport adapts c to the hub; non-blocking writes are Linux-only.
func newTransport(c net.Conn, writeTimeout time.Duration) hub.Transport {
	return &conn{Conn: c, writeTimeout: writeTimeout}
}
