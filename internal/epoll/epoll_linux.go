package epoll

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Loop hands each batch of epfd's ready events (up to size) to handle
// until ctx ends. epfd stays the caller's.
//
// It waits through Go's own poller, which parks the goroutine and frees
// its processor, rather than in a blocking epoll_wait: a goroutine blocked
// in a system call keeps its processor until the runtime's monitor takes
// it back, which on a busy process can take up to 10ms, and with one
// processor everything made runnable meanwhile (a room's next pass, the
// store's writer) waits for that. An epoll set is itself pollable, so the
// runtime watches epfd and epoll_wait only ever runs with a zero timeout.
func Loop(ctx context.Context, epfd, size int, handle func([]unix.EpollEvent)) error {
	// A duplicate for the runtime to own and close.
	dup, err := unix.FcntlInt(uintptr(epfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("epoll: duplicating the set's descriptor: %w", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return fmt.Errorf("epoll: making the set's descriptor non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(dup), "epoll")
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("epoll: watching the set: %w", err)
	}
	// Wake the wait when ctx ends.
	defer context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })()
	events := make([]unix.EpollEvent, size)
	for ctx.Err() == nil {
		var n int
		var waitErr error
		err := raw.Read(func(fd uintptr) bool {
			n, waitErr = unix.EpollWait(int(fd), events, 0)
			return n > 0 || waitErr != nil
		})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue // ctx ended
		case err != nil:
			return fmt.Errorf("epoll: waiting: %w", err)
		case waitErr == unix.EINTR:
			continue
		case waitErr != nil:
			return fmt.Errorf("epoll: waiting: %w", waitErr)
		}
		handle(events[:n])
	}
	return nil
}

// Event registers events under a 64-bit id, kept in the event's data (Fd
// and Pad together); ID reads it back. An id, not a descriptor: a
// descriptor's number is reused once it is closed.
func Event(events uint32, id uint64) unix.EpollEvent {
	return unix.EpollEvent{Events: events, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

// ID is the id an event was registered under.
func ID(ev unix.EpollEvent) uint64 { return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32 }
