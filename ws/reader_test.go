package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/parleychat/parley/protocol"
)

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// rawFrame encodes a client frame with full control over its header.
func rawFrame(h ws.Header, payload []byte) []byte {
	h.Length = int64(len(payload))
	var b bytes.Buffer
	if err := ws.WriteHeader(&b, h); err != nil {
		panic(err)
	}
	p := append([]byte(nil), payload...)
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	b.Write(p)
	return b.Bytes()
}

// cf is a well-formed (masked) client frame.
func cf(fin bool, op ws.OpCode, payload string) []byte {
	return rawFrame(ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: testMask}, []byte(payload))
}

func closePayload(code uint16, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, code)) + reason
}

// handlers is a frameHandler made of funcs; nil ones do nothing.
type handlers struct {
	message  func(op ws.OpCode, data []byte)
	ping     func(payload []byte)
	activity func()
}

func (h handlers) onFrame() {
	if h.activity != nil {
		h.activity()
	}
}

func (h handlers) onPing(p []byte) {
	if h.ping != nil {
		h.ping(p)
	}
}

func (h handlers) onMessage(op ws.OpCode, data []byte) {
	if h.message != nil {
		h.message(op, data)
	}
}

type received struct {
	op   ws.OpCode
	data string
}

// readAll runs a reader over the concatenated frames until it returns an
// error, and reports what it delivered.
func readAll(maxMessage int, frames ...[]byte) (msgs []received, pings []string, err error) {
	h := handlers{
		message: func(op ws.OpCode, data []byte) { msgs = append(msgs, received{op, string(data)}) },
		ping:    func(p []byte) { pings = append(pings, string(p)) },
	}
	rd := &reader{
		r:          bytes.NewReader(bytes.Join(frames, nil)),
		maxMessage: maxMessage,
	}
	for err == nil {
		err = rd.next(h)
	}
	return msgs, pings, err
}

// closeCode returns the code a reader error closes the connection with: the
// protocol-error code for a *closeError, the echo for a *peerClosed, -1 for
// anything else.
func closeCode(err error) int {
	var ce *closeError
	var pc *peerClosed
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.As(err, &pc):
		return pc.echo
	}
	return -1
}

func TestReaderDelivers(t *testing.T) {
	msgs, _, err := readAll(100,
		cf(true, ws.OpText, `{"type":"ping"}`),
		cf(true, ws.OpText, ""),
		cf(true, ws.OpBinary, "\xff\x00"),
	)
	if err != io.EOF {
		t.Fatalf("err %v, want io.EOF", err)
	}
	want := []received{{ws.OpText, `{"type":"ping"}`}, {ws.OpText, ""}, {ws.OpBinary, "\xff\x00"}}
	if len(msgs) != len(want) {
		t.Fatalf("got %q, want %q", msgs, want)
	}
	for i := range want {
		if msgs[i] != want[i] {
			t.Fatalf("message %d: got %q, want %q", i, msgs[i], want[i])
		}
	}
}

func TestReaderReassemblesFragments(t *testing.T) {
	msgs, pings, err := readAll(100,
		cf(false, ws.OpText, "hel"),
		cf(false, ws.OpContinuation, ""),
		cf(true, ws.OpPing, "in between"), // control frames may interleave
		cf(false, ws.OpContinuation, "lo, "),
		cf(true, ws.OpContinuation, "world"),
		cf(true, ws.OpText, "next"),
	)
	if err != io.EOF {
		t.Fatalf("err %v, want io.EOF", err)
	}
	if len(msgs) != 2 || msgs[0].data != "hello, world" || msgs[1].data != "next" {
		t.Fatalf("got %q, want hello, world then next", msgs)
	}
	if len(pings) != 1 || pings[0] != "in between" {
		t.Fatalf("pings %q", pings)
	}
}

func TestReaderAnswersPings(t *testing.T) {
	_, pings, err := readAll(100, cf(true, ws.OpPing, ""), cf(true, ws.OpPong, "ignored"), cf(true, ws.OpPing, strings.Repeat("p", 125)))
	if err != io.EOF {
		t.Fatalf("err %v, want io.EOF", err)
	}
	if len(pings) != 2 || pings[0] != "" || pings[1] != strings.Repeat("p", 125) {
		t.Fatalf("pings %q", pings)
	}
}

