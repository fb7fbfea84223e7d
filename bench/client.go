package bench

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// Frame opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

const (
	// maxMessage bounds one message from the server (a history page of 200
	// long messages is well under it); the buffer grows only as bytes arrive.
	maxMessage = 16 << 20
	// writeTimeout bounds every write; a server that takes no bytes for this
	// long is stuck.
	writeTimeout = 10 * time.Second
)

// conn is one client WebSocket. Its read side (next) belongs to one
// goroutine at a time; writes are safe for concurrent use.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	rbuf   []byte
	ctl    [125]byte
	ending atomic.Bool // we are closing it; read errors are expected
	// inflate: permessage-deflate was negotiated; messages with RSV1 are
	// inflated into zbuf.
	inflate bool
	zbuf    []byte

	// readAt is when the last read from the socket returned bytes: the
	// time every frame completed by those bytes arrived. One clock reading
	// per read, not per frame: at a million deliveries a second, a reading
	// per frame was a tenth of the bench's CPU. Owned by the read side.
	readAt time.Time

	wmu  sync.Mutex
	wbuf []byte
	rnd  uint64 // mask generator state, under wmu
}

// stampedReader reads c's socket and notes when bytes came (conn.readAt).
type stampedReader struct{ c *conn }

func (r stampedReader) Read(p []byte) (int, error) {
	n, err := r.c.nc.Read(p)
	if n > 0 {
		r.c.readAt = time.Now()
	}
	return n, err
}

// CloseError is how the server ended a connection: its close frame's code
// and reason.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	s := fmt.Sprintf("the server closed the connection with code %d", e.Code)
	if name := closeNames[e.Code]; name != "" {
		s += " (" + name + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

var closeNames = map[int]string{
	1000: "normal", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
	1005: "no code", 1007: "invalid UTF-8", 1008: "policy violation", 1009: "too big",
	1011: "internal error", 4000: "heartbeat", 4001: "token expired", 4008: "slow consumer",
	4029: "rate limited",
}

// next returns the next text or binary message, answering pings on the
// way. The slice is valid until the next call. When the server closes the
// connection the error is a *CloseError.
func (c *conn) next() ([]byte, error) {
	c.rbuf = c.rbuf[:0]
	started, compressed := false, false
	for {
		fin, op, rsv1, masked, n, mask, err := c.readHeader()
		if err != nil {
			return nil, err
		}
		if op >= opClose {
			if n > 125 || !fin {
				return nil, errors.New("the server sent a malformed control frame")
			}
			p := c.ctl[:n]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return nil, err
			}
			if masked {
				ws.Cipher(p, mask, 0)
			}
			switch op {
			case opPing:
				if err := c.writeFrame(opPong, p); err != nil {
					return nil, err
				}
			case opClose:
				ce := &CloseError{Code: 1005}
				if len(p) >= 2 {
					ce.Code = int(binary.BigEndian.Uint16(p))
					ce.Reason = string(p[2:])
				}
				c.writeFrame(opClose, p[:min(len(p), 2)]) // best effort: echo the code
				c.nc.Close()
				return nil, ce
			}
			continue
		}
		if (op == opContinuation) != started {
			return nil, errors.New("the server sent a fragment out of order")
		}
		if !started {
			compressed = rsv1
		}
		if rsv1 && (started || !c.inflate) {
			return nil, errors.New("the server set RSV1 where no extension allows it")
		}
		started = true
		if int64(len(c.rbuf))+n > maxMessage {
			return nil, fmt.Errorf("the server sent a message over %d bytes", maxMessage)
		}
		start := len(c.rbuf)
		for left := n; left > 0; {
			chunk := int(min(left, 64<<10))
			l := len(c.rbuf)
			c.rbuf = slices.Grow(c.rbuf, chunk)[:l+chunk]
			if _, err := io.ReadFull(c.br, c.rbuf[l:]); err != nil {
				return nil, err
			}
			left -= int64(chunk)
		}
		if masked {
			ws.Cipher(c.rbuf[start:], mask, 0)
		}
		if fin && compressed {
			return c.inflateMessage()
		}
		if fin {
			return c.rbuf, nil
		}
	}
}

