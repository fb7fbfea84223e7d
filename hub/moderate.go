package hub

import (
	"context"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// actionOf maps moderation frames to the action parley.Authorize checks.
var actionOf = map[string]parley.Action{
	protocol.TypeInvite:  parley.ActInvite,
	protocol.TypeKick:    parley.ActKick,
	protocol.TypeBan:     parley.ActBan,
	protocol.TypeUnban:   parley.ActBan,
	protocol.TypeMute:    parley.ActMute,
	protocol.TypeSetRole: parley.ActSetRole,
}

// Act performs a room action decoded from a frame: invite, kick, ban,
// unban, mute, set_role, topic, edit or delete, as p. The WebSocket and the
// HTTP API both come here, so both get the same checks.
func (h *Hub) Act(ctx context.Context, p parley.Principal, f protocol.ClientFrame) error {
	switch f.Type {
	case protocol.TypeTopic:
		return h.SetTopic(ctx, p, f.Room, f.Topic)
	case protocol.TypeEdit:
		return h.Edit(ctx, p, f.Room, f.Seq, f.Text)
	case protocol.TypeDelete:
		return h.Delete(ctx, p, f.Room, f.Seq)
	}
	return h.Moderate(ctx, p, f)
}

// Moderate performs invite, kick, ban, unban, mute or set_role on the user
// f.User in f.Room as p, after checking p's rights over that user, and tells
// the room.
func (h *Hub) Moderate(ctx context.Context, p parley.Principal, f protocol.ClientFrame) error {
	act, ok := actionOf[f.Type]
	if !ok {
		return parley.Errorf(parley.EBADREQUEST, "%s is not a moderation action.", f.Type)
	}
	if f.User == p.ID {
		return parley.Errorf(parley.EBADREQUEST, "You can't %s yourself.", f.Type)
	}
	adm, err := h.admit(ctx, p, f.Room, act, f.User)
	if err != nil {
		return err
	}
	target, targetKind, err := h.store.User(ctx, f.User)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return parley.Errorf(parley.ENOTFOUND, "There is no user with id %q.", f.User)
	}
	if err != nil {
		return storeError("reading a user", err)
	}
	member := adm.target.Role != parley.RoleNone
	ev := protocol.MemberEvent{Type: protocol.TypeMember, Room: f.Room, User: target, By: p.User}
	standing := adm.target
	switch f.Type {
	case protocol.TypeInvite:
		if adm.target.Banned {
			return parley.Errorf(parley.ECONFLICT, "%s is banned from %s; unban them first.", target.Name, f.Room)
		}
		if member {
			return parley.Errorf(parley.ECONFLICT, "%s is in %s already.", target.Name, f.Room)
		}
		if targetKind == parley.KindGuest && adm.room.Kind != parley.RoomPublic {
			return errGuestTarget(target)
		}
		ev.Event, standing.Role = protocol.MemberInvited, parley.RoleMember
		err = h.store.SetRole(ctx, f.Room, f.User, parley.RoleMember)
	case protocol.TypeKick:
		if !member {
			return parley.Errorf(parley.ENOTFOUND, "%s is not in %s.", target.Name, f.Room)
		}
		ev.Event, standing.Role = protocol.MemberKicked, parley.RoleNone
		err = h.store.SetRole(ctx, f.Room, f.User, parley.RoleNone)
	case protocol.TypeBan:
		ev.Event, standing.Role, standing.Banned = protocol.MemberBanned, parley.RoleNone, true
		err = h.store.SetBanned(ctx, f.Room, f.User, true)
	case protocol.TypeUnban:
		ev.Event, standing.Banned = protocol.MemberUnbanned, false
		err = h.store.SetBanned(ctx, f.Room, f.User, false)
	case protocol.TypeMute:
		standing.MutedUntil = time.Time{}
		if f.Seconds > 0 {
			standing.MutedUntil = h.now().Add(time.Duration(f.Seconds) * time.Second).UTC().Truncate(time.Millisecond)
			ev.Until = protocol.FormatTime(standing.MutedUntil)
		}
		ev.Event = protocol.MemberMuted
		err = h.store.SetMutedUntil(ctx, f.Room, f.User, standing.MutedUntil)
	case protocol.TypeSetRole:
		if !member {
			return parley.Errorf(parley.ENOTFOUND, "%s is not in %s; invite them first.", target.Name, f.Room)
		}
		ev.Event, ev.Role, standing.Role = protocol.MemberRole, f.Role, f.Role
		err = h.store.SetRole(ctx, f.Room, f.User, f.Role)
	}
	if err != nil {
		return storeError("changing a membership", err)
	}
	evict := standing.Role == parley.RoleNone && adm.room.Kind != parley.RoomPublic || standing.Banned || f.Type == protocol.TypeKick
	h.emit(event{Room: f.Room, Kind: evFrame, Frame: protocol.Encode(ev), User: &target, Standing: &standing, Evict: evict})
	return nil
}