func TestReaderRunsActivityPerFrame(t *testing.T) {
	n := 0
	h := handlers{message: func(ws.OpCode, []byte) {}, ping: func([]byte) {}, activity: func() { n++ }}
	rd := &reader{
		r:          bytes.NewReader(bytes.Join([][]byte{cf(true, ws.OpPing, ""), cf(false, ws.OpText, "a"), cf(true, ws.OpContinuation, "b")}, nil)),
		maxMessage: 10,
	}
	for rd.next(h) == nil {
	}
	if n != 3 {
		t.Fatalf("activity ran %d times for 3 frames", n)
	}
}

func TestReaderRefuses(t *testing.T) {
	const max = 16
	valid := "héllo" // é is c3 a9
	for _, tc := range []struct {
		name   string
		frames [][]byte
		code   int
	}{
		{"unmasked", [][]byte{rawFrame(ws.Header{Fin: true, OpCode: ws.OpText}, []byte("hi"))}, protocol.CloseProtocolError},
		{"unmasked control", [][]byte{rawFrame(ws.Header{Fin: true, OpCode: ws.OpPing}, nil)}, protocol.CloseProtocolError},
		{"continuation without start", [][]byte{cf(true, ws.OpContinuation, "x")}, protocol.CloseProtocolError},
		{"new message inside a fragmented one", [][]byte{cf(false, ws.OpText, "a"), cf(true, ws.OpText, "b")}, protocol.CloseProtocolError},
		{"fragmented control frame", [][]byte{cf(false, ws.OpPing, "")}, protocol.CloseProtocolError},
		{"control frame over 125 bytes", [][]byte{cf(true, ws.OpPing, strings.Repeat("p", 126))}, protocol.CloseProtocolError},
		{"close frame over 125 bytes", [][]byte{cf(true, ws.OpClose, closePayload(1000, strings.Repeat("r", 124)))}, protocol.CloseProtocolError},
		{"reserved data opcode", [][]byte{cf(true, ws.OpCode(0x3), "x")}, protocol.CloseProtocolError},
		{"reserved control opcode", [][]byte{cf(true, ws.OpCode(0xb), "")}, protocol.CloseProtocolError},
		{"rsv1", [][]byte{rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: testMask, Rsv: ws.Rsv(true, false, false)}, []byte("x"))}, protocol.CloseProtocolError},
		{"rsv3", [][]byte{rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: testMask, Rsv: ws.Rsv(false, false, true)}, []byte("x"))}, protocol.CloseProtocolError},
		{"over max in one frame", [][]byte{cf(true, ws.OpText, strings.Repeat("x", max+1))}, protocol.CloseTooBig},
		{"over max across fragments", [][]byte{cf(false, ws.OpText, strings.Repeat("x", max)), cf(true, ws.OpContinuation, "x")}, protocol.CloseTooBig},
		{"over max binary", [][]byte{cf(true, ws.OpBinary, strings.Repeat("x", max+1))}, protocol.CloseTooBig},
		{"invalid UTF-8", [][]byte{cf(true, ws.OpText, "\xff")}, protocol.CloseInvalidData},
		{"truncated rune", [][]byte{cf(true, ws.OpText, valid[:2])}, protocol.CloseInvalidData},
		{"invalid UTF-8 across fragments", [][]byte{cf(false, ws.OpText, "ok"), cf(true, ws.OpContinuation, "\xc3")}, protocol.CloseInvalidData},
		{"surrogate", [][]byte{cf(true, ws.OpText, "\xed\xa0\x80")}, protocol.CloseInvalidData},
		{"close with 1-byte payload", [][]byte{cf(true, ws.OpClose, "\x03")}, protocol.CloseProtocolError},
		{"close 999", [][]byte{cf(true, ws.OpClose, closePayload(999, ""))}, protocol.CloseProtocolError},
		{"close 1004", [][]byte{cf(true, ws.OpClose, closePayload(1004, ""))}, protocol.CloseProtocolError},
		{"close 1005", [][]byte{cf(true, ws.OpClose, closePayload(1005, ""))}, protocol.CloseProtocolError},
		{"close 1006", [][]byte{cf(true, ws.OpClose, closePayload(1006, ""))}, protocol.CloseProtocolError},
		{"close 1015", [][]byte{cf(true, ws.OpClose, closePayload(1015, ""))}, protocol.CloseProtocolError},
		{"close 2000", [][]byte{cf(true, ws.OpClose, closePayload(2000, ""))}, protocol.CloseProtocolError},
		{"close 5000", [][]byte{cf(true, ws.OpClose, closePayload(5000, ""))}, protocol.CloseProtocolError},
		{"close 65535", [][]byte{cf(true, ws.OpClose, closePayload(65535, ""))}, protocol.CloseProtocolError},
		{"close with invalid UTF-8 reason", [][]byte{cf(true, ws.OpClose, closePayload(1000, "bad \xff"))}, protocol.CloseInvalidData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, _, err := readAll(max, tc.frames...)
			var ce *closeError
			if !errors.As(err, &ce) || ce.code != tc.code {
				t.Fatalf("err %v, want a close error with code %d", err, tc.code)
			}
			if len(msgs) != 0 {
				t.Fatalf("delivered %q", msgs)
			}
		})
	}
}