func (c *conn) readHeader() (fin bool, op byte, rsv1, masked bool, n int64, mask [4]byte, err error) {
	b0, err := c.br.ReadByte()
	if err != nil {
		return
	}
	b1, err := c.br.ReadByte()
	if err != nil {
		return
	}
	fin, op, rsv1, masked, n = b0&0x80 != 0, b0&0x0f, b0&0x40 != 0, b1&0x80 != 0, int64(b1&0x7f)
	var ext []byte
	switch n {
	case 126:
		if ext, err = c.take(2); err != nil {
			return
		}
		n = int64(binary.BigEndian.Uint16(ext))
	case 127:
		if ext, err = c.take(8); err != nil {
			return
		}
		n = int64(binary.BigEndian.Uint64(ext) & (1<<63 - 1))
	}
	if masked {
		if ext, err = c.take(4); err != nil {
			return
		}
		copy(mask[:], ext)
	}
	return
}

// take returns the next k bytes of the stream (k ≤ the buffer size).
func (c *conn) take(k int) ([]byte, error) {
	p, err := c.br.Peek(k)
	if err != nil {
		return nil, err
	}
	c.br.Discard(k)
	return p, nil
}

// writeText sends one text message.
func (c *conn) writeText(p []byte) error { return c.writeFrame(opText, p) }

// writeFrame sends one masked frame, as a client must (RFC 6455 §5.3).
func (c *conn) writeFrame(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := append(c.wbuf[:0], 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	// xorshift64*: the mask only has to be unpredictable to proxies, not
	// secret; crypto/rand per frame would cost more than the frame.
	c.rnd ^= c.rnd >> 12
	c.rnd ^= c.rnd << 25
	c.rnd ^= c.rnd >> 27
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], uint32((c.rnd*2685821657736338717)>>32))
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, p...)
	ws.Cipher(b[start:], mask, 0)
	c.wbuf = b
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(b)
	return err
}

// close says goodbye (1000) and closes the socket.
func (c *conn) close() {
	c.ending.Store(true)
	c.writeFrame(opClose, []byte{0x03, 0xe8})
	c.nc.Close()
}

// drop closes the socket without a close frame, as a lost network would.
func (c *conn) drop() {
	c.ending.Store(true)
	c.nc.Close()
}

// dialer opens connections to the target in one dialect.
type dialer struct {
	target   *target
	protocol string // the subprotocol to offer; "" for text mode
	sources  []net.IP
	timeout  time.Duration
	seed     atomic.Uint64
	// compression offers permessage-deflate and requires it.
	compression bool
}

// dial opens connection number i (which picks its source address) with
// the query parameters q added to the target URL.
func (d *dialer) dial(ctx context.Context, i int, q url.Values, readBuf int) (*conn, error) {
	u := d.target.wsURL(q)
	nd := net.Dialer{Timeout: d.timeout}
	if len(d.sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: d.sources[i%len(d.sources)]}
	}
	var refusal string
	wd := ws.Dialer{
		Timeout:        d.timeout,
		ReadBufferSize: readBuf,
		NetDial:        nd.DialContext,
		OnStatusError: func(status int, reason []byte, resp io.Reader) {
			refusal = readRefusal(resp)
		},
	}
	if d.protocol != "" {
		wd.Protocols = []string{d.protocol}
	}
	if d.compression {
		wd.Extensions = []httphead.Option{wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}.Option()}
	}
	nc, br, hs, err := wd.Dial(ctx, u)
	if err != nil {
		return nil, d.explain(ctx, err, refusal)
	}
	if d.compression && len(hs.Extensions) == 0 {
		nc.Close()
		return nil, fmt.Errorf("%s declined permessage-deflate (--compression); start Parley with --compression, or drop the flag", d.target.display)
	}
	if d.protocol != "" && hs.Protocol != d.protocol {
		nc.Close()
		return nil, fmt.Errorf("%s accepted the WebSocket without the %s subprotocol: it does not speak it (for a server that broadcasts text frames use --proto text)", d.target.display, d.protocol)
	}
	c := &conn{nc: nc, rnd: d.seed.Add(0x9E3779B97F4A7C15) | 1, inflate: d.compression, readAt: time.Now()}
	var src io.Reader = stampedReader{c}
	if br != nil && br.Buffered() > 0 {
		// Frames that came right behind the handshake.
		early, _ := br.Peek(br.Buffered())
		src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), src)
	}
	c.br = bufio.NewReaderSize(src, readBuf)
	return c, nil
}

