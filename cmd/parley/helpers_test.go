package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testServer is a whole Parley server on a loopback port, wired as
// "parley serve" wires it.
type testServer struct {
	app    *app
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// defaultConfig is what "parley serve" runs with when given no flags.
func defaultConfig(tb testing.TB) serveConfig {
	tb.Helper()
	var c serveConfig
	if err := parseFlags(newServeFlags(&c, io.Discard), nil, func(string) string { return "" }, false); err != nil {
		tb.Fatal(err)
	}
	c.Data = tb.TempDir()
	// Tests that watch a user leave presence don't wait out the default.
	c.PresenceLinger = 200 * time.Millisecond
	return c
}

func startServer(tb testing.TB, mutate func(*serveConfig)) *testServer {
	tb.Helper()
	c := defaultConfig(tb)
	if mutate != nil {
		mutate(&c)
	}
	if err := c.validate(); err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := newApp(c, log)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{app: a, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.run(ctx, ln) }()
	tb.Cleanup(func() { s.stop(tb) })
	return s
}

// stop shuts the server down as SIGTERM would; safe to call twice.
func (s *testServer) stop(tb testing.TB) {
	tb.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			tb.Errorf("server run: %v", err)
		}
	case <-time.After(15 * time.Second):
		tb.Fatal("server did not stop within 15s")
	}
	s.app.close()
}

func (s *testServer) wsURL(query string) string {
	u := "ws://" + s.addr + "/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// testWriter sends server logs to the test log.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// frame is a decoded server frame.
type frame map[string]any

func (f frame) str(key string) string {
	s, _ := f[key].(string)
	return s
}

func (f frame) num(key string) int64 {
	n, _ := f[key].(float64)
	return int64(n)
}

func (f frame) user(key string) (id, name string) {
	u, _ := f[key].(map[string]any)
	id, _ = u["id"].(string)
	name, _ = u["name"].(string)
	return id, name
}

// client is a parley.v1 WebSocket client for tests: a reader goroutine
// decodes frames into a channel.
type client struct {
	tb     testing.TB
	conn   *websocket.Conn
	frames chan frame
	closed chan struct{}
	// closeErr is how the connection ended, set before closed is closed.
	closeErr error
	welcome  frame
	nextID   atomic.Int64
}

const waitTimeout = 5 * time.Second

// dial connects with the parley.v1 subprotocol and reads the welcome.
func dial(tb testing.TB, s *testServer, query string) *client {
	tb.Helper()
	return dialSetup(tb, s, query, nil)
}

// dialSilent dials a client that never answers the server's pings, as a
// peer that vanished would; everything else works.
func dialSilent(tb testing.TB, s *testServer, query string) *client {
	tb.Helper()
	return dialSetup(tb, s, query, func(c *websocket.Conn) { c.SetPingHandler(func(string) error { return nil }) })
}

// dialSetup dials and runs setup on the connection before its reader
// starts (gorilla's handlers may not change while it reads).
func dialSetup(tb testing.TB, s *testServer, query string, setup func(*websocket.Conn)) *client {
	tb.Helper()
	c, resp, err := dialRaw(s, query, []string{"parley.v1"}, nil)
	if err != nil {
		tb.Fatalf("dial %s: %v (%s)", query, err, respBody(resp))
	}
	if setup != nil {
		setup(c)
	}
	cl := newClient(tb, c)
	cl.welcome = cl.expect("welcome")
	return cl
}

func dialRaw(s *testServer, query string, protocols []string, header http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: waitTimeout}
	return d.Dial(s.wsURL(query), header)
}

func respBody(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("HTTP %d %s", resp.StatusCode, b)
}

func newClient(tb testing.TB, c *websocket.Conn) *client {
	cl := &client{tb: tb, conn: c, frames: make(chan frame, 4096), closed: make(chan struct{})}
	go cl.read()
	tb.Cleanup(func() { c.Close() })
	return cl
}

func (c *client) read() {
	defer close(c.closed)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.closeErr = err
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			f = frame{"type": "_text", "text": string(data)}
		}
		c.frames <- f
	}
}

func (c *client) user() (id, name string) { return c.welcome.user("user") }

func (c *client) token() string { return c.welcome.str("token") }

