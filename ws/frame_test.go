package ws

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// parseServerFrame reads b back with gobwas as a client would and fails
// unless it is exactly one final, unmasked frame.
func parseServerFrame(tb testing.TB, b []byte) ws.Frame {
	tb.Helper()
	r := bytes.NewReader(b)
	f, err := ws.ReadFrame(r)
	if err != nil {
		tb.Fatalf("ReadFrame: %v", err)
	}
	if r.Len() != 0 {
		tb.Fatalf("%d bytes left after the frame", r.Len())
	}
	if err := ws.CheckHeader(f.Header, ws.StateClientSide); err != nil {
		tb.Fatalf("a client would refuse the header %+v: %v", f.Header, err)
	}
	if !f.Header.Fin || f.Header.Rsv != 0 {
		tb.Fatalf("header %+v, want final without RSV bits", f.Header)
	}
	return f
}

func TestFramerText(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		b := Framer{}.Text(payload, false)
		wantHeader := 2
		switch {
		case n > 65535:
			wantHeader = 10
		case n > 125:
			wantHeader = 4
		}
		if len(b) != wantHeader+n {
			t.Fatalf("%d bytes: frame of %d bytes, want a %d-byte header", n, len(b), wantHeader)
		}
		f := parseServerFrame(t, b)
		if f.Header.OpCode != ws.OpText || f.Header.Length != int64(n) || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("%d bytes: read back %+v", n, f.Header)
		}
	}
}

func TestFramerTextIsFresh(t *testing.T) {
	payload := []byte("hello")
	b := Framer{}.Text(payload, false)
	payload[0] = 'j'
	if f := parseServerFrame(t, b); string(f.Payload) != "hello" {
		t.Fatalf("the frame shares the payload's bytes: %q", f.Payload)
	}
}

func TestFramerPingPong(t *testing.T) {
	if f := parseServerFrame(t, Framer{}.Ping()); f.Header.OpCode != ws.OpPing || len(f.Payload) != 0 {
		t.Fatalf("ping %+v %q", f.Header, f.Payload)
	}
	if f := parseServerFrame(t, Framer{}.Pong([]byte("x"))); f.Header.OpCode != ws.OpPong || string(f.Payload) != "x" {
		t.Fatalf("pong %+v %q", f.Header, f.Payload)
	}
}

func TestFramerClose(t *testing.T) {
	for _, tc := range []struct {
		name, reason, want string
		code               int
	}{
		{"no reason", "", "", 1000},
		{"reason", "server shutting down", "server shutting down", 1001},
		{"long reason cut", strings.Repeat("r", 200), strings.Repeat("r", 123), 4008},
		// A cut through a rune would make the reason invalid UTF-8, which a
		// client must answer by failing the connection.
		{"cut backs off to a rune", strings.Repeat("r", 122) + "é and more", strings.Repeat("r", 122), 4029},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := parseServerFrame(t, Framer{}.Close(tc.code, tc.reason))
			if f.Header.OpCode != ws.OpClose || len(f.Payload) > 125 {
				t.Fatalf("header %+v", f.Header)
			}
			code, reason := ws.ParseCloseFrameData(f.Payload)
			if int(code) != tc.code || reason != tc.want {
				t.Fatalf("close %d %q, want %d %q", code, reason, tc.code, tc.want)
			}
			if !utf8.ValidString(reason) {
				t.Fatalf("reason %q is not UTF-8", reason)
			}
		})
	}
}
