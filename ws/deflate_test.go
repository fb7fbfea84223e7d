package ws

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/parleychat/parley/hub"
	"github.com/parleychat/parley/protocol"
)

// ccf is a compressed client frame: payload deflated by gobwas's wsflate
// (an implementation other than ours), RSV1 set on the first frame only.
func ccf(tb testing.TB, fin bool, op ws.OpCode, payload []byte) []byte {
	tb.Helper()
	f, err := wsflate.CompressFrame(ws.NewFrame(op, fin, payload))
	if err != nil {
		tb.Fatal(err)
	}
	h := f.Header
	h.Masked, h.Mask = true, testMask
	return rawFrame(h, f.Payload)
}

func TestFramerCompresses(t *testing.T) {
	chat := []byte(strings.Repeat(`{"type":"message","room":"general","text":"hello, hello"} `, 5))
	random := make([]byte, 600)
	rand.Read(random)
	for _, tc := range []struct {
		name       string
		payload    []byte
		compress   bool
		compressed bool
	}{
		{"not negotiated", chat, false, false},
		{"negotiated", chat, true, true},
		{"under minDeflate", chat[:minDeflate-1], true, false},
		{"at minDeflate", bytes.Repeat([]byte("a"), minDeflate), true, true},
		{"incompressible", random, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Framer{}.Text(tc.payload, tc.compress)
			f, err := ws.ReadFrame(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if !f.Header.Fin || f.Header.OpCode != ws.OpText || f.Header.Rsv2() || f.Header.Rsv3() || f.Header.Rsv1() != tc.compressed {
				t.Fatalf("header %+v, want a final text frame with RSV1 %v", f.Header, tc.compressed)
			}
			if !tc.compressed {
				if !bytes.Equal(f.Payload, tc.payload) {
					t.Fatal("plain frame's payload differs")
				}
				return
			}
			if len(f.Payload) >= len(tc.payload) {
				t.Errorf("compressed to %d bytes from %d", len(f.Payload), len(tc.payload))
			}
			got, err := wsflate.DecompressFrame(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Payload, tc.payload) {
				t.Fatalf("inflates to %q, want %q", got.Payload, tc.payload)
			}
		})
	}
}

// readDeflate runs a reader that negotiated compression over frames.
func readDeflate(maxMessage int, frames ...[]byte) (msgs []received, err error) {
	h := handlers{
		message: func(op ws.OpCode, data []byte) { msgs = append(msgs, received{op, string(data)}) },
		ping:    func([]byte) {},
	}
	rd := &reader{
		r:          bytes.NewReader(bytes.Join(frames, nil)),
		maxMessage: maxMessage,
		deflate:    true,
	}
	for err == nil {
		err = rd.next(h)
	}
	return msgs, err
}

func TestReaderInflates(t *testing.T) {
	long := strings.Repeat("compress me ", 50)
	whole := ccf(t, true, ws.OpText, []byte(long))
	// A compressed message in fragments: RSV1 on the first only, a ping
	// between them.
	f, _ := wsflate.CompressFrame(ws.NewFrame(ws.OpBinary, true, []byte(long)))
	half := len(f.Payload) / 2
	first := rawFrame(ws.Header{OpCode: ws.OpBinary, Rsv: ws.Rsv(true, false, false), Masked: true, Mask: testMask}, f.Payload[:half])
	rest := rawFrame(ws.Header{Fin: true, OpCode: ws.OpContinuation, Masked: true, Mask: testMask}, f.Payload[half:])

	msgs, err := readDeflate(1000, whole, cf(true, ws.OpText, "plain"), first, cf(true, ws.OpPing, "p"), rest)
	if err != io.EOF {
		t.Fatalf("err %v, want io.EOF", err)
	}
	want := []received{{ws.OpText, long}, {ws.OpText, "plain"}, {ws.OpBinary, long}}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(want))
	}
	for i := range want {
		if msgs[i] != want[i] {
			t.Errorf("message %d: got %q, want %q", i, msgs[i], want[i])
		}
	}
}

