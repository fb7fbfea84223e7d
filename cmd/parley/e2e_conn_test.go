package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHeartbeatClosesSilentPeer(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Heartbeat = 200 * time.Millisecond })
	watcher := dial(t, s, queryName("watcher"))
	watcher.join("lobby", nil)

	// A peer that completes the handshake, joins, then goes silent: no
	// pongs, no frames.
	silent := dialSilent(t, s, queryName("silent"))
	silent.join("lobby", nil)
	start := time.Now()
	if p := watcher.next(); p.str("event") != "join" {
		t.Fatalf("want silent's join, got %v", p)
	}
	f := watcher.next()
	if f.str("type") != "presence" || f.str("event") != "leave" {
		t.Fatalf("want silent's leave, got %v", f)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("silent peer left after %v, want about two heartbeats (400ms)", d)
	}
	if code := silent.closeCode(); code != 4000 && code != -1 {
		t.Errorf("silent peer closed with %d, want 4000 or a dropped connection", code)
	}

	// A peer that answers pings stays, though it sends nothing else. (The
	// watcher's client answers pings by default.)
	time.Sleep(time.Second)
	if pong := watcher.request(map[string]any{"type": "ping"}); pong.str("type") != "pong" {
		t.Errorf("watcher: %v", pong)
	}
}

func TestSlowConsumerIsDropped(t *testing.T) {
	s := startServer(t, func(c *serveConfig) {
		c.Rate, c.Burst = 1e6, 1e6
		c.QueueBytes = 256 << 10
		c.MaxText = 8000
	})
	// The slow client has a tiny receive buffer and never reads.
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, NetDial: func(network, addr string) (net.Conn, error) {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		return nd.Dial(network, addr)
	}}
	slowConn, _, err := d.Dial(s.wsURL(queryName("slow")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slowConn.Close()
	slowConn.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","room":"lobby"}`))

	fast := dial(t, s, queryName("fast"))
	fast.join("lobby", nil)
	writer := dial(t, s, queryName("writer"))
	writer.join("lobby", nil)
	time.Sleep(100 * time.Millisecond)

	text := strings.Repeat("x", 7000)
	const n = 600 // 4 MB in all, far past the slow client's buffers and queue
	go func() {
		for i := range n {
			writer.sendJSON(map[string]any{"type": "send", "room": "lobby", "text": text, "nonce": fmt.Sprintf("n%d", i)})
		}
	}()
	got := fast.messages(n)
	assertSeqs(t, got, 1)

	// The slow client was closed: reading what its buffers hold ends in a
	// 4008 close frame, a reset, or the end of the stream inside a frame
	// whose rest was never sent (gorilla reports that as 1006).
	slowConn.SetReadDeadline(time.Now().Add(waitTimeout))
	code := -1
	for {
		_, _, err := slowConn.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok {
			code = ce.Code
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("slow client still connected")
		}
		break
	}
	if code != 4008 && code != 1006 && code != -1 {
		t.Errorf("slow client closed with %d, want 4008 or a dropped connection", code)
	}
	if st := s.app.hub.Stats(); st.SlowCloses != 1 {
		t.Errorf("slow-consumer closes = %d, want 1", st.SlowCloses)
	}
}

func TestTextMode(t *testing.T) {
	s := startServer(t, nil)
	v1 := dial(t, s, queryName("alice"))
	v1.join("lobby", nil)

	text, resp, err := dialRaw(s, queryName("bob"), nil, nil)
	if err != nil {
		t.Fatalf("text mode dial: %v %s", err, respBody(resp))
	}
	defer text.Close()
	if p := v1.next(); p.str("event") != "join" {
		t.Fatalf("want bob's presence, got %v", p)
	}
	text.WriteMessage(websocket.TextMessage, []byte("hello from the seed page"))
	m := v1.expect("message")
	if _, from := m.user("from"); from != "bob" || m.str("text") != "hello from the seed page" {
		t.Errorf("v1 client got %v", m)
	}
	readText := func() string {
		t.Helper()
		text.SetReadDeadline(time.Now().Add(waitTimeout))
		_, b, err := text.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := readText(); got != "bob: hello from the seed page" {
		t.Errorf("text client got its own line as %q", got)
	}
	v1.send("lobby", "<b>hi</b> bob", "n1")
	if got := readText(); got != "alice: <b>hi</b> bob" {
		t.Errorf("text client got %q", got)
	}
	text.WriteMessage(websocket.TextMessage, []byte(""))
	if got := readText(); !strings.HasPrefix(got, "error: ") {
		t.Errorf("empty line: got %q, want an error line", got)
	}
	text.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("y", 1025)))
	if got := readText(); !strings.HasPrefix(got, "error: ") {
		t.Errorf("long line: got %q, want an error line", got)
	}
	hist := v1.request(map[string]any{"type": "history", "room": "lobby"})
	if n := len(hist["messages"].([]any)); n != 2 {
		t.Errorf("lobby holds %d messages, want 2", n)
	}
}

func TestShutdownClosesWith1001(t *testing.T) {
	s := startServer(t, nil)
	a := dial(t, s, queryName("alice"))
	a.join("lobby", nil)
	start := time.Now()
	s.stop(t)
	if code := a.closeCode(); code != 1001 {
		t.Errorf("close code %d, want 1001", code)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	s := startServer(t, nil)
	a := dial(t, s, queryName("alice"))
	a.join("lobby", nil)
	a.send("lobby", "hi", "n1")
	a.request(map[string]any{"type": "dance"})

	resp, err := http.Get("http://" + s.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %s", err, respBody(resp))
	}
	resp, err = http.Get("http://" + s.addr + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics: %v %s", err, respBody(resp))
	}
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"parley_connections 1",
		"parley_messages_received_total 1",
		"parley_messages_delivered_total 1",
		`parley_errors_total{code="bad_request"} 1`,
		`parley_store_seconds_count{op="append",outcome="ok"} 1`,
		"parley_slow_consumer_closes_total 0",
		"parley_rooms_active 1",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("responses lack a Content-Security-Policy")
	}
}

// TestHandshakeThenPipelinedFrame sends a frame in the same packet as the
// handshake: the server must not lose it.
func TestHandshakeThenPipelinedFrame(t *testing.T) {
	s := startServer(t, nil)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A masked text frame {"type":"ping","id":"p"} with a zero mask.
	payload := []byte(`{"type":"ping","id":"p"}`)
	frame := append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	req := "GET /ws?name=pipe HTTP/1.1\r\nHost: " + s.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: parley.v1\r\n\r\n"
	c.Write(append([]byte(req), frame...))
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	br := bufio.NewReader(c)
	status, _ := br.ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("handshake: %q", status)
	}
	rest := make([]byte, 4096)
	var got []byte
	for !strings.Contains(string(got), `"pong"`) {
		n, err := br.Read(rest)
		if err != nil {
			t.Fatalf("reading after handshake: %v (got %q)", err, got)
		}
		got = append(got, rest[:n]...)
	}
}
