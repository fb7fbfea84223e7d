package hub

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// countSink is a Transport that only counts what it is given, so the
// benchmark measures the hub and not the sink.
type countSink struct{ bytes *atomic.Int64 }

func (c countSink) Write(bufs net.Buffers) error {
	var n int
	for _, b := range bufs {
		n += len(b)
	}
	c.bytes.Add(int64(n))
	return nil
}

// TryWrite takes everything, as a socket with room in its buffer would.
func (c countSink) TryWrite(bufs [][]byte) (int, error) {
	n := buffersLen(bufs)
	c.bytes.Add(int64(n))
	return n, nil
}

func (countSink) Close() error { return nil }

// BenchmarkFanout delivers one message per op to a room of 1000 local
// members and waits for its pass: frame once, then one write to each
// member straight from the flusher (the transport takes everything without
// blocking). One message per pass is the dearest case; passes merge
// messages when they come faster.
//
//	go test -run '^$' -bench Fanout -benchmem ./hub/
func BenchmarkFanout(b *testing.B) {
	const members = 1000
	h, _ := newTestHub(b, Options{})
	var written atomic.Int64
	// One user for every member keeps the setup's presence traffic linear.
	u := parley.User{ID: "id-bench", Name: "bench"}
	for range members {
		s, err := h.Connect(context.Background(), countSink{&written}, ConnInfo{Principal: parley.Principal{User: u, Kind: parley.KindGuest}, Mode: ModeJSON})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.join(context.Background(), protocol.ClientFrame{Type: protocol.TypeJoin, Room: "r"}); err != nil {
			b.Fatal(err)
		}
	}
	m := parley.Message{Room: "r", From: u, Text: "a message of an ordinary length, like most chat lines"}
	h.mu.Lock()
	r := h.rooms["r"]
	h.mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.Seq = parley.Seq(i + 1)
		h.Deliver(m)
		r.settle()
	}
	b.StopTimer()
	if got := h.Stats().Delivered; got != int64(b.N)*members {
		b.Fatalf("delivered %d frames, want %d", got, int64(b.N)*members)
	}
}
