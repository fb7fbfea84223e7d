package hub

import (
	"net"
	"sync"
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
// send skips the queue when it can: if nothing is queued or being written
// and the transport can write without blocking, the caller writes the
// frames itself, and only what the socket doesn't take at once is queued
// for a writer. A room's fan-out pass thus costs one system call per
// member and no goroutine at all while the members keep up.
//
// There is one per connection, so it is kept small (112 bytes): the small
// fields sit together, and the finished channel is made only when asked for.
type sendQueue struct {
	transport Transport
	framer    Framer
	capBytes  int
	// onDone runs once, from the writer, after the transport is closed and
	// before finished is closed.
	onDone func(closeCode int)

	mu     sync.Mutex
	frames net.Buffers
	bytes  int
	// finished is closed once the transport is closed and onDone has run
	// (ended). It is made on first ask: most connections are never asked,
	// and a channel costs 96 bytes, which idle connections feel.
	finished  chan struct{}
	closeCode int32
	writing   bool // a writer (goroutine or send) owns the transport
	closing   bool // no more frames accepted; close after what is queued
	overflow  bool
	done      bool
	ended     bool
}

func newSendQueue(t Transport, f Framer, capBytes int, onDone func(int)) *sendQueue {
	return &sendQueue{transport: t, framer: f, capBytes: capBytes, onDone: onDone}
}

// push queues frames for the writer goroutine; it never blocks and never
// writes, so callers may hold locks. It reports false when the frames were
// refused because the queue is closing or just overflowed.
func (q *sendQueue) push(frames ...[]byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queueLocked(frames)
}

// queueLocked adds frames to the queue, if they fit, for the writer.
func (q *sendQueue) queueLocked(frames [][]byte) bool {
	if !q.admitLocked(frames) {
		return false
	}
	q.frames = append(q.frames, frames...)
	q.bytes += buffersLen(frames)
	q.startLocked()
	return true
}

// send delivers frames like push, but writes them at once from the calling
// goroutine when the queue is idle: a non-blocking write, so the caller
// (which must hold no lock) is never held up by a slow peer. The frames'
// bytes are never modified; many connections share them.
func (q *sendQueue) send(frames [][]byte) bool {
	q.mu.Lock()
	direct, ok := q.directLocked()
	if !ok {
		defer q.mu.Unlock()
		return q.queueLocked(frames)
	}
	// This goroutine owns the transport until it hands over to a writer or
	// gives it back; pushes meanwhile queue behind it.
	q.writing = true
	q.mu.Unlock()

	n, err := direct.TryWrite(frames)

	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		q.closing = true
		q.frames, q.bytes = nil, 0
		go q.write() // finishes: closes the transport and reports the end
		return true
	}
	// Only what the socket didn't take counts against the cap: a pass may
	// carry more than the cap to a client that reads it all at once.
	rest, cut := unwritten(frames, n)
	switch {
	case len(rest) == 0:
	case q.admitLocked(rest):
		q.frames = append(rest, q.frames...)
		q.bytes += buffersLen(rest)
	case cut && q.overflow:
		// The peer has part of a frame and isn't reading: a close frame
		// would land inside that frame, so the connection ends without one.
		q.frames, q.bytes = nil, 0
	case cut:
		// A close came while writing: the frame the peer has started must
		// end before anything else, the close frame included, or the peer
		// reads garbage; the rest follow it, as what was queued before a
		// close is written before the close frame.
		q.frames = append(rest, q.frames...)
		q.bytes += buffersLen(rest)
	}
	if len(q.frames) == 0 && !q.closing {
		q.writing = false
		return true
	}
	go q.write()
	return true
}

// admitLocked checks that frames may be queued, closing the connection as
// a slow consumer when they would overflow the cap.
func (q *sendQueue) admitLocked(frames [][]byte) bool {
	if q.closing {
		return false
	}
	if q.bytes+buffersLen(frames) > q.capBytes {
		q.overflow = true
		q.closeLocked(closeSlowConsumer, "outgoing queue full")
		return false
	}
	return true
}

// directLocked returns the transport for the caller to write to itself:
// when it can write without blocking and nothing is queued, being written
// or closing.
func (q *sendQueue) directLocked() (NonblockingWriter, bool) {
	direct, ok := q.transport.(NonblockingWriter)
	return direct, ok && !q.writing && !q.done && !q.closing && len(q.frames) == 0
}

// pushControl queues a control frame (a ping, a pong). It counts against the
// cap, since a peer gets one pong per ping it sends, but one that doesn't fit
// is dropped rather than closing the connection: RFC 6455 lets a pong answer
// only the latest ping, and a peer that isn't reading will overflow on the
// next data frame anyway.
//
// Like send, it writes at once when the queue is idle, so the caller must
// hold no lock: a heartbeat round over thousands of idle connections then
// starts no writer goroutines (each would leave the runtime a goroutine
// descriptor for good, and hold a stack while it ran).
func (q *sendQueue) pushControl(frame []byte) {
	q.mu.Lock()
	if q.closing || q.bytes+len(frame) > q.capBytes {
		q.mu.Unlock()
		return
	}
	if _, ok := q.directLocked(); ok {
		q.mu.Unlock()
		q.send([][]byte{frame})
		return
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	q.startLocked()
	q.mu.Unlock()
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
	q.closeCode = int32(code)
	if q.overflow {
		// The peer isn't reading; what is queued would only delay the close
		// frame, and it resumes from its last seq anyway.
		q.frames, q.bytes = nil, 0
	}
	if code != closeNone {
		q.frames = append(q.frames, q.framer.Close(code, reason))
	}
	q.startLocked()
}

// abort closes the transport at once, without a close frame; used when the
// peer is known to be gone.
func (q *sendQueue) abort() {
	q.mu.Lock()
	q.closing = true
	q.frames, q.bytes = nil, 0
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
		frames, closing := q.frames, q.closing
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

		if err := q.transport.Write(frames); err != nil {
			q.mu.Lock()
			q.closing = true
			q.frames, q.bytes = nil, 0
			q.finishLocked()
			return
		}
	}
}

// finishLocked closes the transport and reports the end; called by the
// writer with q.mu held, which it releases.
func (q *sendQueue) finishLocked() {
	q.done = true
	q.writing = false
	code := int(q.closeCode)
	q.mu.Unlock()
	q.transport.Close()
	if q.onDone != nil {
		q.onDone(code)
	}
	q.mu.Lock()
	q.ended = true
	if q.finished != nil {
		close(q.finished)
	}
	q.mu.Unlock()
}

// finishedChan returns a channel closed once the queue has finished.
func (q *sendQueue) finishedChan() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.finished == nil {
		q.finished = make(chan struct{})
		if q.ended {
			close(q.finished)
		}
	}
	return q.finished
}

func buffersLen(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return n
}

// unwritten returns what is left of frames after n bytes were written, in a
// new slice (frames itself may be shared), the first one cut where the write
// stopped; cut reports that the write stopped inside a frame.
func unwritten(frames [][]byte, n int) (rest [][]byte, cut bool) {
	for i, f := range frames {
		if n < len(f) {
			rest = make([][]byte, 0, len(frames)-i)
			rest = append(rest, f[n:])
			return append(rest, frames[i+1:]...), n > 0
		}
		n -= len(f)
	}
	return nil, false
}
