package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gorilla/websocket"
)

// rawConn reads frames raw, so a test sees which ones came compressed.
type rawConn struct {
	net.Conn
	r io.Reader // the handshake's buffer, then the socket
}

// rawDeflateDial opens a parley.v1 connection that offers permessage-deflate
// and reports whether the server accepted it.
func rawDeflateDial(t *testing.T, s *testServer, query string) (*rawConn, bool) {
	t.Helper()
	d := ws.Dialer{
		Protocols:  []string{"parley.v1"},
		Extensions: []httphead.Option{wsflate.Parameters{ClientNoContextTakeover: true}.Option()},
		Timeout:    waitTimeout,
	}
	conn, br, hs, err := d.Dial(context.Background(), s.wsURL(query))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(waitTimeout))
	rc := &rawConn{Conn: conn, r: conn}
	if br != nil { // frames came with the handshake
		rc.r = io.MultiReader(br, conn)
	}
	return rc, len(hs.Extensions) == 1 && string(hs.Extensions[0].Name) == wsflate.ExtensionName
}

// readRaw reads one frame and returns its payload inflated and whether it
// came compressed.
func readRaw(t *testing.T, conn *rawConn) (frame, bool) {
	t.Helper()
	f, err := ws.ReadFrame(conn.r)
	if err != nil {
		t.Fatal(err)
	}
	compressed := f.Header.Rsv1()
	if compressed {
		if f, err = wsflate.DecompressFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	var fr frame
	if err := json.Unmarshal(f.Payload, &fr); err != nil {
		t.Fatalf("frame %q: %v", f.Payload, err)
	}
	return fr, compressed
}

// TestCompression: with --compression a client that offers permessage-deflate
// gets it; long frames (the welcome, broadcasts, history) come compressed and
// short ones (acks) plain; compressing and plain clients share a room and
// read the same messages. Without the flag the offer is declined.
func TestCompression(t *testing.T) {
	off := startServer(t, nil)
	if _, ok := rawDeflateDial(t, off, queryName("dora")); ok {
		t.Fatal("compression was negotiated without --compression")
	}

	s := startServer(t, func(c *serveConfig) { c.Compression = true })
	carol, ok := rawDeflateDial(t, s, queryName("carol"))
	if !ok {
		t.Fatal("the server declined permessage-deflate with --compression")
	}
	if welcome, compressed := readRaw(t, carol); welcome.str("type") != "welcome" || !compressed {
		t.Fatalf("welcome %v compressed %v, want a compressed welcome", welcome, compressed)
	}
	ws.WriteFrame(carol, ws.MaskFrame(ws.NewTextFrame([]byte(`{"type":"join","room":"general","id":"j"}`))))
	if joined, _ := readRaw(t, carol); joined.str("type") != "joined" {
		t.Fatalf("carol got %v, want joined", joined)
	}

	alice := dialSetup(t, s, queryName("alice"), nil)
	compressing := websocket.Dialer{Subprotocols: []string{"parley.v1"}, EnableCompression: true, HandshakeTimeout: waitTimeout}
	bc, resp, err := compressing.Dial(s.wsURL(queryName("bob")), nil)
	if err != nil {
		t.Fatalf("dial with compression: %v (%s)", err, respBody(resp))
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("gorilla's offer got %q", ext)
	}
	bob := newClient(t, bc)
	bob.welcome = bob.expect("welcome")
	alice.join("general", nil)
	bob.join("general", nil)

	long := strings.TrimSpace(strings.Repeat("compressible words, ", 30))
	// bob's send goes compressed (gorilla compresses what it writes).
	bob.sendJSON(map[string]any{"type": "send", "id": "b", "room": "general", "text": long, "nonce": "b1"})
	for _, c := range []*client{alice, bob} {
		if m := c.messages(1)[0]; m.str("text") != long {
			t.Fatalf("got %q, want bob's long message", m.str("text"))
		}
	}
	if ack := bob.expect("ack"); ack.num("seq") != 1 {
		t.Fatalf("bob's ack %v", ack)
	}
	for {
		f, compressed := readRaw(t, carol)
		if f.str("type") != "message" {
			continue
		}
		if f.str("text") != long || !compressed {
			t.Fatalf("carol got %v (compressed %v), want bob's message compressed", f, compressed)
		}
		break
	}

	// A history page comes compressed; a short ack plain.
	ws.WriteFrame(carol, ws.MaskFrame(ws.NewTextFrame([]byte(`{"type":"history","room":"general","id":"h"}`))))
	if h, compressed := readRaw(t, carol); h.str("type") != "history" || !compressed {
		t.Fatalf("history %v compressed %v, want it compressed", h, compressed)
	}
	ws.WriteFrame(carol, ws.MaskFrame(ws.NewTextFrame([]byte(`{"type":"send","room":"general","id":"s","text":"hi","nonce":"c1"}`))))
	for {
		f, compressed := readRaw(t, carol)
		if f.str("type") == "ack" {
			if compressed {
				t.Fatalf("a %v ack came compressed; short frames go plain", f)
			}
			break
		}
	}
}
