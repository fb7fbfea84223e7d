package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
	"github.com/parleychat/parley/sqlite"
)

// waitFor bounds every wait in these tests; nothing should take close to it.
const waitFor = 5 * time.Second

var errSinkClosed = errors.New("sink: closed")

// sink is a hand-written Transport: each Write's buffers go into writes, in
// order. While blocked, Write waits (as on a peer that stopped reading) until
// unblock or Close. Close is recorded in closed.
type sink struct {
	writes  chan [][]byte
	waiting chan struct{} // a Write is held by the gate
	closed  chan struct{}

	mu        sync.Mutex
	gate      chan struct{} // non-nil while blocked
	closeOnce sync.Once

	pending [][]byte // frames taken from writes but not yet read; test goroutine only
}

func newSink() *sink {
	return &sink{
		writes:  make(chan [][]byte, 1<<14),
		waiting: make(chan struct{}, 1),
		closed:  make(chan struct{}),
	}
}

func (s *sink) Write(bufs net.Buffers) error {
	select {
	case <-s.closed:
		return errSinkClosed
	default:
	}
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case s.waiting <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-s.closed:
			return errSinkClosed
		}
	}
	select {
	case s.writes <- append([][]byte(nil), bufs...):
		return nil
	case <-s.closed:
		return errSinkClosed
	}
}

func (s *sink) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// block makes the next Writes wait until unblock or Close.
func (s *sink) block() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

func (s *sink) unblock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// awaitWaiting returns once a Write is held by the gate.
func (s *sink) awaitWaiting(tb testing.TB) {
	tb.Helper()
	select {
	case <-s.waiting:
	case <-time.After(waitFor):
		tb.Fatal("no Write reached the blocked transport")
	}
}

// nextWrite returns the buffers of the next Write call.
func (s *sink) nextWrite(tb testing.TB) [][]byte {
	tb.Helper()
	if len(s.pending) > 0 {
		tb.Fatalf("nextWrite with %d frames of an earlier write unread", len(s.pending))
	}
	select {
	case w := <-s.writes:
		return w
	case <-time.After(waitFor):
		tb.Fatal("timed out waiting for a Write")
		return nil
	}
}

// next returns the next frame written, whichever Write carried it.
func (s *sink) next(tb testing.TB) []byte {
	tb.Helper()
	for len(s.pending) == 0 {
		select {
		case w := <-s.writes:
			s.pending = w
		case <-time.After(waitFor):
			tb.Fatal("timed out waiting for a frame")
		}
	}
	f := s.pending[0]
	s.pending = s.pending[1:]
	return f
}

// awaitClosed returns once Close has been called.
func (s *sink) awaitClosed(tb testing.TB) {
	tb.Helper()
	select {
	case <-s.closed:
	case <-time.After(waitFor):
		tb.Fatal("the transport was not closed")
	}
}

func (s *sink) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// noMoreWrites reports a Write left in the channel: call it once the
// transport is closed, when nothing can be written any more.
func (s *sink) noMoreWrites(tb testing.TB) {
	tb.Helper()
	if len(s.pending) > 0 {
		tb.Fatalf("unread frames: %q", s.pending)
	}
	select {
	case w := <-s.writes:
		tb.Fatalf("unexpected write %q", w)
	default:
	}
}

// marker is a control frame pushed to prove that nothing was queued before
// it: a session's queue is FIFO, so if the next frame is the marker, whatever
// the test just did sent that session nothing.
var marker = []byte("marker")

func expectMarker(tb testing.TB, s *Session, snk *sink) {
	tb.Helper()
	s.PushControl(marker)
	if f := snk.next(tb); !bytes.Equal(f, marker) {
		tb.Fatalf("got %s, want nothing before the marker", f)
	}
}

// serverFrame holds the fields of every server frame these tests read.
type serverFrame struct {
	Type   string        `json:"type"`
	Room   string        `json:"room"`
	Seq    parley.Seq    `json:"seq"`
	Head   parley.Seq    `json:"head"`
	Event  string        `json:"event"`
	User   parley.User   `json:"user"`
	From   parley.User   `json:"from"`
	Text   string        `json:"text"`
	Online []parley.User `json:"online"`
	Count  int           `json:"online_count"`
}

func decodeFrame(tb testing.TB, b []byte) serverFrame {
	tb.Helper()
	var f serverFrame
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("frame %q is not JSON: %v", b, err)
	}
	return f
}

func (s *sink) nextJSON(tb testing.TB) serverFrame {
	tb.Helper()
	return decodeFrame(tb, s.next(tb))
}

// expect reads the next frame and fails unless it has type typ.
func (s *sink) expect(tb testing.TB, typ string) serverFrame {
	tb.Helper()
	f := s.nextJSON(tb)
	if f.Type != typ {
		tb.Fatalf("got a %q frame %+v, want %q", f.Type, f, typ)
	}
	return f
}

// expectClose reads frames until the raw framer's close frame and returns
// it ("close CODE reason"), failing on anything else in between.
func (s *sink) expectClose(tb testing.TB, code string) {
	tb.Helper()
	f := string(s.next(tb))
	if !strings.HasPrefix(f, "close "+code+" ") {
		tb.Fatalf("got %q, want a close frame with code %s", f, code)
	}
}

func openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Error(err)
		}
	})
	return st
}

// newTestHub returns a hub on a fresh store with the raw framer; every
// session still open when the test ends is shut down before the store closes.
func newTestHub(tb testing.TB, opts Options) (*Hub, *sqlite.Store) {
	tb.Helper()
	st := openStore(tb)
	h := New(st, opts)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			tb.Error(err)
		}
	})
	return h, st
}

func user(name string) parley.User { return parley.User{ID: "id-" + name, Name: name} }

// connect opens a session on a fresh sink; a JSON session's welcome is read.
func connect(tb testing.TB, h *Hub, u parley.User, mode Mode) (*Session, *sink) {
	tb.Helper()
	snk := newSink()
	s, err := h.Connect(context.Background(), snk, ConnInfo{Principal: parley.Principal{User: u, Kind: parley.KindGuest}, Mode: mode, Remote: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	if mode == ModeJSON {
		snk.expect(tb, protocol.TypeWelcome)
	}
	return s, snk
}

// join joins room, replaying after since (nil: the recent tail), and reads
// the joined frame.
func join(tb testing.TB, s *Session, snk *sink, room string, since *parley.Seq) serverFrame {
	tb.Helper()
	if err := s.join(context.Background(), protocol.ClientFrame{Type: protocol.TypeJoin, Room: room, Since: since}); err != nil {
		tb.Fatal(err)
	}
	return snk.expect(tb, protocol.TypeJoined)
}

func appendMessage(tb testing.TB, st *sqlite.Store, room string, from parley.User, text string) parley.Message {
	tb.Helper()
	m, _, err := st.Append(context.Background(), parley.Message{Room: room, From: from, Text: text})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// expectSeqs reads message frames and fails unless their seqs are from..to
// in order.
func expectSeqs(tb testing.TB, snk *sink, from, to parley.Seq) {
	tb.Helper()
	for want := from; want <= to; want++ {
		f := snk.nextJSON(tb)
		if f.Type != protocol.TypeMessage || f.Seq != want {
			tb.Fatalf("got %s frame seq %d, want message seq %d", f.Type, f.Seq, want)
		}
	}
}

// awaitGoroutines polls until no more goroutines run than baseline.
func awaitGoroutines(tb testing.TB, baseline int) {
	tb.Helper()
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			tb.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }
