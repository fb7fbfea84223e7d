package ws

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/parleychat/parley/protocol"
)

// Parley speaks permessage-deflate (RFC 7692) with no context takeover in
// either direction: every message is compressed on its own. That costs some
// ratio, and buys the two things a chat server needs: a broadcast is
// compressed once and the same bytes go to every recipient that compresses,
// and no connection keeps a 32 KiB LZ77 window (or a compressor) while idle.
var deflateParams = wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}

// minDeflate is the smallest payload worth compressing. Below it the deflate
// block headers eat most of the gain (an ack or a typing event), and RFC 7692
// lets each message choose.
const minDeflate = 128

// negotiator accepts the first permessage-deflate offer it can honour
// during one upgrade. An offer that asks for a smaller server window than
// 32 KiB is declined (Go's compressor has no smaller one); so is a
// malformed offer, as RFC 7692 §5 asks, rather than failing the handshake.
type negotiator struct{ ext wsflate.Extension }

func newNegotiator() *negotiator {
	return &negotiator{ext: wsflate.Extension{Parameters: deflateParams}}
}

func (n *negotiator) negotiate(offer httphead.Option) (httphead.Option, error) {
	accept, err := n.ext.Negotiate(offer)
	if err != nil {
		return httphead.Option{}, nil
	}
	return accept, nil
}

// accepted reports whether the client and server agreed on compression.
func (n *negotiator) accepted() bool {
	_, ok := n.ext.Accepted()
	return ok
}

// compressors are flate writers at BestSpeed, lent for one message: a
// compressor holds several hundred KiB, far too much to keep per connection.
var compressors = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// compressed is a scratch buffer for one compression.
var compressed = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// deflateFrame returns payload compressed as one final frame with opcode op
// and RSV1 set, or nil when compressing doesn't make it smaller.
func deflateFrame(op ws.OpCode, payload []byte) []byte {
	buf := compressed.Get().(*bytes.Buffer)
	defer compressed.Put(buf)
	buf.Reset()
	w := compressors.Get().(*flate.Writer)
	defer compressors.Put(w)
	w.Reset(buf)
	// Writing into a bytes.Buffer can't fail.
	w.Write(payload)
	w.Flush()
	// A sync flush ends in an empty stored block, 00 00 ff ff; RFC 7692
	// §7.2.1 has the sender drop it and the receiver add it back.
	data := bytes.TrimSuffix(buf.Bytes(), deflateTail[:4])
	if len(data) >= len(payload) {
		return nil
	}
	return appendFrame(make([]byte, 0, len(data)+10), 0xC0|byte(op), data)
}

// deflateTail ends a received message's deflate stream: the sync marker the
// sender dropped, then an empty final stored block so the reader sees EOF.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// decompressors are flate readers lent for one message.
var decompressors = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// inflate decompresses a message that arrived with RSV1 set. It returns a
// *closeError when the data is not deflate or inflates past max bytes: a
// few KiB of zeros can inflate to gigabytes, so the limit applies to what
// comes out, not just to what came in.
func inflate(data []byte, max int) ([]byte, error) {
	fr := decompressors.Get().(io.ReadCloser)
	defer decompressors.Put(fr)
	if err := fr.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(data), bytes.NewReader(deflateTail)), nil); err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(fr, int64(max)+1))
	switch {
	case err != nil:
		var corrupt flate.CorruptInputError
		if errors.As(err, &corrupt) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &closeError{protocol.CloseInvalidData, "compressed message is not valid deflate data"}
		}
		return nil, fmt.Errorf("inflate: %w", err)
	case len(out) > max:
		return nil, &closeError{protocol.CloseTooBig, fmt.Sprintf("message over %d bytes once decompressed", max)}
	}
	return out, nil
}
