package hub

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// This file holds what a principal does in rooms outside of a connection's
// own state: the operations the HTTP API calls, and the parts of the
// WebSocket frames that are the same whoever asks.

// appendAndDeliver stores a message and hands it to the room's local
// members. A repeated nonce returns the original message and delivers
// nothing.
func (h *Hub) appendAndDeliver(ctx context.Context, p parley.Principal, room, text, nonce string) (parley.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.StoreTimeout)
	defer cancel()
	stored, dup, err := h.store.Append(ctx, parley.Message{Room: room, From: p.User, Text: text, Nonce: nonce})
	if err != nil {
		return parley.Message{}, storeError("storing a message", err)
	}
	h.stored(stored, dup)
	return stored, nil
}

// stored delivers a message the store just took, unless it was a repeat.
func (h *Hub) stored(m parley.Message, dup bool) {
	if !dup {
		h.stats.received.Add(1)
		h.emit(event{Room: m.Room, Kind: evMessage, Message: &m})
	}
}

func (h *Hub) history(ctx context.Context, room string, before parley.Seq, limit int) ([]parley.Message, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.StoreTimeout)
	defer cancel()
	msgs, more, err := h.store.History(ctx, room, before, limit)
	if err != nil {
		return nil, false, storeError("reading history", err)
	}
	return msgs, more, nil
}

// Post stores text in room as p and delivers it, under the same rules as a
// WebSocket send (limits, nonce, rights); the rate limit is per user.
func (h *Hub) Post(ctx context.Context, p parley.Principal, room, text, nonce string) (parley.Message, error) {
	if err := parley.ValidateRoomName(room); err != nil {
		return parley.Message{}, err
	}
	if err := parley.ValidateText(text, h.limits.MaxText); err != nil {
		return parley.Message{}, err
	}
	if err := parley.ValidateNonce(nonce); err != nil {
		return parley.Message{}, err
	}
	if ok, wait := h.apiLimits.take(p.ID, h.now()); !ok {
		return parley.Message{}, &protocol.RateLimitError{RetryAfter: wait}
	}
	if _, err := h.admit(ctx, p, room, parley.ActSend, ""); err != nil {
		return parley.Message{}, err
	}
	return h.appendAndDeliver(ctx, p, room, text, nonce)
}

// History returns a page of room's history if p may read it.
func (h *Hub) History(ctx context.Context, p parley.Principal, room string, before parley.Seq, limit int) ([]parley.Message, bool, error) {
	if err := parley.ValidateRoomName(room); err != nil {
		return nil, false, err
	}
	if _, err := h.admit(ctx, p, room, parley.ActRead, ""); err != nil {
		return nil, false, err
	}
	return h.history(ctx, room, before, limit)
}

// CreateRoom creates a public or private room owned by p, with members.
func (h *Hub) CreateRoom(ctx context.Context, p parley.Principal, name string, kind parley.RoomKind, topic string, members []string) (parley.RoomMembership, error) {
	var none parley.RoomMembership
	if err := parley.ValidateRoomName(name); err != nil {
		return none, err
	}
	switch {
	case kind != parley.RoomPublic && kind != parley.RoomPrivate:
		return none, parley.Errorf(parley.EBADREQUEST, "kind must be public or private, not %q; open a direct conversation instead.", kind)
	case strings.HasPrefix(name, directPrefix):
		return none, parley.Errorf(parley.EBADREQUEST, "Room names starting with %s are kept for direct conversations.", directPrefix)
	case p.Kind == parley.KindGuest && kind != parley.RoomPublic:
		return none, parley.Errorf(parley.EFORBIDDEN, "Guests may only use public rooms; sign in to create a private one.")
	case !p.MayUseRoom(name):
		return none, parley.Errorf(parley.EFORBIDDEN, "Your token does not allow the room %s.", name)
	case len(members) > protocol.MaxMembers:
		return none, parley.Errorf(parley.EBADREQUEST, "A new room may name at most %d members; invite the rest later.", protocol.MaxMembers)
	}
	if err := parley.ValidateTopic(topic); err != nil {
		return none, err
	}
	for _, id := range members {
		if err := parley.ValidateUserID(id); err != nil {
			return none, err
		}
		u, userKind, err := h.store.User(ctx, id)
		if err != nil {
			if parley.ErrorCode(err) == parley.ENOTFOUND {
				return none, parley.Errorf(parley.ENOTFOUND, "There is no user with id %q.", id)
			}
			return none, storeError("reading a user", err)
		}
		if userKind == parley.KindGuest && kind != parley.RoomPublic {
			return none, errGuestTarget(u)
		}
	}
	room, err := h.store.CreateRoom(ctx, parley.Room{Name: name, Kind: kind, Topic: topic}, p.ID, members)
	if parley.ErrorCode(err) == parley.ECONFLICT {
		return none, parley.Errorf(parley.ECONFLICT, "The room %s exists already.", name)
	}
	if err != nil {
		return none, storeError("creating a room", err)
	}
	return parley.RoomMembership{Room: room, Role: parley.RoleOwner}, nil
}

