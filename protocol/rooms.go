package protocol

import "github.com/parleychat/parley"

// Server frame types for rooms, roles and moderation.
const (
	TypeOK             = "ok"
	TypeRoom           = "room"
	TypeRoomList       = "rooms"
	TypeMember         = "member"
	TypeTopicSet       = "topic"
	TypeMessageEdited  = "message_edited"
	TypeMessageDeleted = "message_deleted"
)

// Member events, in a member frame's event field.
const (
	MemberInvited  = "invited"
	MemberKicked   = "kicked"
	MemberBanned   = "banned"
	MemberUnbanned = "unbanned"
	MemberMuted    = "muted"
	MemberRole     = "role"
)

// OK answers a request that has nothing else to say.
type OK struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// RoomInfo describes a room to one user.
type RoomInfo struct {
	Name  string          `json:"name"`
	Kind  parley.RoomKind `json:"kind"`
	Topic string          `json:"topic"`
	Role  parley.Role     `json:"role,omitempty"`
	// Peer is the other user of a direct conversation.
	Peer *parley.User `json:"peer,omitempty"`
}

// RoomFrame answers create_room and open_direct.
type RoomFrame struct {
	Type string   `json:"type"`
	ID   string   `json:"id,omitempty"`
	Room RoomInfo `json:"room"`
}

// RoomList answers rooms.
type RoomList struct {
	Type  string     `json:"type"`
	ID    string     `json:"id,omitempty"`
	Rooms []RoomInfo `json:"rooms"`
}

// MemberEvent tells a room that someone's standing changed.
type MemberEvent struct {
	Type  string      `json:"type"`
	Room  string      `json:"room"`
	Event string      `json:"event"`
	User  parley.User `json:"user"`
	By    parley.User `json:"by"`
	Role  parley.Role `json:"role,omitempty"`  // role events
	Until string      `json:"until,omitempty"` // muted: RFC 3339; empty when unmuted
}

// TopicEvent tells a room its new topic.
type TopicEvent struct {
	Type  string      `json:"type"`
	Room  string      `json:"room"`
	Topic string      `json:"topic"`
	By    parley.User `json:"by"`
}

// MessageEdited tells a room a message's new text.
type MessageEdited struct {
	Type     string      `json:"type"`
	Room     string      `json:"room"`
	Seq      parley.Seq  `json:"seq"`
	Text     string      `json:"text"`
	EditedAt string      `json:"edited_at"`
	By       parley.User `json:"by"`
}

// MessageDeleted tells a room a message lost its text.
type MessageDeleted struct {
	Type string      `json:"type"`
	Room string      `json:"room"`
	Seq  parley.Seq  `json:"seq"`
	By   parley.User `json:"by"`
}
