package parley

import "time"

// Action is something a user may try in a room.
type Action string

const (
	ActJoin      Action = "join"     // join, and with it read live messages
	ActRead      Action = "read"     // read history
	ActSend      Action = "send"     // send a message
	ActTyping    Action = "typing"   // say one is typing
	ActEditOwn   Action = "edit"     // edit one's own message
	ActDeleteOwn Action = "delete"   // delete one's own message
	ActDeleteAny Action = "moderate" // delete anyone's message
	ActInvite    Action = "invite"   // make someone a member
	ActKick      Action = "kick"     // remove a member
	ActBan       Action = "ban"      // ban or unban
	ActMute      Action = "mute"     // mute or unmute
	ActTopic     Action = "topic"    // set the topic
	ActSetRole   Action = "set_role" // make a member a moderator or back
)

// Decision is everything Authorize looks at. Target is the membership of
// the user acted on, for the actions that have one.
type Decision struct {
	Principal Principal
	Action    Action
	Room      Room
	Member    Membership // the principal's own standing in the room
	Target    Membership
	Now       time.Time
}

// Authorize is the one rule for who may do what in a room. It returns nil,
// EFORBIDDEN with a sentence saying why, or ENOTFOUND when the room's very
// existence is private to its members.
func Authorize(d Decision) error {
	p, r, m := d.Principal, d.Room, d.Member
	member := m.Role != RoleNone
	hidden := r.Kind != RoomPublic && !member && !(p.Admin && r.Kind == RoomPrivate)
	if hidden {
		// Outsiders can't tell a private room from a missing one.
		return Errorf(ENOTFOUND, "There is no room %s.", r.Name)
	}
	if !p.MayUseRoom(r.Name) {
		return Errorf(EFORBIDDEN, "Your token does not allow the room %s.", r.Name)
	}
	if p.Kind == KindGuest && r.Kind != RoomPublic {
		return Errorf(EFORBIDDEN, "Guests may only use public rooms; sign in to use %s.", r.Name)
	}
	if m.Banned && !p.Admin {
		return Errorf(EFORBIDDEN, "You are banned from %s.", r.Name)
	}

	switch d.Action {
	case ActJoin, ActRead, ActTyping, ActDeleteOwn:
		return nil
	case ActSend, ActEditOwn:
		// An edit publishes new text as a send does: a mute stops both,
		// or editing an old message would speak through it.
		if m.Muted(d.Now) && !p.Admin {
			return Errorf(EFORBIDDEN, "You are muted in %s until %s.", r.Name, m.MutedUntil.UTC().Format(time.RFC3339))
		}
		return nil
	}

	// Everything else moderates, which a direct room doesn't have.
	if r.Kind == RoomDirect {
		return Errorf(EFORBIDDEN, "A direct conversation has no moderation and no other members.")
	}
	actor := m.Role.rank()
	if p.Admin {
		actor = RoleOwner.rank() + 1
	}
	if actor < RoleModerator.rank() {
		return Errorf(EFORBIDDEN, "Only the owner and moderators of %s may do that.", r.Name)
	}
	switch d.Action {
	case ActInvite, ActDeleteAny, ActTopic:
		return nil
	case ActKick, ActBan, ActMute:
		if d.Target.Role.rank() >= actor {
			return Errorf(EFORBIDDEN, "You may only %s users below you in %s.", d.Action, r.Name)
		}
		return nil
	case ActSetRole:
		if actor < RoleOwner.rank() {
			return Errorf(EFORBIDDEN, "Only the owner of %s may change roles.", r.Name)
		}
		if d.Target.Role == RoleOwner {
			return Errorf(EFORBIDDEN, "The owner's role can't be changed.")
		}
		return nil
	}
	return Errorf(EFORBIDDEN, "Unknown action %q.", d.Action)
}
