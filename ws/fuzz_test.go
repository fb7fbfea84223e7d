package ws

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// FuzzReader feeds arbitrary bytes to a reader as a client's byte stream:
// it must never panic, never deliver a message over maxMessage, never a text
// message that is not UTF-8, and never a ping a control frame can't carry.
//
//	go test -fuzz=FuzzReader -fuzztime=30s ./ws/
func FuzzReader(f *testing.F) {
	seeds := [][][]byte{
		{cf(true, ws.OpText, `{"type":"ping"}`)},
		{cf(true, ws.OpBinary, "\x00\xff")},
		{cf(false, ws.OpText, "hé"[:2]), cf(true, ws.OpPing, "p"), cf(true, ws.OpContinuation, "hé"[2:])},
		{cf(true, ws.OpText, string(bytes.Repeat([]byte("x"), 200)))},
		{cf(false, ws.OpText, "ab"), cf(false, ws.OpContinuation, "cd"), cf(true, ws.OpContinuation, "ef")},
		{cf(true, ws.OpPing, "hello"), cf(true, ws.OpPong, ""), cf(true, ws.OpClose, closePayload(1000, "bye"))},
		{cf(true, ws.OpClose, "\x03")},
		{rawFrame(ws.Header{Fin: true, OpCode: ws.OpText}, []byte("unmasked"))},
		{cf(true, ws.OpText, "\xff\xfe")},
		{{0x81, 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}},
		{{0x81, 0x80 | 126, 0x00, 0x40, 1, 2, 3, 4}},
	}
	for _, s := range seeds {
		f.Add(bytes.Join(s, nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, data, false) })
}

// FuzzReaderDeflate is FuzzReader on a connection that negotiated
// permessage-deflate: compressed messages must obey the same limits once
// inflated.
//
//	go test -fuzz=FuzzReaderDeflate -fuzztime=30s ./ws/
func FuzzReaderDeflate(f *testing.F) {
	long := bytes.Repeat([]byte("ab"), 100)
	first, _ := wsflate.CompressFrame(ws.NewFrame(ws.OpText, true, long))
	seeds := [][][]byte{
		{ccf(f, true, ws.OpText, []byte(`{"type":"ping"}`))},
		{ccf(f, true, ws.OpBinary, make([]byte, 10_000))},
		{ccf(f, true, ws.OpText, long)},
		{rawFrame(ws.Header{OpCode: ws.OpText, Rsv: ws.Rsv(true, false, false), Masked: true, Mask: testMask}, first.Payload[:3]),
			cf(true, ws.OpPing, "p"), cf(true, ws.OpContinuation, string(first.Payload[3:]))},
		{cf(true, ws.OpText, "plain"), ccf(f, true, ws.OpText, []byte("h\xc3\xa9"))},
		{rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Rsv: ws.Rsv(true, false, false), Masked: true, Mask: testMask}, []byte{0xff, 0x00})},
	}
	for _, s := range seeds {
		f.Add(bytes.Join(s, nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, data, true) })
}

// fuzzReader reads data as a client's byte stream and checks what comes out.
func fuzzReader(t *testing.T, data []byte, deflate bool) {
	const maxMessage = 64
	h := handlers{
		message: func(op ws.OpCode, msg []byte) {
			if len(msg) > maxMessage {
				t.Fatalf("delivered %d bytes, over maxMessage %d", len(msg), maxMessage)
			}
			if op != ws.OpText && op != ws.OpBinary {
				t.Fatalf("delivered a message with opcode %v", op)
			}
			if op == ws.OpText && !utf8.Valid(msg) {
				t.Fatalf("delivered invalid UTF-8 %q", msg)
			}
		},
		ping: func(p []byte) {
			if len(p) > 125 {
				t.Fatalf("a %d-byte ping", len(p))
			}
		},
	}
	rd := &reader{
		r:          bytes.NewReader(data),
		maxMessage: maxMessage,
		deflate:    deflate,
	}
	// Every frame consumes at least two bytes, so this ends.
	for rd.next(h) == nil {
	}
}
