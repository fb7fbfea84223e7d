package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

func message(room string, seq parley.Seq) parley.Message {
	return parley.Message{Room: room, Seq: seq, From: user("bob"), Text: "hi", TS: time.Unix(0, 0)}
}

func TestSequencerOrdersAndDropsDuplicates(t *testing.T) {
	h, _ := newTestHub(t, Options{})
	s, snk := connect(t, h, user("alice"), ModeJSON)
	join(t, s, snk, "r", nil)

	for _, seq := range []parley.Seq{3, 1, 3, 2, 1, 2, 3} {
		h.Deliver(message("r", seq))
	}
	expectSeqs(t, snk, 1, 3)
	expectMarker(t, s, snk)

	// A duplicate of a message still waiting for its gap is dropped too.
	for _, seq := range []parley.Seq{5, 5, 4, 5} {
		h.Deliver(message("r", seq))
	}
	expectSeqs(t, snk, 4, 5)
	expectMarker(t, s, snk)
}

func TestSequencerFillsGapFromStore(t *testing.T) {
	h, st := newTestHub(t, Options{})
	s, snk := connect(t, h, user("alice"), ModeJSON)
	join(t, s, snk, "r", nil)

	var last parley.Message
	for i := range 3 {
		last = appendMessage(t, st, "r", user("bob"), "m"+string(rune('1'+i)))
	}
	start := time.Now()
	h.Deliver(last) // 1 and 2 never arrive: their deliveries were lost
	expectSeqs(t, snk, 1, 3)
	if waited := time.Since(start); waited < gapWait {
		t.Fatalf("the gap was filled after %v, before gapWait (%v)", waited, gapWait)
	}
	expectMarker(t, s, snk)
}

// TestResumeSeam joins with since while another goroutine stores and
// delivers messages: the joiner must get every seq after since exactly once,
// in order, whether the backlog comes from the recent cache or the store.
func TestResumeSeam(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after int // messages delivered before the join, and during it
		since         parley.Seq
	}{
		{"cache", 200, 300, 50},
		{"store", recentSize + 200, 300, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, st := newTestHub(t, Options{MaxReplay: 1 << 20})
			// A first member loads the room and keeps it alive.
			a, asnk := connect(t, h, user("alice"), ModeJSON)
			join(t, a, asnk, "r", nil)
			produce := func(n int) {
				for range n {
					h.Deliver(appendMessage(t, st, "r", user("alice"), "x"))
				}
			}
			produce(tc.before)
			if cached := inRecentCache(h, "r", tc.since+1); cached != (tc.name == "cache") {
				t.Fatalf("backlog in the recent cache: %v; this case is meant to test the %s path", cached, tc.name)
			}

			b, bsnk := connect(t, h, user("bob"), ModeJSON)
			var wg sync.WaitGroup
			wg.Go(func() { produce(tc.after) })
			joined := join(t, b, bsnk, "r", ptr(tc.since))
			if joined.Head < parley.Seq(tc.before) {
				t.Fatalf("joined head %d, want at least %d", joined.Head, tc.before)
			}
			wg.Wait()
			expectSeqs(t, bsnk, tc.since+1, parley.Seq(tc.before+tc.after))
			expectMarker(t, b, bsnk)
		})
	}
}

func inRecentCache(h *Hub, room string, from parley.Seq) bool {
	h.mu.Lock()
	r := h.rooms[room]
	h.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.recentLocked(from, r.taken)
	return ok
}

func TestReplayTail(t *testing.T) {
	h, st := newTestHub(t, Options{ReplayTail: 5, MaxReplay: 20})
	for range 30 {
		appendMessage(t, st, "r", user("bob"), "x")
	}
	s, snk := connect(t, h, user("alice"), ModeJSON)
	if f := join(t, s, snk, "r", nil); f.Head != 30 {
		t.Fatalf("head %d, want 30", f.Head)
	}
	expectSeqs(t, snk, 26, 30)
	expectMarker(t, s, snk)
	// since older than MaxReplay replays only the newest MaxReplay.
	join(t, s, snk, "r", ptr[parley.Seq](0))
	expectSeqs(t, snk, 11, 30)
	expectMarker(t, s, snk)
}