func TestReaderRefusesBadCompression(t *testing.T) {
	rsv := func(r1, r2, r3 bool, op ws.OpCode, payload string) []byte {
		return rawFrame(ws.Header{Fin: true, OpCode: op, Rsv: ws.Rsv(r1, r2, r3), Masked: true, Mask: testMask}, []byte(payload))
	}
	zeros := ccf(t, true, ws.OpBinary, make([]byte, 100_000)) // ~100 bytes on the wire
	for _, tc := range []struct {
		name   string
		frames [][]byte
		code   int
	}{
		{"RSV1 on a ping", [][]byte{rsv(true, false, false, ws.OpPing, "")}, protocol.CloseProtocolError},
		{"RSV1 on a continuation", [][]byte{cf(false, ws.OpText, "a"), rsv(true, false, false, ws.OpContinuation, "b")}, protocol.CloseProtocolError},
		{"RSV2", [][]byte{rsv(false, true, false, ws.OpText, "a")}, protocol.CloseProtocolError},
		{"RSV3", [][]byte{rsv(false, false, true, ws.OpText, "a")}, protocol.CloseProtocolError},
		{"not deflate", [][]byte{rsv(true, false, false, ws.OpText, "\xff\xff\xff\xff")}, protocol.CloseInvalidData},
		{"inflates past the limit", [][]byte{zeros}, protocol.CloseTooBig},
		{"inflates to invalid UTF-8", [][]byte{ccf(t, true, ws.OpText, []byte("ok \xff"))}, protocol.CloseInvalidData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := readDeflate(1000, tc.frames...)
			if got := closeCode(err); got != tc.code || len(msgs) != 0 {
				t.Fatalf("delivered %d, closed with %d (%v); want nothing delivered and close %d", len(msgs), got, err, tc.code)
			}
		})
	}
	// Without the extension negotiated, RSV1 is an error like any RSV bit.
	if _, _, err := readAll(1000, ccf(t, true, ws.OpText, []byte(strings.Repeat("x", 200)))); closeCode(err) != protocol.CloseProtocolError {
		t.Fatalf("RSV1 without negotiation: %v, want close 1002", err)
	}
}

func TestNegotiator(t *testing.T) {
	for _, tc := range []struct {
		offer    string
		accepted bool
	}{
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits", true}, // what browsers offer
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true},
		{"permessage-deflate; client_max_window_bits=10", true}, // a smaller client window inflates fine
		{"permessage-deflate; server_max_window_bits=10", false},
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate", true},
		{"permessage-deflate; no_such_parameter", false},
		{"permessage-deflate; server_max_window_bits=99", false},
		{"x-webkit-deflate-frame", false},
	} {
		t.Run(tc.offer, func(t *testing.T) {
			offers, ok := httphead.ParseOptions([]byte(tc.offer), nil)
			if !ok {
				t.Fatalf("can't parse the offer")
			}
			n := newNegotiator()
			var answers []string
			for _, o := range offers {
				a, err := n.negotiate(o)
				if err != nil {
					t.Fatalf("negotiate: %v (a bad offer is declined, not an error)", err)
				}
				if a.Size() > 0 {
					answers = append(answers, a.String())
				}
			}
			if n.accepted() != tc.accepted || len(answers) != map[bool]int{true: 1, false: 0}[tc.accepted] {
				t.Fatalf("accepted %v with answers %q, want accepted %v", n.accepted(), answers, tc.accepted)
			}
			if tc.accepted && (!strings.Contains(answers[0], "server_no_context_takeover") || !strings.Contains(answers[0], "client_no_context_takeover")) {
				t.Fatalf("answer %q: no context takeover must be asked both ways", answers[0])
			}
		})
	}
}

// TestEchoCompressed: over a real connection to the echo endpoint, a client
// that offers permessage-deflate gets it when the server allows it; its
// compressed messages are read, and long replies come back compressed, short
// ones plain. Without --compression the offer is declined.
func TestEchoCompressed(t *testing.T) {
	h := newTestHub(t, hub.Options{})
	offer := wsflate.Parameters{ClientNoContextTakeover: true}.Option()

	for _, enabled := range []bool{true, false} {
		srv := httptest.NewServer(NewEchoHandler(h, Options{Compression: enabled}))
		defer srv.Close()
		d := ws.Dialer{Extensions: []httphead.Option{offer}}
		conn, _, hs, err := d.Dial(context.Background(), "ws://"+strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if got := len(hs.Extensions) == 1 && string(hs.Extensions[0].Name) == wsflate.ExtensionName; got != enabled {
			t.Fatalf("compression enabled %v: negotiated %v", enabled, hs.Extensions)
		}
		if !enabled {
			continue
		}
		long := []byte(strings.Repeat("the same words again ", 40))
		for _, sent := range [][]byte{ccf(t, true, ws.OpText, long), cf(true, ws.OpText, "short")} {
			if _, err := conn.Write(sent); err != nil {
				t.Fatal(err)
			}
		}
		f, err := ws.ReadFrame(conn)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Header.Rsv1() || len(f.Payload) >= len(long) {
			t.Fatalf("long echo: RSV1 %v, %d bytes; want it compressed", f.Header.Rsv1(), len(f.Payload))
		}
		if f, err = wsflate.DecompressFrame(f); err != nil || !bytes.Equal(f.Payload, long) {
			t.Fatalf("long echo inflates to %d bytes (%v), want the %d sent", len(f.Payload), err, len(long))
		}
		if f, err = ws.ReadFrame(conn); err != nil || f.Header.Rsv1() || string(f.Payload) != "short" {
			t.Fatalf("short echo: %+v %q %v, want plain \"short\"", f.Header, f.Payload, err)
		}
	}
}
