package bench

import (
	"bytes"
	"io"
	"net"
	"slices"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzFeed holds the event loop's frame parser to two rules on whatever a
// server sends: it never panics, and where the bytes are cut between reads
// changes nothing (the same messages, then the same error).
func FuzzFeed(f *testing.F) {
	var b bytes.Buffer
	ws.WriteFrame(&b, ws.NewTextFrame([]byte("hello")))
	ws.WriteFrame(&b, ws.NewPingFrame([]byte("hb")))
	ws.WriteFrame(&b, ws.Frame{Header: ws.Header{OpCode: ws.OpText, Length: 2}, Payload: []byte("ab")})
	ws.WriteFrame(&b, ws.Frame{Header: ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: 300}, Payload: bytes.Repeat([]byte("c"), 300)})
	masked := ws.MaskFrame(ws.NewTextFrame([]byte("masked")))
	ws.WriteFrame(&b, masked)
	ws.WriteFrame(&b, ws.NewCloseFrame(ws.NewCloseFrameBody(4008, "slow")))
	f.Add(b.Bytes(), uint16(3))
	f.Add(b.Bytes()[:20], uint16(7))
	f.Add([]byte{0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint16(2)) // 2^63-1 bytes
	f.Add([]byte{0x80, 0x01, 'x'}, uint16(1))                                            // continuation first
	f.Add([]byte{0xc1, 0x01, 'x'}, uint16(1))                                            // RSV1 uninvited
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		k := int(cut) % (len(stream) + 1)
		whole, wholeErr := feedChunks(t, stream)
		split, splitErr := feedChunks(t, stream[:k], stream[k:])
		if !slices.Equal(whole, split) {
			t.Fatalf("cut at %d: messages %q, whole %q", k, split, whole)
		}
		if (wholeErr == nil) != (splitErr == nil) || wholeErr != nil && wholeErr.Error() != splitErr.Error() {
			t.Fatalf("cut at %d: error %v, whole %v", k, splitErr, wholeErr)
		}
	})
}

// feedChunks feeds the chunks to a fresh conn as successive reads, keeping
// the unconsumed tail as the read loop does, and returns the messages and
// the error that ended them. Pongs and close echoes go to a real pipe.
func feedChunks(t *testing.T, chunks ...[]byte) ([]string, error) {
	a, b := net.Pipe()
	go io.Copy(io.Discard, b)
	defer b.Close()
	defer a.Close()
	c := &conn{nc: a, rnd: 1}
	var msgs []string
	var pend []byte
	for _, chunk := range chunks {
		data := append(pend, chunk...)
		used, err := c.feed(data, func(m []byte) { msgs = append(msgs, string(m)) })
		if err != nil {
			return msgs, err
		}
		pend = bytes.Clone(data[used:])
	}
	return msgs, nil
}
