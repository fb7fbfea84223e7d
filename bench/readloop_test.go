package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// opaqueConn hides a *net.TCPConn, so a group reads it from a goroutine
// of its own, as it does a TLS connection, rather than its event loop.
type opaqueConn struct{ net.Conn }

// readPaths runs a test through both of a group's read paths.
func readPaths(t *testing.T, test func(t *testing.T, wrap func(*conn))) {
	t.Run("event loop", func(t *testing.T) { test(t, func(*conn) {}) })
	t.Run("goroutine", func(t *testing.T) { test(t, func(c *conn) { c.nc = opaqueConn{c.nc} }) })
}

// TestGroupReassemblesSplitFrames sends messages from empty to several
// reads long, fragmented and not, with pings between them, written in
// pieces of random size, so frames and headers straddle reads.
func TestGroupReassemblesSplitFrames(t *testing.T) {
	readPaths(t, func(t *testing.T, wrap func(*conn)) {
		rng := rand.New(rand.NewPCG(1, 2))
		var want []string
		var stream bytes.Buffer
		pings := 0
		for i := range 60 {
			msg := strings.Repeat(string(rune('a'+i%26)), rng.IntN(3)*rng.IntN(90000)+i)
			want = append(want, msg)
			if i%7 == 3 && len(msg) > 2 { // in two fragments
				ws.WriteFrame(&stream, ws.Frame{Header: ws.Header{OpCode: ws.OpText, Length: 2}, Payload: []byte(msg[:2])})
				ws.WriteFrame(&stream, ws.NewPingFrame([]byte("mid")))
				pings++
				ws.WriteFrame(&stream, ws.Frame{Header: ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: int64(len(msg) - 2)}, Payload: []byte(msg[2:])})
				continue
			}
			ws.WriteFrame(&stream, ws.NewTextFrame([]byte(msg)))
			if i%5 == 0 {
				ws.WriteFrame(&stream, ws.NewPingFrame([]byte(fmt.Sprint(i))))
				pings++
			}
		}
		pongs := make(chan int, 1)
		tg := wsServer(t, protoV1, func(c net.Conn) {
			b := stream.Bytes()
			for len(b) > 0 {
				k := min(len(b), 1+rng.IntN(3000))
				if _, err := c.Write(b[:k]); err != nil {
					return
				}
				b = b[k:]
				if rng.IntN(10) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			n := 0
			for {
				f, err := ws.ReadFrame(c)
				if err != nil || f.Header.OpCode == ws.OpClose {
					break
				}
				if f.Header.OpCode == ws.OpPong {
					n++
				}
			}
			pongs <- n
		})
		c := mustDial(t, testDialer(tg, protoV1), 0, 512)
		wrap(c)
		g := newGroup()
		var mu sync.Mutex
		var got []string
		g.start(c, func(b []byte) {
			mu.Lock()
			got = append(got, string(b))
			mu.Unlock()
		})
		waitFor(context.Background(), 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) >= len(want)
		})
		g.closeAll()
		mu.Lock()
		defer mu.Unlock()
		if len(got) != len(want) {
			t.Fatalf("got %d messages, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("message %d is %d bytes %.10q…, want %d bytes %.10q…", i, len(got[i]), got[i], len(want[i]), want[i])
			}
		}
		if n := <-pongs; n != pings {
			t.Errorf("the server read %d pongs, want %d (one per ping)", n, pings)
		}
		if err := g.drops(); err != nil {
			t.Errorf("closeAll counted a drop: %v", err)
		}
	})
}

// TestGroupReadsFramesBehindTheHandshake: frames that arrived with the
// handshake, or with the frame read before the group took the connection,
// are not lost when the group takes over.
func TestGroupReadsFramesBehindTheHandshake(t *testing.T) {
	readPaths(t, func(t *testing.T, wrap func(*conn)) {
		tg := wsServer(t, protoV1, func(c net.Conn) {
			var b bytes.Buffer
			for i := range 5 {
				ws.WriteFrame(&b, ws.NewTextFrame([]byte(earlyMessage(i))))
			}
			c.Write(b.Bytes())
			wsutil.ReadClientData(c)
		})
		c := mustDial(t, testDialer(tg, protoV1), 0, 64)
		time.Sleep(50 * time.Millisecond) // all five in the socket
		first, err := c.next()
		if err != nil || string(first) != earlyMessage(0) {
			t.Fatalf("next = %q, %v", first, err)
		}
		wrap(c)
		g := newGroup()
		got := make(chan string, 8)
		g.start(c, func(b []byte) { got <- string(b) })
		for i := 1; i < 5; i++ {
			select {
			case s := <-got:
				if want := earlyMessage(i); s != want {
					t.Errorf("got %q, want %q", s, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("message %d never came", i)
			}
		}
		g.closeAll()
	})
}

// earlyMessage is message i of those sent behind the handshake: sizes
// that leave a frame cut short in the 64-byte read buffer.
func earlyMessage(i int) string {
	return fmt.Sprintf("early %d %s", i, strings.Repeat("x", []int{19, 40, 7, 90, 13}[i]))
}

// TestGroupDropEndsTheConnection: a dropped connection ends (its done
// channel closes) without counting as a drop, and the server sees it go.
func TestGroupDropEndsTheConnection(t *testing.T) {
	readPaths(t, func(t *testing.T, wrap func(*conn)) {
		gone := make(chan error, 1)
		tg := wsServer(t, protoV1, func(c net.Conn) {
			_, _, err := wsutil.ReadClientData(c)
			gone <- err
		})
		c := mustDial(t, testDialer(tg, protoV1), 0, 64)
		wrap(c)
		g := newGroup()
		done := g.start(c, func([]byte) {})
		c.drop()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection did not end")
		}
		select {
		case err := <-gone:
			if err == nil {
				t.Error("the server read a frame, not the end of the connection")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the server did not see the connection go")
		}
		if g.dropped.Load() != 0 {
			t.Errorf("a drop the bench made counted as a connection lost")
		}
		g.closeAll()
	})
}

// TestGroupClosesWhileStarting: connections started while the group is
// being closed end too, each once, on both read paths.
func TestGroupClosesWhileStarting(t *testing.T) {
	readPaths(t, func(t *testing.T, wrap func(*conn)) {
		tg := wsServer(t, protoV1, func(c net.Conn) { wsutil.ReadClientData(c) })
		d := testDialer(tg, protoV1)
		conns := make([]*conn, 30)
		for i := range conns {
			c := mustDial(t, d, i, 64)
			wrap(c)
			conns[i] = c
		}
		g := newGroup()
		dones := make(chan (<-chan struct{}), len(conns))
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, c := range conns {
				dones <- g.start(c, func([]byte) {})
			}
			close(dones)
		})
		for len(dones) < len(conns)/2 {
			time.Sleep(time.Millisecond)
		}
		g.closeAll()
		wg.Wait()
		for done := range dones {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("a connection started while the group closed never ended")
			}
		}
		if err := g.drops(); err != nil {
			t.Errorf("closing counted drops: %v", err)
		}
	})
}
