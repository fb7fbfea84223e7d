package hub

import (
	"net"
	"strconv"
)

// Transport is a connection as the hub sees it.
type Transport interface {
	// Write writes bufs to the peer, ideally in one system call, within the
	// transport's own write deadline. The hub calls it from one goroutine at
	// a time and never modifies the buffers' bytes, which other connections
	// share. An error means the connection is dead.
	Write(bufs net.Buffers) error
	// Close closes the connection at once; any blocked Write or read fails.
	// Safe to call more than once and concurrently with Write.
	Close() error
}

// NonblockingWriter is a Transport that can also write without blocking.
// The hub uses it to write a fan-out straight from the goroutine that
// makes it, with no writer goroutine, while the peer keeps up.
type NonblockingWriter interface {
	// TryWrite writes as much of bufs as the connection takes at once and
	// returns how many bytes that was; it never waits. An error means the
	// connection is dead. Like Write, it never modifies the bytes.
	TryWrite(bufs [][]byte) (int, error)
}

// Framer turns payloads into bytes ready for the wire. A payload is framed
// once per broadcast and the result shared by every recipient, so the
// framer must return a fresh slice that it never touches again.
type Framer interface {
	// Text frames payload as one text message. With compress set (asked
	// only for connections that negotiated compression) the framer may
	// compress it; the hub builds at most one compressed and one plain
	// frame of each broadcast.
	Text(payload []byte, compress bool) []byte
	Ping() []byte
	Close(code int, reason string) []byte
}

// rawFramer leaves payloads as they are; tests use it to read what the hub
// sends without a WebSocket in between.
type rawFramer struct{}

func (rawFramer) Text(p []byte, _ bool) []byte { return append([]byte(nil), p...) }
func (rawFramer) Ping() []byte                 { return []byte("ping") }
func (rawFramer) Close(code int, reason string) []byte {
	return []byte("close " + strconv.Itoa(code) + " " + reason)
}
