package hub

import (
	"context"
	"fmt"
	"strings"

	"github.com/parleychat/parley"
)

// Store is what the hub keeps durably.
type Store interface {
	parley.MessageStore
	parley.MessageEditor
	parley.RoomStore
	User(ctx context.Context, id string) (parley.User, parley.IdentityKind, error)
}

// errGuestTarget refuses to make a guest a member of a room guests can't
// use: they could never read it, and would only see its name listed.
func errGuestTarget(u parley.User) error {
	return parley.Errorf(parley.EFORBIDDEN, "%s is a guest; guests may only use public rooms.", u.Name)
}

// directPrefix starts the names of direct rooms, which nobody may create
// any other way, so no one can squat the name of a future conversation.
const directPrefix = "dm-"

// admission is what admit learned about a principal and a room.
type admission struct {
	room   parley.Room
	member parley.Membership // the principal's
	target parley.Membership // the acted-on user's, when there is one
}

// admit loads the room and the principal's standing in it (and the target
// user's, when targetID is set) and asks parley.Authorize. A join of a
// missing room creates it as public; other actions on a missing room are
// ENOTFOUND. A join of a public room records the membership, so the room
// shows in the user's list.
func (h *Hub) admit(ctx context.Context, p parley.Principal, name string, act parley.Action, targetID string) (admission, error) {
	var a admission
	room, err := h.store.Room(ctx, name)
	if parley.ErrorCode(err) == parley.ENOTFOUND && act == parley.ActJoin {
		if strings.HasPrefix(name, directPrefix) {
			return a, parley.Errorf(parley.ENOTFOUND, "There is no room %s.", name)
		}
		if !p.MayUseRoom(name) {
			return a, parley.Errorf(parley.EFORBIDDEN, "Your token does not allow the room %s.", name)
		}
		room, err = h.store.EnsureRoom(ctx, name)
	}
	if err != nil {
		return a, storeError("reading the room", err)
	}
	a.room = room
	if a.member, err = h.store.Membership(ctx, name, p.ID); err != nil {
		return a, storeError("reading a membership", err)
	}
	if targetID != "" {
		if a.target, err = h.store.Membership(ctx, name, targetID); err != nil {
			return a, storeError("reading a membership", err)
		}
	}
	if err := parley.Authorize(parley.Decision{Principal: p, Action: act, Room: room, Member: a.member, Target: a.target, Now: h.now()}); err != nil {
		return a, err
	}
	if act == parley.ActJoin && room.Kind == parley.RoomPublic && a.member.Role == parley.RoleNone {
		if err := h.store.SetRole(ctx, name, p.ID, parley.RoleMember); err != nil {
			return a, storeError("recording a membership", err)
		}
		a.member.Role = parley.RoleMember
	}
	return a, nil
}

// storeError keeps parley errors (ENOTFOUND, ECONFLICT, EUNAVAILABLE) and
// turns anything else into EUNAVAILABLE with context for the log; the
// client is told to retry.
func storeError(doing string, err error) error {
	if parley.ErrorCode(err) != parley.EINTERNAL {
		return err
	}
	return fmt.Errorf("hub: %s: %w", doing, &unavailableError{err})
}

// unavailableError reports an internal store failure to the client as
// EUNAVAILABLE while keeping the cause for the log.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string { return e.cause.Error() }

func (e *unavailableError) Unwrap() []error {
	return []error{e.cause, parley.Errorf(parley.EUNAVAILABLE, "The server could not reach its database; try again.")}
}
