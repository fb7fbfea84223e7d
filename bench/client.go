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
	br     *bufio.Reader // the read side until an event loop takes it (unread)
	early  []byte        // bytes the handshake read past its response, read first
	rbuf   []byte
	ctl    [125]byte
	ending atomic.Bool // we are closing it; read errors are expected
	// polled: an event loop reads the socket and closes it when it ends
	// (takeFD); close and drop shut it down for the loop to see. Under
	// sockMu, which orders taking the descriptor against closing it.
	sockMu sync.Mutex
	polled bool
	// fragmented: a message's first frame was read and its last is to
	// come; compressed: that message is compressed. Owned by the read side.
	fragmented, compressed bool
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
	if len(r.c.early) > 0 {
		n := copy(p, r.c.early)
		r.c.early = r.c.early[n:]
		return n, nil
	}
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
	c.fragmented = false
	for {
		h, err := c.readHeader()
		if err != nil {
			return nil, err
		}
		if h.op >= opClose {
			if err := checkControl(h); err != nil {
				return nil, err
			}
			p := c.ctl[:h.n]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return nil, err
			}
			if err := c.control(h, p); err != nil {
				c.nc.Close()
				return nil, err
			}
			continue
		}
		if err := c.checkData(h); err != nil {
			return nil, err
		}
		start := len(c.rbuf)
		for left := h.n; left > 0; {
			chunk := int(min(left, 64<<10))
			l := len(c.rbuf)
			c.rbuf = slices.Grow(c.rbuf, chunk)[:l+chunk]
			if _, err := io.ReadFull(c.br, c.rbuf[l:]); err != nil {
				return nil, err
			}
			left -= int64(chunk)
		}
		if msg, done, err := c.endData(h, start); done || err != nil {
			return msg, err
		}
	}
}

// unread hands over what was read from the socket but not yet consumed,
// and drops the buffered reader: an event loop reads the socket from now on.
func (c *conn) unread() []byte {
	var p []byte
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		p = append(p, b...)
	}
	p = append(p, c.early...)
	c.br, c.early = nil, nil
	return p
}

// feed is the read side of a conn an event loop reads: it handles the
// frames at the start of p, calling handle with each message, and returns
// how many bytes it consumed; the rest is the start of a frame still on
// its way. handle's slice is valid until it returns. A close frame ends it
// with a *CloseError.
func (c *conn) feed(p []byte, handle func([]byte)) (int, error) {
	used := 0
	for {
		h, size := parseHeader(p[used:])
		if size == 0 {
			return used, nil
		}
		if h.op >= opClose {
			if err := checkControl(h); err != nil {
				return used, err
			}
		} else if h.n > maxMessage {
			return used, fmt.Errorf("the server sent a message over %d bytes", maxMessage)
		}
		end := used + size + int(h.n)
		if end > len(p) {
			return used, nil
		}
		payload := p[used+size : end]
		used = end
		if h.op >= opClose {
			if err := c.control(h, payload); err != nil {
				return used, err
			}
			continue
		}
		if err := c.checkData(h); err != nil {
			return used, err
		}
		if h.fin && h.op != opContinuation && !h.rsv1 {
			// A whole message in one frame: handled where it lies.
			c.fragmented = false
			if h.masked {
				ws.Cipher(payload, h.mask, 0)
			}
			handle(payload)
			continue
		}
		start := len(c.rbuf)
		c.rbuf = append(c.rbuf, payload...)
		msg, done, err := c.endData(h, start)
		if err != nil {
			return used, err
		}
		if done {
			handle(msg)
		}
	}
}

// frameHeader is a frame's header as the server sent it.
type frameHeader struct {
	fin, rsv1, masked bool
	op                byte
	n                 int64 // payload length
	mask              [4]byte
}

// headerSize is how long a header is, from its second byte.
func headerSize(b1 byte) int {
	size := 2
	switch b1 & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if b1&0x80 != 0 {
		size += 4
	}
	return size
}

// parseHeader decodes the header at the start of p; size is 0 while p
// holds only part of it.
func parseHeader(p []byte) (h frameHeader, size int) {
	if len(p) < 2 {
		return h, 0
	}
	if size = headerSize(p[1]); len(p) < size {
		return h, 0
	}
	b0, b1 := p[0], p[1]
	h = frameHeader{fin: b0&0x80 != 0, rsv1: b0&0x40 != 0, masked: b1&0x80 != 0, op: b0 & 0x0f, n: int64(b1 & 0x7f)}
	rest := p[2:size]
	switch h.n {
	case 126:
		h.n, rest = int64(binary.BigEndian.Uint16(rest)), rest[2:]
	case 127:
		h.n, rest = int64(binary.BigEndian.Uint64(rest)&(1<<63-1)), rest[8:]
	}
	if h.masked {
		copy(h.mask[:], rest)
	}
	return h, size
}

