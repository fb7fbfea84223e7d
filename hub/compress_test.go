package hub

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// markingFramer frames like rawFramer but prefixes what it was asked to
// compress with "z:", and counts its Text calls by that flag.
type markingFramer struct {
	rawFramer
	mu    sync.Mutex
	calls map[bool]int
}

func (f *markingFramer) Text(p []byte, compress bool) []byte {
	f.mu.Lock()
	f.calls[compress]++
	f.mu.Unlock()
	if compress {
		return append([]byte("z:"), p...)
	}
	return f.rawFramer.Text(p, false)
}

func (f *markingFramer) counts() (plain, compressed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[false], f.calls[true]
}

func (f *markingFramer) reset() {
	f.mu.Lock()
	f.calls = map[bool]int{}
	f.mu.Unlock()
}

// TestBroadcastCompressedOnce: a room message is framed once compressed and
// once plain per mode in use, however many members take each, and every
// member gets the frame its connection negotiated.
func TestBroadcastCompressedOnce(t *testing.T) {
	framer := &markingFramer{calls: map[bool]int{}}
	h, _ := newTestHub(t, Options{Framer: framer})
	type peer struct {
		snk      *sink
		mode     Mode
		compress bool
	}
	var peers []peer
	for i, p := range []struct {
		mode     Mode
		compress bool
	}{{ModeJSON, true}, {ModeJSON, true}, {ModeJSON, true}, {ModeJSON, false}, {ModeJSON, false}, {ModeText, true}, {ModeText, false}} {
		snk := newSink()
		s, err := h.Connect(context.Background(), snk, ConnInfo{Principal: parley.Principal{User: user(strings.Repeat("u", i+1)), Kind: parley.KindGuest}, Mode: p.mode, Compress: p.compress, Remote: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if p.mode == ModeJSON {
			if w := snk.next(t); strings.HasPrefix(string(w), "z:") != p.compress {
				t.Fatalf("welcome %q: compressed should be %v", w, p.compress)
			}
			if err := s.join(context.Background(), protocol.ClientFrame{Type: protocol.TypeJoin, Room: parley.Lobby}); err != nil {
				t.Fatal(err)
			}
		}
		peers = append(peers, peer{snk, p.mode, p.compress})
	}
	framer.reset()
	h.Deliver(message(parley.Lobby, 1))
	for i, p := range peers {
		var got []byte
		for {
			got = p.snk.next(t)
			if strings.Contains(string(got), `"message"`) || p.mode == ModeText {
				break
			}
		}
		if strings.HasPrefix(string(got), "z:") != p.compress {
			t.Errorf("peer %d (mode %v, compress %v) got %q", i, p.mode, p.compress, got)
		}
		if p.mode == ModeText && !strings.HasSuffix(string(got), "bob: hi") {
			t.Errorf("text peer %d got %q, want bob's line", i, got)
		}
	}
	if plain, compressed := framer.counts(); plain != 2 || compressed != 2 {
		t.Fatalf("framed the message %d times plain and %d compressed, want 2 and 2 (one per mode)", plain, compressed)
	}
}
