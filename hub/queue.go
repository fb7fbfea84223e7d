package hub

import (
	"net"
	"sync"
	"time"
)

// sendQueue is a connection's outgoing queue: frames wait here until the
// writer takes them all at once. It is capped in bytes so a client that stops
// reading costs bounded memory and never slows anyone else: the frame that
// would overflow it is dropped and the connection is closed as a slow
// consumer.
//
// No goroutine exists while the queue is empty. The first frame into an
// empty queue starts a writer, which drains everything queued into one
// vectored write per pass and exits when nothing is left, so an idle
// connection holds no writer goroutine and a busy one merges its frames.
//
// Broadcast frames are coalesced: a writer that wrote less than coalesce ago
// waits out the rest of that interval before writing a broadcast, so under
// heavy fan-out each connection costs at most one write per interval
// however many messages arrive, while a quiet room's message goes out at
// once. Replies to the connection's own requests (urgent frames) and closes
// never wait.
type sendQueue struct {
	transport Transport
	framer    Framer
	capBytes  int
	coalesce  time.Duration
	// onDone runs once, from the writer, after the transport is closed and
	// before finished is closed.
	onDone func(closeCode int)

	mu        sync.Mutex
	frames    net.Buffers
	bytes     int
	writing   bool // a writer goroutine owns the transport
	closing   bool // no more frames accepted; close after what is queued
	overflow  bool
	closeCode int
	done      bool
	finished  chan struct{} // closed when the transport is closed
	urgent    bool          // a queued frame must not wait for coalescing
	wake      chan struct{} // closed to cut a coalescing wait short; nil when none
	lastWrite time.Time     // the writer's last write; only the writer touches it
}

func newSendQueue(t Transport, f Framer, capBytes int, coalesce time.Duration, onDone func(int)) *sendQueue {
	return &sendQueue{transport: t, framer: f, capBytes: capBytes, coalesce: coalesce, onDone: onDone, finished: make(chan struct{})}
}

// push queues one broadcast frame, which may wait to be coalesced; it never
// blocks. It reports false when the frame was refused because the queue is
// closing or just overflowed.
func (q *sendQueue) push(frame []byte) bool {
	return q.pushFrame(frame, false)
}

// pushUrgent queues a reply that goes out without coalescing, taking
// whatever else is queued along.
func (q *sendQueue) pushUrgent(frame []byte) bool {
	return q.pushFrame(frame, true)
}

func (q *sendQueue) pushFrame(frame []byte, urgent bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return false
	}
	if q.bytes+len(frame) > q.capBytes {
		q.overflow = true
		q.closeLocked(closeSlowConsumer, "outgoing queue full")
		return false
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	if urgent {
		q.hurryLocked()
	}
	q.startLocked()
	return true
}

// hurryLocked makes the writer write what is queued without waiting.
func (q *sendQueue) hurryLocked() {
	q.urgent = true
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

// pushControl queues a control frame (a ping, a pong). It counts against the
// cap, since a peer gets one pong per ping it sends, but one that doesn't fit
// is dropped rather than closing the connection: RFC 6455 lets a pong answer
// only the latest ping, and a peer that isn't reading will overflow on the
// next data frame anyway.
func (q *sendQueue) pushControl(frame []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing || q.bytes+len(frame) > q.capBytes {
		return
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	q.hurryLocked()
	q.startLocked()
}

// close stops accepting frames, writes what is queued followed by a close
// frame, then closes the transport. The first call decides the code.
func (q *sendQueue) close(code int, reason string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closeLocked(code, reason)
}

func (q *sendQueue) closeLocked(code int, reason string) {
	if q.closing {
		return
	}
	q.closing = true
	q.closeCode = code
	if q.overflow {
		// The peer isn't reading; what is queued would only delay the close
		// frame, and it resumes from its last seq anyway.
		q.frames, q.bytes = nil, 0
	}
	if code != closeNone {
		q.frames = append(q.frames, q.framer.Close(code, reason))
	}
	q.hurryLocked()
	q.startLocked()
}

// abort closes the transport at once, without a close frame; used when the
// peer is known to be gone.
func (q *sendQueue) abort() {
	q.mu.Lock()
	q.closing = true
	q.frames, q.bytes = nil, 0
	q.hurryLocked()
	q.mu.Unlock()
	q.transport.Close()
	q.mu.Lock()
	q.startLocked() // a writer that is running will notice and finish
	q.mu.Unlock()
}

func (q *sendQueue) startLocked() {
	if q.writing || q.done {
		return
	}
	q.writing = true
	go q.write()
}

// write is the writer goroutine: it owns the transport while writing is true.
func (q *sendQueue) write() {
	for {
		q.mu.Lock()
		q.waitLocked()
		frames, closing := q.frames, q.closing
		q.urgent = false
		q.frames, q.bytes = nil, 0
		if len(frames) == 0 {
			if !closing {
				q.writing = false
				q.mu.Unlock()
				return
			}
			q.finishLocked()
			return
		}
		q.mu.Unlock()

		q.lastWrite = time.Now()
		if err := q.transport.Write(frames); err != nil {
			q.mu.Lock()
			q.closing = true
			q.frames, q.bytes = nil, 0
			q.finishLocked()
			return
		}
	}
}

// waitLocked holds back a broadcast until coalesce has passed since the
// last write, unless something urgent is queued or arrives meanwhile. It is
// called by the writer with q.mu held, and returns with it held.
func (q *sendQueue) waitLocked() {
	if q.urgent || q.closing || len(q.frames) == 0 || q.coalesce <= 0 {
		return
	}
	wait := q.coalesce - time.Since(q.lastWrite)
	if wait <= 0 {
		return
	}
	wake := make(chan struct{})
	q.wake = wake
	q.mu.Unlock()
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-wake:
		t.Stop()
	}
	q.mu.Lock()
	if q.wake == wake {
		q.wake = nil
	}
}

// finishLocked closes the transport and reports the end; called by the
// writer with q.mu held, which it releases.
func (q *sendQueue) finishLocked() {
	q.done = true
	q.writing = false
	code := q.closeCode
	q.mu.Unlock()
	q.transport.Close()
	if q.onDone != nil {
		q.onDone(code)
	}
	close(q.finished)
}