// OpenDirect returns the direct room of p and the user peerID, creating it
// the first time either opens it.
func (h *Hub) OpenDirect(ctx context.Context, p parley.Principal, peerID string) (parley.Room, parley.User, error) {
	if p.Kind == parley.KindGuest {
		return parley.Room{}, parley.User{}, parley.Errorf(parley.EFORBIDDEN, "Guests may only use public rooms; sign in to talk directly.")
	}
	if err := parley.ValidateUserID(peerID); err != nil {
		return parley.Room{}, parley.User{}, err
	}
	if peerID == p.ID {
		return parley.Room{}, parley.User{}, parley.Errorf(parley.EBADREQUEST, "A direct conversation needs someone else.")
	}
	peer, peerKind, err := h.store.User(ctx, peerID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return parley.Room{}, parley.User{}, parley.Errorf(parley.ENOTFOUND, "There is no user with id %q.", peerID)
	}
	if err != nil {
		return parley.Room{}, parley.User{}, storeError("reading a user", err)
	}
	if peerKind == parley.KindGuest {
		return parley.Room{}, parley.User{}, errGuestTarget(peer)
	}
	name := parley.DirectRoomName(p.ID, peer.ID)
	room, err := h.store.CreateRoom(ctx, parley.Room{Name: name, Kind: parley.RoomDirect}, "", []string{p.ID, peer.ID})
	if parley.ErrorCode(err) == parley.ECONFLICT {
		room, err = h.store.Room(ctx, name)
	}
	if err != nil {
		return parley.Room{}, parley.User{}, storeError("opening a direct room", err)
	}
	return room, peer, nil
}

// Rooms lists the rooms p is a member of and may read.
func (h *Hub) Rooms(ctx context.Context, p parley.Principal) ([]parley.RoomMembership, error) {
	rooms, err := h.store.RoomsOf(ctx, p.ID)
	if err != nil {
		return nil, storeError("listing rooms", err)
	}
	// Only those p may read: a token limited to some rooms, or a guest made
	// a member of a private or direct room by someone else, must not even
	// learn the others' names and topics.
	out := rooms[:0]
	now := h.now()
	for _, r := range rooms {
		d := parley.Decision{Principal: p, Room: r.Room, Action: parley.ActRead, Member: parley.Membership{Role: r.Role}, Now: now}
		if parley.Authorize(d) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// DisconnectUser closes every connection of userID, e.g. when the account
// is disabled or its password changes.
func (h *Hub) DisconnectUser(userID string, code int, reason string) {
	for _, s := range h.snapshot() {
		if s.principal.ID == userID {
			s.Close(code, reason)
		}
	}
}

// userLimits rate-limits API posts per user, as connections are limited
// per connection. Buckets of users quiet for a minute are dropped.
type userLimits struct {
	limit rateLimit

	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

func (l *userLimits) take(userID string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil || len(l.buckets) > 10000 {
		for id, b := range l.buckets {
			if now.Sub(time.Unix(0, b.last)) > time.Minute {
				delete(l.buckets, id)
			}
		}
		if l.buckets == nil {
			l.buckets = make(map[string]*tokenBucket)
		}
	}
	b := l.buckets[userID]
	if b == nil {
		nb := newTokenBucket(l.limit, now)
		b = &nb
		l.buckets[userID] = b
	}
	return b.take(l.limit, now)
}
