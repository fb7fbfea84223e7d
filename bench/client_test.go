package bench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// wsServer runs a hand-written WebSocket peer: script gets each upgraded
// connection.
func wsServer(t *testing.T, protocol string, script func(net.Conn)) *target {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("refuse") != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"code":"bad_request","message":"Not today."}`))
			return
		}
		u := ws.HTTPUpgrader{Protocol: func(p string) bool { return p == protocol }}
		c, _, _, err := u.Upgrade(r, w)
		if err != nil {
			return
		}
		defer c.Close()
		script(c)
	}))
	t.Cleanup(srv.Close)
	tg, err := parseTarget("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", false)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func testDialer(tg *target, protocol string) *dialer {
	return &dialer{target: tg, protocol: protocol, sources: tg.sourceAddrs(4), timeout: 2 * time.Second}
}

// mustDial opens connection i through d with a readBuf-byte read buffer.
func mustDial(t *testing.T, d *dialer, i, readBuf int) *conn {
	t.Helper()
	c, err := d.dial(context.Background(), i, nil, readBuf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConnFramesPingsAndClose(t *testing.T) {
	pong := make(chan []byte, 1)
	tg := wsServer(t, protoV1, func(c net.Conn) {
		ws.WriteFrame(c, ws.NewPingFrame([]byte("hb")))
		// A message in three fragments, then a close with 4008.
		ws.WriteFrame(c, ws.Frame{Header: ws.Header{OpCode: ws.OpText, Length: 3}, Payload: []byte("abc")})
		ws.WriteFrame(c, ws.Frame{Header: ws.Header{OpCode: ws.OpContinuation, Length: 3}, Payload: []byte("def")})
		big := strings.Repeat("g", 70000)
		ws.WriteFrame(c, ws.Frame{Header: ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: int64(len(big))}, Payload: []byte(big)})
		msg, op, err := wsutil.ReadClientData(c)
		if err == nil && op == ws.OpText {
			pong <- msg
		}
		ws.WriteFrame(c, ws.NewCloseFrame(ws.NewCloseFrameBody(4008, "too slow")))
		wsutil.ReadClientData(c) // the close echo
	})
	c := mustDial(t, testDialer(tg, protoV1), 0, 64)
	g := newGroup()
	got := make(chan string, 1)
	done := g.start(c, func(b []byte) {
		got <- string(b)
		c.writeText([]byte("after"))
	})
	select {
	case s := <-got:
		if s != "abcdef"+strings.Repeat("g", 70000) {
			t.Errorf("reassembled message is %d bytes: %.20q…", len(s), s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	if s := <-pong; string(s) != "after" {
		t.Errorf("the server read %q", s)
	}
	<-done
	err := g.drops()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4008 || !strings.Contains(err.Error(), "slow consumer") {
		t.Errorf("drops = %v, want a 4008 slow consumer close", err)
	}
	g.closeAll()
}

func TestDialErrorsNameTheProblem(t *testing.T) {
	tg := wsServer(t, "other", func(c net.Conn) {})
	if _, err := testDialer(tg, protoV1).dial(context.Background(), 0, nil, 64); err == nil || !strings.Contains(err.Error(), "--proto text") {
		t.Errorf("a server without parley.v1: %v", err)
	}
	_, err := testDialer(tg, protoV1).dial(context.Background(), 0, map[string][]string{"refuse": {"1"}}, 64)
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "Not today.") {
		t.Errorf("a refused handshake: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	dead, _ := parseTarget("ws://"+addr+"/ws", false)
	if _, err := testDialer(dead, "").dial(context.Background(), 0, nil, 64); err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), addr) {
		t.Errorf("nothing listening: %v", err)
	}

	// An old HTTP server answers every request with a page.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<p>hello</p>"))
			c.Close()
		}
	}()
	old, _ := parseTarget("ws://"+ln.Addr().String()+"/ws", false)
	if _, err := testDialer(old, "").dial(context.Background(), 0, nil, 64); err == nil || !strings.Contains(err.Error(), "not with a WebSocket handshake") {
		t.Errorf("an HTTP/1.0 page: %v", err)
	}
}