// SetTopic sets room's topic as p and tells the room.
func (h *Hub) SetTopic(ctx context.Context, p parley.Principal, name, topic string) error {
	if _, err := h.admit(ctx, p, name, parley.ActTopic, ""); err != nil {
		return err
	}
	if err := h.store.SetTopic(ctx, name, topic); err != nil {
		return storeError("setting a topic", err)
	}
	h.emit(event{Room: name, Kind: evFrame, Topic: &topic,
		Frame: protocol.Encode(protocol.TopicEvent{Type: protocol.TypeTopicSet, Room: name, Topic: topic, By: p.User})})
	return nil
}

// Edit replaces the text of p's own message seq and tells the room.
//
// An edit reaches every member as a send does, so edits are limited at the
// send rate too, per user (the bucket of posts over HTTP), from either way in.
func (h *Hub) Edit(ctx context.Context, p parley.Principal, name string, seq parley.Seq, text string) error {
	if ok, wait := h.apiLimits.take(p.ID, h.now()); !ok {
		return &protocol.RateLimitError{RetryAfter: wait}
	}
	if err := h.checkMessageAction(ctx, p, name, seq, parley.ActEditOwn); err != nil {
		return err
	}
	m, err := h.store.EditMessage(ctx, name, seq, text)
	if err != nil {
		return storeError("editing a message", err)
	}
	h.emit(event{Room: name, Kind: evFrame, Message: &m,
		Frame: protocol.Encode(protocol.MessageEdited{Type: protocol.TypeMessageEdited, Room: name, Seq: seq, Text: m.Text,
			EditedAt: protocol.FormatTime(m.EditedAt), By: p.User})})
	return nil
}

// Delete removes the text of message seq, p's own or, for moderators,
// anyone's, and tells the room.
func (h *Hub) Delete(ctx context.Context, p parley.Principal, name string, seq parley.Seq) error {
	if err := h.checkMessageAction(ctx, p, name, seq, parley.ActDeleteOwn); err != nil {
		return err
	}
	m, err := h.store.DeleteMessage(ctx, name, seq)
	if err != nil {
		return storeError("deleting a message", err)
	}
	h.emit(event{Room: name, Kind: evFrame, Message: &m,
		Frame: protocol.Encode(protocol.MessageDeleted{Type: protocol.TypeMessageDeleted, Room: name, Seq: seq, By: p.User})})
	return nil
}

// checkMessageAction checks an edit or delete of message seq: one's own
// message needs act, anyone else's needs ActDeleteAny (and can't be edited).
func (h *Hub) checkMessageAction(ctx context.Context, p parley.Principal, room string, seq parley.Seq, act parley.Action) error {
	adm, err := h.admit(ctx, p, room, act, "")
	if err != nil {
		return err
	}
	m, err := h.store.Message(ctx, room, seq)
	if parley.ErrorCode(err) == parley.ENOTFOUND || err == nil && m.Deleted && act == parley.ActEditOwn {
		return parley.Errorf(parley.ENOTFOUND, "There is no message %d in %s.", seq, room)
	}
	if err != nil {
		return storeError("reading a message", err)
	}
	if m.From.ID == p.ID {
		return nil
	}
	if act == parley.ActEditOwn {
		return parley.Errorf(parley.EFORBIDDEN, "You may only edit your own messages.")
	}
	return parley.Authorize(parley.Decision{Principal: p, Action: parley.ActDeleteAny, Room: adm.room, Member: adm.member, Now: h.now()})
}

// evict removes every connection of userID from room, after the member
// event that says why has been queued to them, and refuses their joins
// under way.
func (h *Hub) evict(room, userID string) {
	r := h.openRoom(room)
	if r == nil {
		return
	}
	// The event waits in the outbox, and a pass skips whoever is no longer
	// a member: let it reach the evicted first.
	r.settle()
	r.mu.Lock()
	var gone []*Session
	for s := range r.members {
		if s.principal.ID == userID {
			gone = append(gone, s)
		}
	}
	for s, j := range r.joins {
		if s.principal.ID == userID {
			j.evicted = true
		}
	}
	r.mu.Unlock()
	for _, s := range gone {
		if s.forget(room, r) && r.leave(s, false) {
			h.release(r)
		}
	}
}
