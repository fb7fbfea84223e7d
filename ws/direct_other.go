//go:build !linux

package ws

import "github.com/parleychat/parley/hub"

// transport is c as the hub's Transport; non-blocking writes are
// Linux-only.
func (c *conn) transport() hub.Transport { return c }