func TestPresenceCountsConnections(t *testing.T) {
	const linger = 200 * time.Millisecond
	h, _ := newTestHub(t, Options{PresenceLinger: linger})
	b, bsnk := connect(t, h, user("bob"), ModeJSON)
	join(t, b, bsnk, "r", nil)

	a1, a1snk := connect(t, h, user("alice"), ModeJSON)
	if f := join(t, a1, a1snk, "r", nil); len(f.Online) != 2 {
		t.Fatalf("online %v, want bob and alice", f.Online)
	}
	if f := bsnk.expect(t, protocol.TypePresence); f.Event != protocol.PresenceJoin || f.User != user("alice") {
		t.Fatalf("presence %+v, want alice joining", f)
	}

	a2, a2snk := connect(t, h, user("alice"), ModeJSON)
	if f := join(t, a2, a2snk, "r", nil); len(f.Online) != 2 {
		t.Fatalf("online %v, want bob and alice once", f.Online)
	}
	expectMarker(t, b, bsnk)   // alice's second connection is not news
	expectMarker(t, a1, a1snk) // nor is alice told about herself

	if err := a1.leave(protocol.ClientFrame{Type: protocol.TypeLeave, Room: "r"}); err != nil {
		t.Fatal(err)
	}
	a1snk.expect(t, protocol.TypeLeft)
	expectMarker(t, b, bsnk) // alice is still there on a2

	a2.Close(protocol.CloseNormal, "") // leaving by disconnecting
	<-a2.Done()
	start := time.Now()
	if f := bsnk.expect(t, protocol.TypePresence); f.Event != protocol.PresenceLeave || f.User != user("alice") {
		t.Fatalf("presence %+v, want alice leaving", f)
	}
	if d := time.Since(start); d < linger/2 {
		t.Errorf("alice left presence %v after her connection dropped, want about %v", d, linger)
	}
	expectMarker(t, b, bsnk)
}

// TestPresenceLingersForReconnect: a user whose connection drops and who is
// back within the linger was never away for the others; one who leaves on
// purpose is gone at once.
func TestPresenceLingersForReconnect(t *testing.T) {
	h, _ := newTestHub(t, Options{PresenceLinger: time.Minute})
	b, bsnk := connect(t, h, user("bob"), ModeJSON)
	join(t, b, bsnk, "r", nil)
	a, asnk := connect(t, h, user("alice"), ModeJSON)
	join(t, a, asnk, "r", nil)
	bsnk.expect(t, protocol.TypePresence) // alice joins

	a.Close(protocol.CloseNormal, "")
	<-a.Done()
	c, csnk := connect(t, h, user("carol"), ModeJSON)
	if f := join(t, c, csnk, "r", nil); len(f.Online) != 3 {
		t.Fatalf("online %v, want bob, alice (lingering) and carol", f.Online)
	}
	if f := bsnk.expect(t, protocol.TypePresence); f.Event != protocol.PresenceJoin || f.User != user("carol") {
		t.Fatalf("presence %+v, want carol joining and nothing about alice", f)
	}
	a, asnk = connect(t, h, user("alice"), ModeJSON)
	join(t, a, asnk, "r", nil)
	if err := c.leave(protocol.ClientFrame{Type: protocol.TypeLeave, Room: "r"}); err != nil {
		t.Fatal(err)
	}
	// Alice's return was not news; carol's leave is, at once.
	if f := bsnk.expect(t, protocol.TypePresence); f.Event != protocol.PresenceLeave || f.User != user("carol") {
		t.Fatalf("presence %+v, want carol leaving and nothing about alice", f)
	}
}

