package hub

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley"
)

// directSink is a sink that also writes without blocking, taking at most
// budget bytes per TryWrite (all of them when budget is negative). What it
// takes is recorded as one write, like Write's.
type directSink struct {
	*sink
	budget int
	tries  chan int // the bytes each TryWrite was offered
}

func newDirectSink(budget int) *directSink {
	return &directSink{sink: newSink(), budget: budget, tries: make(chan int, 1<<10)}
}

func (d *directSink) TryWrite(bufs [][]byte) (int, error) {
	if d.isClosed() {
		return 0, errSinkClosed
	}
	all := bytes.Join(bufs, nil)
	d.tries <- len(all)
	if d.budget >= 0 && len(all) > d.budget {
		all = all[:d.budget]
	}
	if len(all) > 0 {
		d.writes <- [][]byte{all}
	}
	return len(all), nil
}

// readBytes reads writes until n bytes came and returns them joined.
func (s *sink) readBytes(tb testing.TB, n int) string {
	tb.Helper()
	var got []byte
	for len(got) < n {
		got = append(got, bytes.Join(s.nextWrite(tb), nil)...)
	}
	return string(got)
}

func (q *sendQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.writing && len(q.frames) == 0
}

// TestSendWritesDirectly: on an idle queue send writes from the caller, so
// when it returns the frames are written and no writer runs.
func TestSendWritesDirectly(t *testing.T) {
	snk := newDirectSink(-1)
	q := newSendQueue(snk, rawFramer{}, 1<<10, nil)
	q.send([][]byte{[]byte("m1"), []byte("m2")})
	if !q.idle() {
		t.Fatal("a writer is busy after a send the socket took whole")
	}
	if got := writeStrings(snk.nextWrite(t)); !slices.Equal(got, []string{"m1m2"}) {
		t.Fatalf("wrote %q, want m1m2 in one write", got)
	}
	if n := <-snk.tries; n != 4 {
		t.Fatalf("TryWrite was offered %d bytes, want 4", n)
	}
}

// TestControlWritesDirectly: a ping or pong on an idle queue is written by
// the caller, so a heartbeat round starts no writer goroutines; behind a
// busy writer it queues in order.
func TestControlWritesDirectly(t *testing.T) {
	snk := newDirectSink(-1)
	q := newSendQueue(snk, rawFramer{}, 1<<10, nil)
	q.pushControl([]byte("ping"))
	select {
	case n := <-snk.tries:
		if n != 4 {
			t.Fatalf("TryWrite was offered %d bytes, want the 4 of the ping", n)
		}
	default:
		t.Fatal("the ping was not written by the caller")
	}
	if !q.idle() {
		t.Fatal("a writer is busy after a ping the socket took")
	}
	expectWrite(t, snk.sink, "ping")

	snk.block()
	q.push([]byte("first"))
	snk.awaitWaiting(t)
	q.pushControl([]byte("pong"))
	snk.unblock()
	expectWrite(t, snk.sink, "first")
	expectWrite(t, snk.sink, "pong")
}

// TestSendQueuesTheRest: what the socket doesn't take at once goes to the
// writer, in order, and a later send writes directly again.
func TestSendQueuesTheRest(t *testing.T) {
	snk := newDirectSink(3)
	q := newSendQueue(snk, rawFramer{}, 1<<10, nil)
	q.send([][]byte{[]byte("hello"), []byte("world")})
	if got := snk.readBytes(t, 10); got != "helloworld" {
		t.Fatalf("read %q, want helloworld", got)
	}
	deadline := time.Now().Add(waitFor)
	for !q.idle() {
		if time.Now().After(deadline) {
			t.Fatal("the writer never finished")
		}
		time.Sleep(time.Millisecond)
	}
	q.send([][]byte{[]byte("abc")})
	if got := snk.readBytes(t, 3); got != "abc" {
		t.Fatalf("read %q, want abc", got)
	}
	if !q.idle() {
		t.Fatal("a send that fit left a writer running")
	}
}

// TestSendBehindBusyWriter: while the writer holds the transport, a send
// queues behind it instead of writing in between.
func TestSendBehindBusyWriter(t *testing.T) {
	snk := newDirectSink(-1)
	q := newSendQueue(snk, rawFramer{}, 1<<10, nil)
	snk.block()
	q.push([]byte("first"))
	snk.awaitWaiting(t)
	q.send([][]byte{[]byte("second")})
	select {
	case n := <-snk.tries:
		t.Fatalf("send wrote %d bytes directly while the writer was busy", n)
	default:
	}
	snk.unblock()
	expectWrite(t, snk.sink, "first")
	expectWrite(t, snk.sink, "second")
}