// explain turns a dial failure into a sentence naming the URL and the
// likely cause.
func (d *dialer) explain(ctx context.Context, err error, refusal string) error {
	u := d.target.display
	var status ws.StatusError
	switch {
	case errors.As(err, &status):
		msg := fmt.Sprintf("%s refused the WebSocket handshake with HTTP %d %s", u, int(status), http.StatusText(int(status)))
		if refusal != "" {
			msg += ": " + refusal
		}
		return errors.New(msg)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot connect to %s: connection refused (is the server running and listening there?)", u)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("connecting to %s: no local address or port left (EADDRNOTAVAIL); wait for TIME_WAIT sockets to expire or open fewer connections", u)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("connecting to %s: out of file descriptors: %w", u, err)
	case ctx.Err() != nil:
		return fmt.Errorf("connecting to %s: %w", u, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), isTimeout(err):
		return fmt.Errorf("%s did not complete the WebSocket handshake within %s", u, d.timeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%s closed the connection during the WebSocket handshake (is it a WebSocket endpoint?)", u)
	}
	return fmt.Errorf("connecting to %s: %w", u, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readRefusal reads the body of a refused handshake: Parley's
// {"code","message"} or the first line of whatever else it is.
func readRefusal(r io.Reader) string {
	resp, err := http.ReadResponse(bufio.NewReader(r), nil)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	var e struct{ Code, Message string }
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Code + ": " + e.Message
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	return line
}

// deflateTail ends a compressed message's deflate stream (RFC 7692 §7.2.2):
// the sync marker the server dropped, then an empty final block for EOF.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflaters are flate readers lent for one message; with no context
// takeover each message inflates on its own.
var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// inflated remembers the last messages inflated, by their compressed bytes.
// A broadcast reaches every receiving connection as the same bytes, so the
// bench inflates it once rather than once per connection: it shares the
// machine with the server, and inflating each delivery would measure the
// bench's core instead of the server (a real client inflates its own copy).
var inflated = struct {
	sync.Mutex
	m map[string][]byte
}{m: make(map[string][]byte)}

// inflatedCap bounds the cache (a few MB); it is emptied when full, and it
// holds several seconds of distinct messages at the highest rates measured,
// so receivers that fall behind still find theirs.
const inflatedCap = 1 << 14

// inflateMessage returns the compressed message in rbuf inflated; the slice
// is valid until the next call to next and must not be modified.
func (c *conn) inflateMessage() ([]byte, error) {
	inflated.Lock()
	out, ok := inflated.m[string(c.rbuf)]
	inflated.Unlock()
	if ok {
		return out, nil
	}
	out, err := c.decompress()
	if err != nil {
		return nil, err
	}
	inflated.Lock()
	if len(inflated.m) >= inflatedCap {
		clear(inflated.m)
	}
	inflated.m[string(c.rbuf)] = slices.Clone(out)
	inflated.Unlock()
	return out, nil
}

// decompress inflates the compressed message in rbuf into zbuf.
func (c *conn) decompress() ([]byte, error) {
	fr := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(fr)
	fr.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(c.rbuf), bytes.NewReader(deflateTail)), nil)
	c.zbuf = c.zbuf[:0]
	for {
		if len(c.zbuf) == cap(c.zbuf) {
			if len(c.zbuf) >= maxMessage {
				return nil, fmt.Errorf("the server sent a message over %d bytes once inflated", maxMessage)
			}
			c.zbuf = slices.Grow(c.zbuf, max(512, len(c.zbuf)))
		}
		n, err := fr.Read(c.zbuf[len(c.zbuf):cap(c.zbuf)])
		c.zbuf = c.zbuf[:len(c.zbuf)+n]
		if err == io.EOF {
			return c.zbuf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the server sent a compressed message that doesn't inflate: %w", err)
		}
	}
}