// clock is a settable Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestTypingThrottledAndNotEchoed(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	h, _ := newTestHub(t, Options{Now: clk.Now})
	b, bsnk := connect(t, h, user("bob"), ModeJSON)
	join(t, b, bsnk, "r", nil)
	a1, a1snk := connect(t, h, user("alice"), ModeJSON)
	join(t, a1, a1snk, "r", nil)
	a2, a2snk := connect(t, h, user("alice"), ModeJSON)
	join(t, a2, a2snk, "r", nil)
	bsnk.expect(t, protocol.TypePresence)

	typing := protocol.ClientFrame{Type: protocol.TypeTyping, Room: "r"}
	if err := a1.typing(typing); err != nil {
		t.Fatal(err)
	}
	if f := bsnk.expect(t, protocol.TypeTyping); f.User != user("alice") || f.Room != "r" {
		t.Fatalf("typing %+v, want alice in r", f)
	}
	expectMarker(t, a1, a1snk) // not to the typer
	expectMarker(t, a2, a2snk) // nor to the typer's other connections

	clk.advance(typingInterval - time.Millisecond)
	a1.typing(typing)
	expectMarker(t, b, bsnk) // throttled

	a2.typing(typing) // the throttle is per connection
	bsnk.expect(t, protocol.TypeTyping)

	clk.advance(time.Millisecond)
	a1.typing(typing)
	bsnk.expect(t, protocol.TypeTyping)
	expectMarker(t, b, bsnk)

	if err := a1.typing(protocol.ClientFrame{Type: protocol.TypeTyping, Room: "elsewhere"}); parley.ErrorCode(err) != parley.EFORBIDDEN {
		t.Fatalf("typing in a room not joined: %v, want %s", err, parley.EFORBIDDEN)
	}
}

func TestTextModeGetsNoPresenceOrTyping(t *testing.T) {
	h, _ := newTestHub(t, Options{})
	txt, txtsnk := connect(t, h, user("carol"), ModeText) // joins the lobby
	a, asnk := connect(t, h, user("alice"), ModeJSON)
	if f := join(t, a, asnk, parley.Lobby, nil); len(f.Online) != 2 {
		t.Fatalf("online %v, want carol and alice", f.Online)
	}
	a.typing(protocol.ClientFrame{Type: protocol.TypeTyping, Room: parley.Lobby})
	if err := a.leave(protocol.ClientFrame{Type: protocol.TypeLeave, Room: parley.Lobby}); err != nil {
		t.Fatal(err)
	}
	expectMarker(t, txt, txtsnk) // no presence join, typing or presence leave

	// Messages do reach text mode, as lines.
	h.Deliver(message(parley.Lobby, 1))
	if got := string(txtsnk.next(t)); got != "bob: hi" {
		t.Fatalf("text mode got %q, want %q", got, "bob: hi")
	}
}

