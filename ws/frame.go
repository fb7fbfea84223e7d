package ws

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Framer frames the hub's payloads as unmasked server frames.
type Framer struct{}

// Text returns payload as one complete text frame, header and payload in a
// single fresh slice so it goes to every recipient as is. With compress set
// (for connections that negotiated permessage-deflate) a payload of
// minDeflate bytes or more is compressed, when that makes it smaller.
func (Framer) Text(payload []byte, compress bool) []byte {
	return message(ws.OpText, payload, compress)
}

// Binary returns payload as one binary frame.
func (Framer) Binary(payload []byte) []byte { return frame(ws.OpBinary, payload) }

// Ping returns a ping frame with no payload.
func (Framer) Ping() []byte { return frame(ws.OpPing, nil) }

// Pong returns the pong answering a ping with payload.
func (Framer) Pong(payload []byte) []byte { return frame(ws.OpPong, payload) }

// Close returns a close frame with code and reason (cut to fit the 125-byte
// control frame limit).
func (Framer) Close(code int, reason string) []byte {
	if len(reason) > 123 {
		// Cut at a rune boundary: a reason that isn't UTF-8 makes the client
		// fail the connection instead of closing it.
		n := 123
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return frame(ws.OpClose, append(payload, reason...))
}

// message frames a data message, compressed when compress is set and it
// pays.
func message(op ws.OpCode, payload []byte, compress bool) []byte {
	if compress && len(payload) >= minDeflate {
		if b := deflateFrame(op, payload); b != nil {
			return b
		}
	}
	return frame(op, payload)
}

func frame(op ws.OpCode, payload []byte) []byte {
	return appendFrame(make([]byte, 0, len(payload)+10), 0x80|byte(op), payload)
}

// appendFrame appends a frame with first byte b0 (FIN, RSV bits, opcode)
// and payload to b.
func appendFrame(b []byte, b0 byte, payload []byte) []byte {
	n := len(payload)
	b = append(b, b0)
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}
