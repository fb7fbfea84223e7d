//go:build !linux

package bench

// readLoop is Linux's epoll loop; elsewhere every connection of a group
// gets a goroutine of its own.
type readLoop struct{}

func (g *group) poll(*conn, func([]byte), chan struct{}) bool { return false }

func (*readLoop) windDown() {}