func TestShutdownClosesAfterQueuedFrames(t *testing.T) {
	h, _ := newTestHub(t, Options{})
	var sinks []*sink
	for _, name := range []string{"alice", "bob"} {
		s, snk := connect(t, h, user(name), ModeJSON)
		s.PushControl([]byte("queued"))
		sinks = append(sinks, snk)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, snk := range sinks {
		if f := string(snk.next(t)); f != "queued" {
			t.Fatalf("got %q, want the queued frame first", f)
		}
		snk.expectClose(t, "1001")
		snk.awaitClosed(t)
		snk.noMoreWrites(t)
	}
	if _, err := h.Connect(ctx, newSink(), ConnInfo{Principal: parley.Principal{User: user("late"), Kind: parley.KindGuest}}); err != ErrStopping {
		t.Fatalf("Connect after Shutdown: %v, want ErrStopping", err)
	}
	if st := h.Stats(); st.Connections != 0 || st.Rooms != 0 {
		t.Fatalf("stats after Shutdown %+v, want no connections or rooms", st)
	}
}

func TestShutdownDeadlineAbortsStuckSessions(t *testing.T) {
	h, _ := newTestHub(t, Options{})
	ok, _ := connect(t, h, user("alice"), ModeJSON)
	stuck := newSink()
	stuck.block() // a peer that never reads: even the welcome stays unwritten
	s, err := h.Connect(context.Background(), stuck, ConnInfo{Principal: parley.Principal{User: user("bob"), Kind: parley.KindGuest}})
	if err != nil {
		t.Fatal(err)
	}
	stuck.awaitWaiting(t)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	stuck.awaitClosed(t)
	select {
	case <-s.Done():
	case <-time.After(waitFor):
		t.Fatal("the stuck session never finished")
	}
	stuck.noMoreWrites(t)
	// The healthy session was closed or, if the deadline came first, aborted.
	select {
	case <-ok.Done():
	case <-time.After(waitFor):
		t.Fatal("the healthy session never finished")
	}
}

// TestJoinRacingCloseLeavesNoGhost runs, in order, an interleaving the read
// loop and the writer can produce: Session.join has found the connection open
// and recorded the room, then the connection ends and its cleanup leaves
// every room, and only then does room.join run.
func TestJoinRacingCloseLeavesNoGhost(t *testing.T) {
	h, _ := newTestHub(t, Options{})
	b, bsnk := connect(t, h, user("bob"), ModeJSON)
	join(t, b, bsnk, "r", nil)

	a, _ := connect(t, h, user("alice"), ModeJSON)
	r, err := h.acquire("r")
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.rooms = a.rooms.add(r)
	a.mu.Unlock()
	a.Abort()
	<-a.Done()
	if err := r.join(context.Background(), a, "", nil, true, admission{room: parley.Room{Name: "r", Kind: parley.RoomPublic}}); err != nil {
		t.Fatal(err)
	}

	expectMarker(t, b, bsnk) // no presence for a connection that is gone
	c, csnk := connect(t, h, user("carol"), ModeJSON)
	if f := join(t, c, csnk, "r", nil); len(f.Online) != 2 {
		t.Fatalf("online %v, want bob and carol: alice's connection is closed", f.Online)
	}
}

// TestPresenceLimit: a room over the limit announces no arrivals or
// departures, and its joined frames list the first arrivals and count all.
func TestPresenceLimit(t *testing.T) {
	h, _ := newTestHub(t, Options{PresenceLimit: 2, PresenceLinger: -1})
	a, asnk := connect(t, h, user("alice"), ModeJSON)
	join(t, a, asnk, "r", nil)
	b, bsnk := connect(t, h, user("bob"), ModeJSON)
	join(t, b, bsnk, "r", nil)
	if f := asnk.expect(t, protocol.TypePresence); f.User != user("bob") {
		t.Fatalf("presence %+v, want bob joining", f)
	}
	c, csnk := connect(t, h, user("carol"), ModeJSON)
	f := join(t, c, csnk, "r", nil)
	if f.Count != 3 || len(f.Online) != 2 || f.Online[0] != user("alice") || f.Online[1] != user("bob") {
		t.Fatalf("joined lists %v and counts %d, want alice and bob of 3", f.Online, f.Count)
	}
	c.Close(protocol.CloseNormal, "")
	<-c.Done()
	expectMarker(t, a, asnk) // nothing about carol, coming or going
	b.Close(protocol.CloseNormal, "")
	<-b.Done()
	if f := asnk.expect(t, protocol.TypePresence); f.Event != protocol.PresenceLeave || f.User != user("bob") {
		t.Fatalf("presence %+v, want bob leaving, the room being under the limit again", f)
	}
}

// TestOnlineOrderAfterDepartures: the online list stays in arrival order
// while users leave (the departed are swept from the arrival list in bulk)
// and come back (at the end, as new arrivals).
func TestOnlineOrderAfterDepartures(t *testing.T) {
	h, _ := newTestHub(t, Options{PresenceLinger: -1})
	r, err := h.acquire("r")
	if err != nil {
		t.Fatal(err)
	}
	defer h.release(r)
	names := func() []string {
		r.mu.Lock()
		defer r.mu.Unlock()
		var out []string
		for _, u := range r.onlineLocked() {
			out = append(out, u.Name)
		}
		return out
	}
	r.mu.Lock()
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		r.addLocalLocked(user(n))
	}
	for _, n := range []string{"b", "d", "e", "a"} { // the fourth departure sweeps
		r.removeLocalLocked(user(n), false)
	}
	r.addLocalLocked(user("b"))
	r.removeLocalLocked(user("c"), false)
	r.mu.Unlock()
	if got, want := names(), []string{"f", "b"}; !slices.Equal(got, want) {
		t.Fatalf("online %v, want %v", got, want)
	}
	if len(r.arrivals) > 4 {
		t.Fatalf("%d entries in arrivals for 2 online users: the departed are never swept", len(r.arrivals))
	}
}

