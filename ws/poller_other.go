//go:build !linux

package ws

import (
	"context"
	"errors"
	"log/slog"
	"syscall"
)

// poller is Linux-only; elsewhere every connection keeps a read goroutine.
type poller struct{}

func newPoller(*slog.Logger) (*poller, error) {
	return nil, errors.New("ws: the event loop needs Linux")
}

func (*poller) add(*conn) error           { return errors.New("ws: no event loop") }
func (*poller) forget(*conn)              {}
func (*poller) detach(*conn) error        { return nil }
func (*poller) size() int                 { return 0 }
func (*poller) run(context.Context) error { return nil }

func pending(syscall.RawConn) bool { return false }
