package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// TestPipelinedSendsKeepOrder: a client that sends many messages without
// waiting has them stored in the order sent and acknowledged in that order,
// each ack after the sender's own copy of the message; a watcher sees them
// in the same order.
func TestPipelinedSendsKeepOrder(t *testing.T) {
	h, st := newTestHub(t, Options{Limits: protocol.Limits{Rate: 1e6, Burst: 1e6}})
	a, asnk := connect(t, h, user("alice"), ModeJSON)
	join(t, a, asnk, "r", nil)
	w, wsnk := connect(t, h, user("walt"), ModeJSON)
	join(t, w, wsnk, "r", nil)
	asnk.expect(t, protocol.TypePresence) // walt arrives

	const n = 3 * maxInflight // more than may be in flight at once
	for i := range n {
		a.Handle(context.Background(), fmt.Appendf(nil, `{"type":"send","id":"s%d","room":"r","text":"m%d","nonce":"n%d"}`, i, i, i))
	}
	seen := make(map[parley.Seq]bool)
	for acked := 0; acked < n; {
		var f struct {
			serverFrame
			ID string `json:"id"`
		}
		raw := asnk.next(t)
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatalf("frame %q: %v", raw, err)
		}
		switch f.Type {
		case protocol.TypeMessage:
			seen[f.Seq] = true
		case protocol.TypeAck:
			if want := fmt.Sprintf("s%d", acked); f.ID != want || f.Seq != parley.Seq(acked+1) {
				t.Fatalf("ack %s for seq %d, want %s for seq %d", f.ID, f.Seq, want, acked+1)
			}
			if !seen[f.Seq] {
				t.Fatalf("the ack of seq %d came before alice's own copy of it", f.Seq)
			}
			acked++
		default:
			t.Fatalf("unexpected %s frame", raw)
		}
	}
	for seq := parley.Seq(1); seq <= n; seq++ {
		f := wsnk.nextJSON(t)
		if f.Type != protocol.TypeMessage || f.Seq != seq || f.Text != fmt.Sprintf("m%d", seq-1) {
			t.Fatalf("walt got %+v, want message %d (m%d)", f, seq, seq-1)
		}
	}
	if head, err := st.Head(context.Background(), "r"); err != nil || head != n {
		t.Fatalf("head %d, %v; want %d", head, err, n)
	}
}

// TestAcksKeepOrderAcrossRooms: sends into different rooms are acknowledged
// in the order they were sent, though each ack follows its message through
// its own room's fan-out.
func TestAcksKeepOrderAcrossRooms(t *testing.T) {
	// Coalesce holds room a's next pass back after the message below,
	// while room b, quiet, flushes at once.
	h, st := newTestHub(t, Options{Coalesce: 300 * time.Millisecond, Limits: protocol.Limits{Rate: 1e6, Burst: 1e6}})
	s, snk := connect(t, h, user("alice"), ModeJSON)
	join(t, s, snk, "a", nil)
	join(t, s, snk, "b", nil)
	h.Deliver(appendMessage(t, st, "a", user("bob"), "x"))
	expectSeqs(t, snk, 1, 1)

	send := func(i int, room string) string {
		s.Handle(context.Background(), fmt.Appendf(nil, `{"type":"send","id":"s%d","room":%q,"text":"x","nonce":"n%d"}`, i, room, i))
		return fmt.Sprintf("s%d", i)
	}
	expectAcks := func(want []string) {
		t.Helper()
		var acks []string
		for len(acks) < len(want) {
			var f struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			}
			if raw := snk.next(t); json.Unmarshal(raw, &f) != nil {
				t.Fatalf("frame %q is not JSON", raw)
			}
			if f.Type == protocol.TypeAck {
				acks = append(acks, f.ID)
			}
		}
		if !slices.Equal(acks, want) {
			t.Fatalf("acks %v, want %v, the order of the sends", acks, want)
		}
	}
	var want []string
	for i, room := range []string{"a", "b", "a", "b"} {
		want = append(want, send(i, room))
	}
	expectAcks(want)

	// The same when the first ack's completer has nothing left to do by
	// the time the second send comes.
	time.Sleep(400 * time.Millisecond) // room a is quiet again
	h.Deliver(appendMessage(t, st, "a", user("bob"), "x"))
	expectSeqs(t, snk, 4, 4)
	want = []string{send(4, "a")}
	time.Sleep(100 * time.Millisecond) // stored; its ack waits for room a's pass
	expectAcks(append(want, send(5, "b")))
}
