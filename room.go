package parley

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"time"
)

// Lobby is the room that always exists; text-mode clients live in it.
const Lobby = "lobby"

// MaxRoomNameLen is the longest room name.
const MaxRoomNameLen = 64

// MaxTopicLen is the longest room topic, in characters.
const MaxTopicLen = 256

var roomNameRE = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// ValidateRoomName returns an EBADREQUEST error saying why name is not a
// valid room name, or nil.
func ValidateRoomName(name string) error {
	if !roomNameRE.MatchString(name) {
		return Errorf(EBADREQUEST, "The room name %q is not valid; use 1-%d characters a-z, 0-9, '_' or '-'.", name, MaxRoomNameLen)
	}
	return nil
}

// RoomKind says who may use a room.
type RoomKind string

const (
	// RoomPublic: anyone signed in (guests too) may join and read.
	RoomPublic RoomKind = "public"
	// RoomPrivate: members only; its owner and moderators invite.
	RoomPrivate RoomKind = "private"
	// RoomDirect: exactly two users, forever.
	RoomDirect RoomKind = "direct"
)

// Room is a room's durable description.
type Room struct {
	Name      string
	Kind      RoomKind
	Topic     string
	CreatedAt time.Time
}

// DirectRoomName is the one room two users share, whoever opens it.
func DirectRoomName(a, b string) string {
	if b < a {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(a + "\x00" + b))
	return "dm-" + hex.EncodeToString(sum[:12])
}

// Role is a user's standing in one room.
type Role string

const (
	RoleNone      Role = "" // not a member
	RoleMember    Role = "member"
	RoleModerator Role = "moderator"
	RoleOwner     Role = "owner"
)

// rank orders roles for "may act on": a moderator can't kick an owner.
func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleModerator:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// Membership is a user's standing in a room, member or not.
type Membership struct {
	Role       Role
	Banned     bool
	MutedUntil time.Time
}

// Muted reports whether the user may not send at now.
func (m Membership) Muted(now time.Time) bool { return now.Before(m.MutedUntil) }