func (c *conn) readHeader() (frameHeader, error) {
	p, err := c.br.Peek(2)
	if err != nil {
		return frameHeader{}, err
	}
	if p, err = c.br.Peek(headerSize(p[1])); err != nil {
		return frameHeader{}, err
	}
	h, size := parseHeader(p)
	c.br.Discard(size)
	return h, nil
}

func checkControl(h frameHeader) error {
	if h.n > 125 || !h.fin {
		return errors.New("the server sent a malformed control frame")
	}
	return nil
}

// control handles a control frame with payload p (still masked if the
// header says so): a ping is answered, a close ends the connection with a
// *CloseError after echoing its code.
func (c *conn) control(h frameHeader, p []byte) error {
	if h.masked {
		ws.Cipher(p, h.mask, 0)
	}
	switch h.op {
	case opPing:
		return c.writeFrame(opPong, p)
	case opClose:
		ce := &CloseError{Code: 1005}
		if len(p) >= 2 {
			ce.Code = int(binary.BigEndian.Uint16(p))
			ce.Reason = string(p[2:])
		}
		c.writeFrame(opClose, p[:min(len(p), 2)]) // best effort: echo the code
		return ce
	}
	return nil
}

// checkData checks a data frame against the message it continues (or
// starts) and notes whether it is compressed.
func (c *conn) checkData(h frameHeader) error {
	if (h.op == opContinuation) != c.fragmented {
		return errors.New("the server sent a fragment out of order")
	}
	if !c.fragmented { // a message starts
		c.compressed = h.rsv1
		c.rbuf = c.rbuf[:0]
	}
	if h.rsv1 && (c.fragmented || !c.inflate) {
		return errors.New("the server set RSV1 where no extension allows it")
	}
	if int64(len(c.rbuf))+h.n > maxMessage {
		return fmt.Errorf("the server sent a message over %d bytes", maxMessage)
	}
	c.fragmented = true
	return nil
}

// endData finishes a data frame whose payload was appended to rbuf from
// start: it unmasks it and, on the message's last frame, returns the
// message (inflated if it was compressed).
func (c *conn) endData(h frameHeader, start int) (msg []byte, done bool, err error) {
	if h.masked {
		ws.Cipher(c.rbuf[start:], h.mask, 0)
	}
	if !h.fin {
		return nil, false, nil
	}
	c.fragmented = false
	if c.compressed {
		msg, err = c.inflateMessage()
		return msg, true, err
	}
	return c.rbuf, true, nil
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
	c.closeSocket()
}

// drop closes the socket without a close frame, as a lost network would.
func (c *conn) drop() {
	c.ending.Store(true)
	c.closeSocket()
}

// closeSocket closes the socket, or for a socket an event loop reads,
// shuts it down both ways: the peer sees the same FIN, and the loop reads
// the end and closes the descriptor itself, so its number is never reused
// under the loop's reads.
func (c *conn) closeSocket() {
	c.sockMu.Lock()
	defer c.sockMu.Unlock()
	if tc, ok := c.nc.(*net.TCPConn); ok && c.polled {
		tc.CloseRead()
		tc.CloseWrite()
		return
	}
	c.nc.Close()
}

// takeFD hands c's descriptor to an event loop, which reads it and closes
// c when it ends; false when c is not a plain TCP socket or is closed.
func (c *conn) takeFD() (int, bool) {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return -1, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, false
	}
	c.sockMu.Lock()
	defer c.sockMu.Unlock()
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return -1, false
	}
	c.polled = true
	return fd, true
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
	if br != nil && br.Buffered() > 0 {
		// Frames that came right behind the handshake.
		early, _ := br.Peek(br.Buffered())
		c.early = bytes.Clone(early)
	}
	c.br = bufio.NewReaderSize(stampedReader{c}, readBuf)
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
	case past(ctx):
		// The run's deadline passed, though its timer hasn't said so yet.
		return fmt.Errorf("connecting to %s: %w", u, context.DeadlineExceeded)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), isTimeout(err):
		return fmt.Errorf("%s did not complete the WebSocket handshake within %s", u, d.timeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%s closed the connection during the WebSocket handshake (is it a WebSocket endpoint?)", u)
	case errors.Is(err, ws.ErrHandshakeBadProtocol), errors.Is(err, ws.ErrHandshakeBadUpgrade),
		errors.Is(err, ws.ErrHandshakeBadConnection), errors.Is(err, ws.ErrHandshakeBadSecAccept):
		return fmt.Errorf("%s answered, but not with a WebSocket handshake (%v): is it a WebSocket endpoint?", u, err)
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
