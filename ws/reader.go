package ws

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/parleychat/parley/protocol"
)

// closeError is a reason to close the connection with a code.
type closeError struct {
	code   int
	reason string
}

func (e *closeError) Error() string { return fmt.Sprintf("close %d: %s", e.code, e.reason) }

// errPeerClosed means the peer sent a close frame; echo is the code to
// answer with.
type peerClosed struct{ echo int }

func (e *peerClosed) Error() string { return fmt.Sprintf("peer closed (%d)", e.echo) }

// frameHandler receives what a reader reads.
type frameHandler interface {
	// onFrame runs for every frame, before it is read in full.
	onFrame()
	onPing(payload []byte)
	onMessage(op ws.OpCode, data []byte)
}

// reader reads client frames from one connection: it validates framing,
// unmasks, reassembles fragmented messages up to maxMessage bytes,
// decompresses them when the connection negotiated permessage-deflate,
// checks UTF-8 in text messages, and answers the protocol's control frames
// through a frameHandler. It is owned by the connection's read goroutine.
type reader struct {
	r          io.Reader
	maxMessage int
	// deflate: the client may send compressed messages (RSV1 on a
	// message's first frame).
	deflate bool

	fragOp         ws.OpCode // opcode of the message being reassembled, 0 if none
	fragCompressed bool
	frag           []byte
}

// next reads one frame and hands it to h. (The handler is an argument, not
// a field: every idle connection would carry it.) It returns a *closeError for a
// protocol violation, a *peerClosed when the peer closes, and the read error
// when the connection fails.
func (rd *reader) next(h frameHandler) error {
	hdr, err := ws.ReadHeader(rd.r)
	if err != nil {
		return err
	}
	h.onFrame()
	state := ws.StateServerSide
	if rd.fragOp != 0 {
		state |= ws.StateFragmented
	}
	if rd.deflate {
		state |= ws.StateExtended
	}
	if err := ws.CheckHeader(hdr, state); err != nil {
		return &closeError{protocol.CloseProtocolError, err.Error()}
	}
	// With permessage-deflate RSV1 marks a compressed message, on its first
	// frame only; every other RSV bit is still an error.
	compressed := hdr.Rsv1()
	if hdr.Rsv2() || hdr.Rsv3() || compressed && (hdr.OpCode.IsControl() || hdr.OpCode == ws.OpContinuation) {
		return &closeError{protocol.CloseProtocolError, "reserved bits set where no extension allows them"}
	}
	// Control frames (at most 125 bytes, checked above) may arrive between a
	// message's fragments and are no part of it.
	if !hdr.OpCode.IsControl() && (hdr.Length > int64(rd.maxMessage) || int64(len(rd.frag))+hdr.Length > int64(rd.maxMessage)) {
		return &closeError{protocol.CloseTooBig, fmt.Sprintf("message over %d bytes", rd.maxMessage)}
	}
	payload := make([]byte, hdr.Length)
	if _, err := io.ReadFull(rd.r, payload); err != nil {
		return err
	}
	ws.Cipher(payload, hdr.Mask, 0)

	switch hdr.OpCode {
	case ws.OpPing:
		h.onPing(payload)
		return nil
	case ws.OpPong:
		return nil
	case ws.OpClose:
		return closeFrom(payload)
	case ws.OpContinuation:
		rd.frag = append(rd.frag, payload...)
		if !hdr.Fin {
			return nil
		}
		op, data, compressed := rd.fragOp, rd.frag, rd.fragCompressed
		rd.fragOp, rd.frag, rd.fragCompressed = 0, nil, false
		return rd.deliver(h, op, data, compressed)
	default: // text or binary
		if !hdr.Fin {
			rd.fragOp, rd.frag, rd.fragCompressed = hdr.OpCode, payload, compressed
			return nil
		}
		return rd.deliver(h, hdr.OpCode, payload, compressed)
	}
}

func (rd *reader) deliver(h frameHandler, op ws.OpCode, data []byte, compressed bool) error {
	if compressed {
		var err error
		if data, err = inflate(data, rd.maxMessage); err != nil {
			return err
		}
	}
	if op == ws.OpText && !utf8.Valid(data) {
		return &closeError{protocol.CloseInvalidData, "text message is not valid UTF-8"}
	}
	h.onMessage(op, data)
	return nil
}

// closeFrom validates a peer's close frame and picks the code to echo.
func closeFrom(payload []byte) error {
	switch len(payload) {
	case 0:
		return &peerClosed{echo: protocol.CloseNormal}
	case 1:
		return &closeError{protocol.CloseProtocolError, "close frame with a 1-byte payload"}
	}
	code, reason := ws.ParseCloseFrameData(payload)
	if code > 4999 { // RFC 6455 7.4.2 defines no codes above 4999; gobwas lets them through
		return &closeError{protocol.CloseProtocolError, fmt.Sprintf("close code %d is not defined", code)}
	}
	if err := ws.CheckCloseFrameData(code, reason); err != nil {
		if errors.Is(err, ws.ErrProtocolInvalidUTF8) {
			return &closeError{protocol.CloseInvalidData, err.Error()}
		}
		return &closeError{protocol.CloseProtocolError, err.Error()}
	}
	return &peerClosed{echo: int(code)}
}
