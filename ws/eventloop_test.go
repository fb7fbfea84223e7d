//go:build linux

package ws

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/parleychat/parley/hub"
)

// serveWithEventLoop runs h's event loop and serves h until the test ends.
func serveWithEventLoop(tb testing.TB, h *Handler) *httptest.Server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	loopDone := make(chan error, 1)
	go func() { loopDone <- h.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-loopDone })
	for !h.polling.Load() {
		time.Sleep(time.Millisecond)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// TestEventLoopReadsBatchedAndSplitFrames: through the event loop, many
// frames arriving in one segment are all read in one wake-up's buffer, and
// a frame split across two segments is read whole, all in order.
func TestEventLoopReadsBatchedAndSplitFrames(t *testing.T) {
	srv := serveWithEventLoop(t, NewEchoHandler(newTestHub(t, hub.Options{}), Options{EventLoop: true}))

	conn, _, _, err := ws.Dial(context.Background(), "ws://"+strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	frame := func(s string) []byte {
		var b bytes.Buffer
		if err := ws.WriteFrame(&b, ws.MaskFrame(ws.NewTextFrame([]byte(s)))); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	var want []string
	var burst []byte
	for i := range 300 { // ~6 KB: more than one read buffer, more than one wake-up's frame budget
		s := fmt.Sprintf("message %03d", i)
		want = append(want, s)
		burst = append(burst, frame(s)...)
	}
	if _, err := conn.Write(burst); err != nil {
		t.Fatal(err)
	}
	split := frame(strings.Repeat("x", 300))
	want = append(want, strings.Repeat("x", 300))
	if _, err := conn.Write(split[:7]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := conn.Write(split[7:]); err != nil {
		t.Fatal(err)
	}

	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, w := range want {
		got, err := wsutil.ReadServerText(conn)
		if err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if string(got) != w {
			t.Fatalf("echo %d = %q, want %q", i, got, w)
		}
	}
}
