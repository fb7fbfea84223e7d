package main

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestConformanceEcho(t *testing.T) {
	off := startServer(t, nil)
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+off.addr+"/ws/echo", nil); err == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatal("/ws/echo is served without --conformance-echo")
	}

	s := startServer(t, func(c *serveConfig) { c.ConformanceEcho = true })
	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.addr+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	big := bytes.Repeat([]byte("x"), 1<<20)
	for _, m := range []struct {
		op   int
		data []byte
	}{
		{websocket.TextMessage, []byte("hello, 世界")},
		{websocket.BinaryMessage, []byte{0, 1, 2, 255}},
		{websocket.BinaryMessage, big},
	} {
		if err := c.WriteMessage(m.op, m.data); err != nil {
			t.Fatal(err)
		}
		op, got, err := c.ReadMessage()
		if err != nil || op != m.op || !bytes.Equal(got, m.data) {
			t.Fatalf("echo of %d bytes (op %d): got %d bytes, op %d, %v", len(m.data), m.op, len(got), op, err)
		}
	}
	// Invalid UTF-8 in a text message closes with 1007, as on /ws.
	c.WriteMessage(websocket.TextMessage, []byte{'a', 0xff})
	_, _, err = c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1007 {
		t.Errorf("invalid UTF-8: %v, want close 1007", err)
	}
}
