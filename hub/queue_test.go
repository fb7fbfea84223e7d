package hub

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// newQueue returns a queue on a fresh sink with the raw framer; done
// receives the close code onDone reports.
func newQueue(capBytes int) (*sendQueue, *sink, chan int) {
	snk := newSink()
	done := make(chan int, 1)
	return newSendQueue(snk, rawFramer{}, capBytes, func(code int) { done <- code }), snk, done
}

func awaitDone(tb testing.TB, q *sendQueue, done chan int) int {
	tb.Helper()
	select {
	case <-q.finishedChan():
	case <-time.After(waitFor):
		tb.Fatal("the queue did not finish")
	}
	select {
	case code := <-done:
		return code
	default:
		tb.Fatal("finished closed before onDone ran")
		return 0
	}
}

func writeStrings(w [][]byte) []string {
	s := make([]string, len(w))
	for i, b := range w {
		s[i] = string(b)
	}
	return s
}

func expectWrite(tb testing.TB, snk *sink, want ...string) {
	tb.Helper()
	if got := writeStrings(snk.nextWrite(tb)); !slices.Equal(got, want) {
		tb.Fatalf("write %q, want %q", got, want)
	}
}

func TestQueueWritesInOrder(t *testing.T) {
	q, snk, _ := newQueue(1 << 10)
	want := []string{"a", "bb", "ccc", "dddd", "eeeee"}
	for _, f := range want {
		if !q.push([]byte(f)) {
			t.Fatalf("push %q refused", f)
		}
	}
	for _, f := range want {
		if got := string(snk.next(t)); got != f {
			t.Fatalf("got %q, want %q", got, f)
		}
	}
}

func TestQueueBatchesWhileWriterIsBusy(t *testing.T) {
	q, snk, _ := newQueue(1 << 10)
	snk.block()
	q.push([]byte("first"))
	snk.awaitWaiting(t) // the writer holds "first"; the rest queue up behind it
	q.push([]byte("second"))
	q.pushControl([]byte("ping"))
	q.push([]byte("third"))
	snk.unblock()
	expectWrite(t, snk, "first")
	expectWrite(t, snk, "second", "ping", "third")
}

func TestQueueOverflowClosesAsSlowConsumer(t *testing.T) {
	q, snk, done := newQueue(10)
	snk.block()
	q.push([]byte("0123456789")) // taken by the writer: in flight, not queued
	snk.awaitWaiting(t)
	if !q.push([]byte("abcdef")) {
		t.Fatal("6 bytes refused by an empty 10-byte queue")
	}
	if q.push([]byte("ghijk")) {
		t.Fatal("11 queued bytes accepted by a 10-byte queue")
	}
	if q.push([]byte("x")) {
		t.Fatal("a frame accepted after the queue overflowed")
	}
	q.pushControl([]byte("ping")) // ignored as well
	snk.unblock()
	expectWrite(t, snk, "0123456789")
	// What was queued is dropped: the close frame shouldn't wait behind it.
	expectWrite(t, snk, "close 4008 outgoing queue full")
	snk.awaitClosed(t)
	if code := awaitDone(t, q, done); code != closeSlowConsumer {
		t.Fatalf("onDone(%d), want %d", code, closeSlowConsumer)
	}
	snk.noMoreWrites(t)
}

// TestQueueControlFramesBounded: pongs answer the peer's pings, as many as
// it sends, so a peer that pings without reading must not grow the queue
// past its cap; extra control frames are dropped, never a reason to close.
func TestQueueControlFramesBounded(t *testing.T) {
	const capBytes = 1 << 10
	q, snk, _ := newQueue(capBytes)
	snk.block()
	q.push([]byte("in flight"))
	snk.awaitWaiting(t)
	pong := make([]byte, 127)
	for range 1000 {
		q.pushControl(pong)
	}
	if !q.push([]byte("x")) {
		// The queue holds 8 pongs (1016 bytes): one more byte fits.
		t.Fatal("a frame that fits refused after a ping flood")
	}
	snk.unblock()
	expectWrite(t, snk, "in flight")
	n := 0
	for _, b := range snk.nextWrite(t) {
		n += len(b)
	}
	if n > capBytes {
		t.Fatalf("wrote %d queued bytes, over the %d-byte cap", n, capBytes)
	}
	if snk.isClosed() {
		t.Fatal("control frames over the cap closed the connection")
	}
}

func TestQueueCloseWritesPendingThenClose(t *testing.T) {
	q, snk, done := newQueue(1 << 10)
	snk.block()
	q.push([]byte("a"))
	snk.awaitWaiting(t)
	q.push([]byte("b"))
	q.close(1000, "bye")
	q.close(1001, "second close") // the first code wins
	if q.push([]byte("c")) {
		t.Fatal("a frame accepted after close")
	}
	snk.unblock()
	expectWrite(t, snk, "a")
	expectWrite(t, snk, "b", "close 1000 bye")
	snk.awaitClosed(t)
	if code := awaitDone(t, q, done); code != 1000 {
		t.Fatalf("onDone(%d), want 1000", code)
	}
	snk.noMoreWrites(t)
}

func TestQueueCloseIdle(t *testing.T) {
	q, snk, done := newQueue(1 << 10)
	q.close(closeNone, "")
	snk.awaitClosed(t)
	if code := awaitDone(t, q, done); code != closeNone {
		t.Fatalf("onDone(%d), want %d", code, closeNone)
	}
	snk.noMoreWrites(t)
}

func TestQueueAbortClosesWithoutWriting(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		q, snk, done := newQueue(1 << 10)
		q.abort()
		snk.awaitClosed(t)
		awaitDone(t, q, done)
		snk.noMoreWrites(t)
	})
	t.Run("while writing", func(t *testing.T) {
		q, snk, done := newQueue(1 << 10)
		snk.block()
		q.push([]byte("a"))
		snk.awaitWaiting(t)
		q.push([]byte("b"))
		q.close(1000, "bye") // abort overrides a graceful close in progress
		q.abort()
		snk.awaitClosed(t)
		awaitDone(t, q, done)
		q.abort() // twice is fine
		if q.push([]byte("c")) {
			t.Fatal("a frame accepted after abort")
		}
		snk.noMoreWrites(t)
	})
}

func TestQueueWriteErrorFinishes(t *testing.T) {
	q, snk, done := newQueue(1 << 10)
	snk.Close()
	q.push([]byte("a"))
	if code := awaitDone(t, q, done); code != closeNone {
		t.Fatalf("onDone(%d) after a failed write, want %d", code, closeNone)
	}
	if q.push([]byte("b")) {
		t.Fatal("a frame accepted after the transport failed")
	}
}

// TestQueueWriterExits checks that no writer goroutine outlives the frames
// it writes, and none remains after close. Not parallel: it counts the
// process's goroutines.
func TestQueueWriterExits(t *testing.T) {
	baseline := runtime.NumGoroutine()
	q, snk, done := newQueue(1 << 20)
	for round := range 3 {
		for i := range 100 {
			q.push([]byte{byte(round), byte(i)})
		}
		for range 100 {
			snk.next(t)
		}
		awaitGoroutines(t, baseline)
	}
	q.push([]byte("last"))
	q.close(1000, "")
	awaitDone(t, q, done)
	awaitGoroutines(t, baseline)
}