func (c *client) sendJSON(v any) {
	c.tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.tb.Helper()
	if err := c.trySendRaw(b); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// trySendRaw writes b and returns the write's error, for a test in which
// the server may have closed the connection.
func (c *client) trySendRaw(b []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

func (c *client) id() string { return fmt.Sprintf("r%d", c.nextID.Add(1)) }

// next returns the next frame, failing the test after waitTimeout.
func (c *client) next() frame {
	c.tb.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.tb.Fatalf("connection closed while waiting for a frame: %v", c.closeErr)
	case <-time.After(waitTimeout):
		c.tb.Fatal("no frame within the timeout")
	}
	return nil
}

// expect returns the next frame of type typ, skipping presence and typing
// events, and fails on any other type.
func (c *client) expect(typ string) frame {
	c.tb.Helper()
	for {
		f := c.next()
		switch f.str("type") {
		case typ:
			return f
		case "presence", "typing":
			continue
		default:
			c.tb.Fatalf("want a %s frame, got %v", typ, f)
		}
	}
}

// quiet fails if a frame other than presence or typing arrives within d.
func (c *client) quiet(d time.Duration) {
	c.tb.Helper()
	deadline := time.After(d)
	for {
		select {
		case f := <-c.frames:
			if t := f.str("type"); t != "presence" && t != "typing" {
				c.tb.Fatalf("want no frame, got %v", f)
			}
		case <-deadline:
			return
		}
	}
}

// join joins room and returns the joined frame and the backlog that follows
// it: message frames up to and including seq head or, when replay is cut,
// the messages that arrive before the sentinel ping's pong.
func (c *client) join(room string, since *int64) (frame, []frame) {
	c.tb.Helper()
	req := map[string]any{"type": "join", "room": room, "id": c.id()}
	if since != nil {
		req["since"] = *since
	}
	c.sendJSON(req)
	joined := c.expect("joined")
	// A ping after the join is answered after the backlog, which the
	// server queued before reading the ping.
	pingID := c.id()
	c.sendJSON(map[string]any{"type": "ping", "id": pingID})
	var backlog []frame
	for {
		f := c.next()
		switch f.str("type") {
		case "message":
			backlog = append(backlog, f)
		case "pong":
			return joined, backlog
		case "presence", "typing":
		default:
			c.tb.Fatalf("unexpected frame during backlog: %v", f)
		}
	}
}

// send sends text into room with nonce and returns the ack, skipping the
// messages and events that arrive before it.
func (c *client) send(room, text, nonce string) frame {
	c.tb.Helper()
	id := c.id()
	c.sendJSON(map[string]any{"type": "send", "id": id, "room": room, "text": text, "nonce": nonce})
	for {
		f := c.next()
		switch f.str("type") {
		case "ack":
			if f.str("id") == id {
				return f
			} // an ack of an earlier send without waiting
		case "error":
			c.tb.Fatalf("send %q: %v", text, f)
		}
	}
}

// request sends v with a fresh id and returns the reply carrying that id.
func (c *client) request(v map[string]any) frame {
	c.tb.Helper()
	id := c.id()
	v["id"] = id
	c.sendJSON(v)
	for {
		f := c.next()
		if f.str("id") == id {
			return f
		}
	}
}

// messages collects n message frames, skipping everything else.
func (c *client) messages(n int) []frame {
	c.tb.Helper()
	var out []frame
	for len(out) < n {
		if f := c.next(); f.str("type") == "message" {
			out = append(out, f)
		}
	}
	return out
}

// closeCode waits for the connection to end and returns the close code the
// server sent, or -1 if it ended without one.
func (c *client) closeCode() int {
	c.tb.Helper()
	select {
	case <-c.closed:
	case <-time.After(waitTimeout):
		c.tb.Fatal("connection still open")
	}
	if ce, ok := c.closeErr.(*websocket.CloseError); ok {
		return ce.Code
	}
	return -1
}

// assertSeqs checks that msgs have the seqs from, from+1, ... in order.
func assertSeqs(tb testing.TB, msgs []frame, from int64) {
	tb.Helper()
	for i, m := range msgs {
		if got, want := m.num("seq"), from+int64(i); got != want {
			tb.Fatalf("message %d has seq %d, want %d (seqs must be contiguous and ordered)", i, got, want)
		}
	}
}

func queryName(name string) string { return "name=" + url.QueryEscape(name) }

func ptr[T any](v T) *T { return &v }