// historyFrame is a history reply as these tests read it.
type historyFrame struct {
	Type     string `json:"type"`
	Messages []struct {
		Seq parley.Seq `json:"seq"`
	} `json:"messages"`
	More bool `json:"more"`
}

// TestReplayAndHistoryBoundedByBytes: messages of the longest text, which
// JSON escaping makes six times longer, must not overflow the connection's
// queue when a resume or a history page carries many of them. The replay
// is the newest that fit, and history pages back to the oldest.
func TestReplayAndHistoryBoundedByBytes(t *testing.T) {
	const n = 200
	h, st := newTestHub(t, Options{})
	text := strings.Repeat("<", h.limits.MaxText) // \u003c on the wire
	for range n {
		appendMessage(t, st, "r", user("bob"), text)
	}
	// The bound is on the messages; a history frame wraps them in a few
	// bytes more.
	bound, envelope := h.opts.QueueBytes/4, 100

	s, snk := connect(t, h, user("alice"), ModeJSON)
	if f := join(t, s, snk, "r", ptr[parley.Seq](0)); f.Head != n {
		t.Fatalf("head %d, want %d", f.Head, n)
	}
	s.PushControl(marker)
	got := make(map[parley.Seq]bool)
	first, size := parley.Seq(0), 0
	for {
		raw := snk.next(t)
		if bytes.Equal(raw, marker) {
			break
		}
		f := decodeFrame(t, raw)
		if f.Type != protocol.TypeMessage || first != 0 && f.Seq != first+parley.Seq(len(got)) {
			t.Fatalf("got %s frame seq %d after %d replayed from %d, want the next message", f.Type, f.Seq, len(got), first)
		}
		if first == 0 {
			first = f.Seq
		}
		got[f.Seq] = true
		size += len(raw)
	}
	if first+parley.Seq(len(got))-1 != n {
		t.Fatalf("replayed %d messages from %d, want the newest up to %d", len(got), first, n)
	}
	if size > bound {
		t.Fatalf("replayed %d bytes, over the bound of %d", size, bound)
	}
	if first <= 1 {
		t.Fatalf("replayed all %d messages (%d bytes); the test needs more than the bound", len(got), size)
	}

	// The client pages back from the first seq it got, as protocol.md says.
	for before, more := first, true; more; {
		s.Handle(context.Background(), fmt.Appendf(nil, `{"type":"history","id":"h","room":"r","before":%d,"limit":200}`, before))
		raw := snk.next(t)
		var page historyFrame
		if err := json.Unmarshal(raw, &page); err != nil || page.Type != protocol.TypeHistory {
			t.Fatalf("got %.200s, want a history page", raw)
		}
		if len(raw) > bound+envelope {
			t.Fatalf("a history page of %d bytes, over the bound of %d", len(raw), bound)
		}
		if len(page.Messages) == 0 || page.Messages[len(page.Messages)-1].Seq != before-1 {
			t.Fatalf("page before %d: %d messages ending at %v", before, len(page.Messages), page.Messages)
		}
		for i, m := range page.Messages {
			if got[m.Seq] || i > 0 && m.Seq != page.Messages[i-1].Seq+1 {
				t.Fatalf("page before %d repeats or skips at seq %d", before, m.Seq)
			}
			got[m.Seq] = true
		}
		before, more = page.Messages[0].Seq, page.More
	}
	if len(got) != n {
		t.Fatalf("replay and history gave %d messages, want all %d", len(got), n)
	}
	// The newest page too.
	s.Handle(context.Background(), []byte(`{"type":"history","id":"h","room":"r","limit":200}`))
	raw := snk.next(t)
	var page historyFrame
	if err := json.Unmarshal(raw, &page); err != nil || page.Type != protocol.TypeHistory {
		t.Fatalf("got %.200s, want a history page", raw)
	}
	if len(page.Messages) == 0 || page.Messages[len(page.Messages)-1].Seq != n || !page.More || len(raw) > bound+envelope {
		t.Fatalf("the newest page: %d messages ending at %v, more %v, %d bytes; want the newest up to %d, more, within %d bytes",
			len(page.Messages), page.Messages, page.More, len(raw), n, bound)
	}
	if snk.isClosed() {
		t.Fatal("the connection was closed")
	}
	expectMarker(t, s, snk)
}