// TestSendOverflowCloses: a send over the cap closes the connection as a
// slow consumer, like push.
func TestSendOverflowCloses(t *testing.T) {
	snk := newDirectSink(0) // the socket takes nothing
	done := make(chan int, 1)
	q := newSendQueue(snk, rawFramer{}, 8, func(code int) { done <- code })
	snk.block()
	q.send([][]byte{[]byte("12345")})
	q.send([][]byte{[]byte("67890")})
	snk.unblock()
	if code := awaitDone(t, q, done); code != closeSlowConsumer {
		t.Fatalf("closed with %d, want %d", code, closeSlowConsumer)
	}
}

// TestRoomPassesMerge: messages that arrive while a pass runs (or, with
// Coalesce, within the interval) go to each member in one write; a message
// into a quiet room goes at once.
func TestRoomPassesMerge(t *testing.T) {
	const interval = 300 * time.Millisecond
	h, _ := newTestHub(t, Options{Coalesce: interval})
	s, snk := connect(t, h, user("alice"), ModeJSON)
	join(t, s, snk, "r", nil)

	h.Deliver(message("r", 1))
	if got := snk.nextWrite(t); len(got) != 1 || decodeFrame(t, got[0]).Seq != 1 {
		t.Fatalf("first write %q, want message 1 alone", got)
	}
	start := time.Now()
	h.Deliver(message("r", 2))
	h.Deliver(message("r", 3))
	got := snk.nextWrite(t)
	if len(got) != 2 || decodeFrame(t, got[0]).Seq != 2 || decodeFrame(t, got[1]).Seq != 3 {
		t.Fatalf("second write %q, want messages 2 and 3 in one write", got)
	}
	if d := time.Since(start); d < interval/2 {
		t.Errorf("the second pass came %v after the first, want about %v", d, interval)
	}
	time.Sleep(interval + 50*time.Millisecond)
	start = time.Now()
	h.Deliver(message("r", parley.Seq(4)))
	snk.nextWrite(t)
	if d := time.Since(start); d > interval/2 {
		t.Errorf("a message into a quiet room waited %v", d)
	}
}

// hookSink is a directSink that runs during once, inside its next TryWrite:
// something another goroutine does while a send is writing.
type hookSink struct {
	*directSink
	during func()
}

func (h *hookSink) TryWrite(bufs [][]byte) (int, error) {
	n, err := h.directSink.TryWrite(bufs)
	if f := h.during; f != nil {
		h.during = nil
		f()
	}
	return n, err
}

// TestCloseFinishesAStartedFrame: a close while a send has written part of
// a frame never puts the close frame (or anything else) inside that frame:
// the send's frames are written first, as anything queued before a close,
// or, when the peer has stopped reading, the connection is dropped without
// a close frame.
func TestCloseFinishesAStartedFrame(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capBytes int
		during   func(q *sendQueue)
		want     string
		code     int
	}{
		{"close", 1 << 10, func(q *sendQueue) { q.close(1001, "bye") }, "hello" + "world" + "close 1001 bye", 1001},
		{"overflow meanwhile", 4, func(q *sendQueue) { q.push([]byte("12345")) }, "hel", closeSlowConsumer},
		{"overflow by the rest", 1, nil, "hel", closeSlowConsumer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snk := &hookSink{directSink: newDirectSink(3)} // takes "hel" of "hello"
			done := make(chan int, 1)
			q := newSendQueue(snk, rawFramer{}, tc.capBytes, func(code int) { done <- code })
			if tc.during != nil {
				snk.during = func() { tc.during(q) }
			}
			q.send([][]byte{[]byte("hello"), []byte("world")})
			if tc.during == nil {
				q.close(1001, "bye") // too late: the overflow closed it
			}
			if code := awaitDone(t, q, done); code != tc.code {
				t.Fatalf("closed with %d, want %d", code, tc.code)
			}
			var got []byte
			for len(snk.writes) > 0 {
				got = append(got, bytes.Join(<-snk.writes, nil)...)
			}
			if string(got) != tc.want {
				t.Fatalf("the peer read %q, want %q", got, tc.want)
			}
		})
	}
}
