package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/parleychat/parley"
)

// Every change to a room that members on other nodes must see travels as
// an event: the node where it happens applies it at once and publishes it;
// every other node applies it when the broker delivers it. Messages carry
// their seq, so the room's sequencer orders them and fills gaps from the
// store; everything else is applied as it comes.

// Event kinds.
const (
	evMessage = "msg"     // a stored message
	evFrame   = "frame"   // a frame for members, with side effects
	evHere    = "here"    // a user's first connection on a node joined
	evGone    = "gone"    // a user's last connection on a node left
	evRefresh = "refresh" // the users a node has in the room, periodically
	evSync    = "sync"    // a node asks the others for a refresh
)

// A node tells the others whom it has in each room every
// Options.PresenceRefresh; an entry not refreshed for presenceTTL of those
// intervals is dropped, so the users of a node that died leave presence
// within about presenceTTL intervals plus one sweep.
const (
	presenceTTL = 2.5
	// sweepsPerRefresh is how often expired entries are looked for.
	sweepsPerRefresh = 5
)

// event is one room change on the wire between nodes.
type event struct {
	Node string `json:"node"`
	Room string `json:"room"`
	Kind string `json:"kind"`

	Message *parley.Message `json:"message,omitempty"` // msg; for frame: an edited or deleted message
	Frame   json.RawMessage `json:"frame,omitempty"`   // frame: the JSON to send to members
	Except  string          `json:"except,omitempty"`  // frame: a user not to send it to
	User    *parley.User    `json:"user,omitempty"`    // here, gone; frame: whose standing changed
	// Standing is the user's new membership; Evict removes their
	// connections from the room after the frame.
	Standing *parley.Membership `json:"standing,omitempty"`
	Evict    bool               `json:"evict,omitempty"`
	Topic    *string            `json:"topic,omitempty"`
	Users    []parley.User      `json:"users,omitempty"` // refresh
}

func newNodeID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// publishTimeout bounds a publish, so a broker outage slows a send by at
// most this much; the other nodes catch up from the store.
const publishTimeout = time.Second

// publish sends ev to the other nodes. A failure is logged, not returned:
// what was stored stays stored, and the other nodes catch up on the next
// seq they see or when the broker reconnects.
func (h *Hub) publish(ev event) {
	if !h.clustered {
		return
	}
	ev.Node = h.node
	data, err := json.Marshal(ev)
	if err != nil {
		h.log.Error("encoding a room event", "room", ev.Room, "kind", ev.Kind, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := h.broker.Publish(ctx, ev.Room, data); err != nil {
		h.stats.publishErrors.Add(1)
		h.log.Warn("publishing a room event", "room", ev.Room, "kind", ev.Kind, "err", err)
	}
}

// emit applies a room change here and publishes it to the other nodes.
func (h *Hub) emit(ev event) {
	h.apply(ev)
	h.publish(ev)
}

// receive applies an event from another node.
func (h *Hub) receive(_ string, data []byte) {
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		h.log.Warn("dropping a malformed room event from the broker", "err", err)
		return
	}
	if ev.Node == h.node {
		return // applied when it was emitted
	}
	h.apply(ev)
}

// apply makes ev true for this node's members of the room.
func (h *Hub) apply(ev event) {
	r := h.openRoom(ev.Room)
	if r == nil {
		return // nobody here is in the room
	}
	switch ev.Kind {
	case evMessage:
		if ev.Message != nil {
			r.deliver(*ev.Message)
		}
	case evFrame:
		r.applyFrame(ev)
		if ev.Evict && ev.User != nil {
			h.evict(ev.Room, ev.User.ID)
		}
	case evHere, evGone, evRefresh, evSync:
		r.applyPresence(ev)
	}
}

// caughtUp runs after the broker (re)connects: anything published while
// this node was cut off is in the store, so each room reads what it missed.
func (h *Hub) caughtUp() {
	h.mu.Lock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	for _, r := range rooms {
		r.catchUp()
		h.publish(event{Room: r.name, Kind: evSync})
	}
}

// runPresence refreshes this node's presence entries on the other nodes and
// drops theirs that expired, until ctx ends.
func (h *Hub) runPresence(ctx context.Context) {
	t := time.NewTicker(h.opts.PresenceRefresh / sweepsPerRefresh)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		rooms := make([]*room, 0, len(h.rooms))
		for _, r := range h.rooms {
			rooms = append(rooms, r)
		}
		h.mu.Unlock()
		for _, r := range rooms {
			r.expireRemote()
			if tick%sweepsPerRefresh != 0 {
				continue
			}
			if users := r.localUsers(); len(users) > 0 {
				h.publish(event{Room: r.name, Kind: evRefresh, Users: users})
			}
		}
	}
}