func TestReaderAccepts(t *testing.T) {
	const max = 16
	valid := "héllo" // é is c3 a9
	for _, tc := range []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"exactly max in one frame", [][]byte{cf(true, ws.OpText, strings.Repeat("x", max))}, strings.Repeat("x", max)},
		{"exactly max across fragments", [][]byte{cf(false, ws.OpText, strings.Repeat("x", max-1)), cf(true, ws.OpContinuation, "x")}, strings.Repeat("x", max)},
		// Each fragment alone is invalid UTF-8; the message is valid.
		{"rune split across fragments", [][]byte{cf(false, ws.OpText, valid[:2]), cf(true, ws.OpContinuation, valid[2:])}, valid},
		{"rune split three ways", [][]byte{cf(false, ws.OpText, "\xf0\x9f"), cf(false, ws.OpContinuation, "\x98"), cf(true, ws.OpContinuation, "\x80")}, "😀"},
		// A control frame between fragments doesn't count toward the message.
		{"ping inside a message near max", [][]byte{cf(false, ws.OpText, strings.Repeat("x", max-1)), cf(true, ws.OpPing, strings.Repeat("p", max)), cf(true, ws.OpContinuation, "x")}, strings.Repeat("x", max)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, _, err := readAll(max, tc.frames...)
			if err != io.EOF {
				t.Fatalf("err %v, want io.EOF", err)
			}
			if len(msgs) != 1 || msgs[0].data != tc.want {
				t.Fatalf("got %q, want %q", msgs, tc.want)
			}
		})
	}
}

func TestReaderCloseEcho(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		echo    int
	}{
		{"empty", "", 1000},
		{"1000", closePayload(1000, ""), 1000},
		{"1001 with reason", closePayload(1001, "bye"), 1001},
		{"1011", closePayload(1011, ""), 1011},
		{"3000", closePayload(3000, ""), 3000},
		{"4999 with UTF-8 reason", closePayload(4999, "tschüß"), 4999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(100, cf(true, ws.OpClose, tc.payload), cf(true, ws.OpText, "after"))
			var pc *peerClosed
			if !errors.As(err, &pc) || pc.echo != tc.echo {
				t.Fatalf("err %v, want the peer closing with echo %d", err, tc.echo)
			}
		})
	}
}

func TestReaderConnectionErrors(t *testing.T) {
	full := cf(true, ws.OpText, "hello")
	for _, n := range []int{1, 3, len(full) - 1} {
		_, _, err := readAll(100, full[:n])
		if !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
			t.Fatalf("%d of %d bytes: err %v, want an EOF", n, len(full), err)
		}
		if closeCode(err) != -1 {
			t.Fatalf("%d of %d bytes: a truncated stream is a failed connection, not %v", n, len(full), err)
		}
	}
	// A 64-bit length with its most significant bit set.
	huge := []byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}
	if _, _, err := readAll(100, huge); err == nil {
		t.Fatal("no error for a length with the MSB set")
	}
}
