package epoll

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestEventCarriesA64BitID(t *testing.T) {
	for _, id := range []uint64{0, 1, 1<<31 + 5, 1<<32 + 7, 1<<64 - 1} {
		if got := ID(Event(unix.EPOLLIN, id)); got != id {
			t.Errorf("ID(Event(%d)) = %d", id, got)
		}
	}
}

// TestLoopHandsOverReadinessAndStops: a pipe's readiness reaches handle
// with its id, again while it stays readable (level-triggered), and
// cancelling the context ends a loop that is waiting.
func TestLoopHandsOverReadinessAndStops(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	ev := Event(unix.EPOLLIN, 1<<40+3)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan uint64, 16)
	done := make(chan error, 1)
	go func() {
		done <- Loop(ctx, epfd, 8, func(events []unix.EpollEvent) {
			for _, ev := range events {
				select {
				case seen <- ID(ev):
				default:
				}
			}
			time.Sleep(time.Millisecond)
		})
	}()
	select {
	case id := <-seen:
		t.Fatalf("an event (id %d) before anything was written", id)
	case <-time.After(50 * time.Millisecond):
	}
	unix.Write(p[1], []byte("x"))
	for range 2 { // the data stays unread: the set reports it again
		select {
		case id := <-seen:
			if id != 1<<40+3 {
				t.Fatalf("event id %d, want %d", id, uint64(1<<40+3))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no event for a readable pipe")
		}
	}
	var b [8]byte
	unix.Read(p[0], b[:])
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Loop = %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Loop kept waiting after its context ended")
	}
}
