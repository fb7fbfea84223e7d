package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/parleychat/parley"
)

// maxIDLen bounds the id a client attaches to a frame; replies echo it.
const maxIDLen = 64

// Client frame types.
const (
	TypeJoin    = "join"
	TypeLeave   = "leave"
	TypeSend    = "send"
	TypeHistory = "history"
	TypeTyping  = "typing"
	TypePing    = "ping"

	TypeCreateRoom = "create_room"
	TypeOpenDirect = "open_direct"
	TypeRooms      = "rooms"
	TypeInvite     = "invite"
	TypeKick       = "kick"
	TypeBan        = "ban"
	TypeUnban      = "unban"
	TypeMute       = "mute"
	TypeSetRole    = "set_role"
	TypeTopic      = "topic"
	TypeEdit       = "edit"
	TypeDelete     = "delete"
)

// typeList names the client frame types in error messages.
const typeList = "join, leave, send, history, typing, ping, create_room, open_direct, rooms, invite, kick, ban, unban, mute, set_role, topic, edit or delete"

// MaxMuteSeconds bounds a mute: one year.
const MaxMuteSeconds = 365 * 24 * 3600

// MaxMembers bounds the members named when a room is created.
const MaxMembers = 100

// ClientFrame is a decoded and validated client frame. Fields a type does
// not use are zero.
type ClientFrame struct {
	Type   string
	ID     string      // echoed in the reply
	Room   string      // join, leave, send, history, typing
	Since  *parley.Seq // join: resume after this seq; nil replays the recent tail
	Text   string      // send
	Nonce  string      // send
	Before parley.Seq  // history: only older than this; 0 means newest
	Limit  int         // history: page size, defaulted

	Kind    parley.RoomKind // create_room: public or private
	Members []string        // create_room: user ids
	User    string          // open_direct, invite, kick, ban, unban, mute, set_role: a user id
	Seq     parley.Seq      // edit, delete
	Seconds int             // mute: 0 unmutes
	Role    parley.Role     // set_role: member or moderator
	Topic   string          // topic, create_room
}

// wireClientFrame is the JSON shape for encoding/json; pointers tell absent
// (or null) from zero.
type wireClientFrame struct {
	Type   string      `json:"type"`
	ID     *string     `json:"id"`
	Room   *string     `json:"room"`
	Since  *parley.Seq `json:"since"`
	Text   *string     `json:"text"`
	Nonce  *string     `json:"nonce"`
	Before *parley.Seq `json:"before"`
	Limit  *int        `json:"limit"`

	Kind    *string     `json:"kind"`
	Members []string    `json:"members"`
	User    *string     `json:"user"`
	Seq     *parley.Seq `json:"seq"`
	Seconds *int        `json:"seconds"`
	Role    *string     `json:"role"`
	Topic   *string     `json:"topic"`
}

// wireValues is a frame as read, before validation: each field's value,
// and in has the fields that were present and not null. Both decoders fill
// it; without pointers, a frame's fields cost no allocation of their own.
type wireValues struct {
	Type                                           string
	ID, Room, Text, Nonce, Kind, User, Role, Topic string
	Since, Before, Seq                             parley.Seq
	Limit, Seconds                                 int
	Members                                        []string
	has                                            uint32
}

// The bits of wireValues.has, in the order of wireNames.
const (
	fType = 1 << iota
	fID
	fRoom
	fSince
	fText
	fNonce
	fBefore
	fLimit
	fKind
	fMembers
	fUser
	fSeq
	fSeconds
	fRole
	fTopic
)

// stringField returns w's string field whose bit in has is bit, or nil
// when that field is not a string.
func (w *wireValues) stringField(bit uint32) *string {
	switch bit {
	case fType:
		return &w.Type
	case fID:
		return &w.ID
	case fRoom:
		return &w.Room
	case fText:
		return &w.Text
	case fNonce:
		return &w.Nonce
	case fKind:
		return &w.Kind
	case fUser:
		return &w.User
	case fRole:
		return &w.Role
	case fTopic:
		return &w.Topic
	}
	return nil
}

// wireNames are the JSON names of a client frame's fields.
var wireNames = [...]string{"type", "id", "room", "since", "text", "nonce", "before", "limit",
	"kind", "members", "user", "seq", "seconds", "role", "topic"}

// values copies wf into w.
func (wf *wireClientFrame) values(w *wireValues) {
	w.Type, w.has = wf.Type, fType
	str := func(p *string, bit uint32) {
		if p != nil {
			*w.stringField(bit) = *p
			w.has |= bit
		}
	}
	str(wf.ID, fID)
	str(wf.Room, fRoom)
	str(wf.Text, fText)
	str(wf.Nonce, fNonce)
	str(wf.Kind, fKind)
	str(wf.User, fUser)
	str(wf.Role, fRole)
	str(wf.Topic, fTopic)
	seq := func(p *parley.Seq, v *parley.Seq, bit uint32) {
		if p != nil {
			*v = *p
			w.has |= bit
		}
	}
	seq(wf.Since, &w.Since, fSince)
	seq(wf.Before, &w.Before, fBefore)
	seq(wf.Seq, &w.Seq, fSeq)
	if wf.Limit != nil {
		w.Limit, w.has = *wf.Limit, w.has|fLimit
	}
	if wf.Seconds != nil {
		w.Seconds, w.has = *wf.Seconds, w.has|fSeconds
	}
	if wf.Members != nil {
		w.Members, w.has = wf.Members, w.has|fMembers
	}
}

// fieldsOf lists the fields each type accepts besides type and id; any other
// field is refused, so a client can't smuggle a "from" or rely on a field
// the server ignores.
var fieldsOf = map[string][]string{
	TypeJoin:    {"room", "since"},
	TypeLeave:   {"room"},
	TypeSend:    {"room", "text", "nonce"},
	TypeHistory: {"room", "before", "limit"},
	TypeTyping:  {"room"},
	TypePing:    {},

	TypeCreateRoom: {"room", "kind", "members", "topic"},
	TypeOpenDirect: {"user"},
	TypeRooms:      {},
	TypeInvite:     {"room", "user"},
	TypeKick:       {"room", "user"},
	TypeBan:        {"room", "user"},
	TypeUnban:      {"room", "user"},
	TypeMute:       {"room", "user", "seconds"},
	TypeSetRole:    {"room", "user", "role"},
	TypeTopic:      {"room", "topic"},
	TypeEdit:       {"room", "seq", "text"},
	TypeDelete:     {"room", "seq"},
}

// Decode parses and validates one client frame against limits. On failure it
// returns the frame's id when one could be read (so the error reply can carry
// it) and a *parley.Error with EBADREQUEST or ETOOLARGE.
func Decode(data []byte, limits Limits) (ClientFrame, error) {
	var w wireValues
	var keys []string
	if !scanFrame(data, &w) {
		w = wireValues{} // what the scan read before it gave up
		var err error
		if keys, err = decodeSlow(data, &w); err != nil {
			return ClientFrame{ID: w.ID}, err
		}
	}
	return w.validate(keys, limits)
}

// decodeSlow reads data with encoding/json into w, for the frames
// scanFrame leaves to it (all malformed ones among them), and returns every
// key of the object. On failure w.ID is the id when one could be read.
func decodeSlow(data []byte, w *wireValues) (keys []string, err error) {
	// A first pass over the keys names unknown fields precisely, which
	// encoding/json's DisallowUnknownFields cannot do with a typed error.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, parley.Errorf(parley.EBADREQUEST, "The frame is not a JSON object: %s.", jsonProblem(err))
	}
	if m == nil { // null unmarshals into a nil map without error
		return nil, parley.Errorf(parley.EBADREQUEST, "The frame is not a JSON object: it is JSON null.")
	}
	var wf wireClientFrame
	if err := json.Unmarshal(data, &wf); err != nil {
		w.ID = salvageID(m)
		return nil, parley.Errorf(parley.EBADREQUEST, "The frame is not valid parley.v1: %s.", jsonProblem(err))
	}
	wf.values(w)
	for key := range m {
		keys = append(keys, key)
	}
	return keys, nil
}

// validate checks w as a frame of its type and returns it. The type
// refuses a field it has no use for: one w has, or another of keys.
func (w *wireValues) validate(keys []string, limits Limits) (ClientFrame, error) {
	f := ClientFrame{Type: w.Type}
	if w.has&fID != 0 {
		f.ID = w.ID
		if len(f.ID) > maxIDLen {
			return ClientFrame{}, parley.Errorf(parley.EBADREQUEST, "The frame's id is %d bytes long; use at most %d.", len(f.ID), maxIDLen)
		}
	}
	allowed, ok := fieldsOf[w.Type]
	if !ok {
		if w.Type == "" {
			return f, parley.Errorf(parley.EBADREQUEST, "The frame has no type; every frame needs one (%s).", typeList)
		}
		return f, parley.Errorf(parley.EBADREQUEST, "Unknown frame type %q; use %s.", w.Type, typeList)
	}
	for i, key := range wireNames {
		if w.has&(1<<i) != 0 && key != "type" && key != "id" && !slices.Contains(allowed, key) {
			return f, parley.Errorf(parley.EBADREQUEST, "A %s frame has no field %q.", w.Type, key)
		}
	}
	for _, key := range keys {
		if key != "type" && key != "id" && !slices.Contains(allowed, key) {
			return f, parley.Errorf(parley.EBADREQUEST, "A %s frame has no field %q.", w.Type, key)
		}
	}
	if slices.Contains(allowed, "room") {
		if w.has&fRoom == 0 {
			return f, parley.Errorf(parley.EBADREQUEST, "A %s frame needs a room.", w.Type)
		}
		f.Room = w.Room
		if err := parley.ValidateRoomName(f.Room); err != nil {
			return f, err
		}
	}
	if slices.Contains(allowed, "user") {
		if w.has&fUser == 0 {
			return f, parley.Errorf(parley.EBADREQUEST, "A %s frame needs a user (a user id).", w.Type)
		}
		if err := parley.ValidateUserID(w.User); err != nil {
			return f, err
		}
		f.User = w.User
	}
	if slices.Contains(allowed, "seq") {
		if w.has&fSeq == 0 || w.Seq < 1 {
			return f, parley.Errorf(parley.EBADREQUEST, "A %s frame needs the seq (1 or more) of a message.", w.Type)
		}
		f.Seq = w.Seq
	}
	if slices.Contains(allowed, "topic") && w.has&fTopic != 0 {
		if err := parley.ValidateTopic(w.Topic); err != nil {
			return f, err
		}
		f.Topic = w.Topic
	} else if w.Type == TypeTopic {
		return f, parley.Errorf(parley.EBADREQUEST, "A topic frame needs a topic (it may be empty to clear it).")
	}
	switch w.Type {
	case TypeJoin:
		if w.has&fSince != 0 {
			if w.Since < 0 {
				return f, parley.Errorf(parley.EBADREQUEST, "since must be a seq (0 or more), not %d.", w.Since)
			}
			since := w.Since
			f.Since = &since
		}
	case TypeSend:
		if err := parley.ValidateNonce(w.Nonce); err != nil {
			return f, err
		}
		f.Nonce = w.Nonce
		if w.has&fText == 0 {
			return f, parley.Errorf(parley.EBADREQUEST, "A send needs a text.")
		}
		if err := parley.ValidateText(w.Text, limits.MaxText); err != nil {
			return f, err
		}
		f.Text = w.Text
	case TypeEdit:
		if w.has&fText == 0 {
			return f, parley.Errorf(parley.EBADREQUEST, "An edit needs the new text.")
		}
		if err := parley.ValidateText(w.Text, limits.MaxText); err != nil {
			return f, err
		}
		f.Text = w.Text
	case TypeCreateRoom:
		f.Kind = parley.RoomPublic
		if w.has&fKind != 0 {
			f.Kind = parley.RoomKind(w.Kind)
		}
		if f.Kind != parley.RoomPublic && f.Kind != parley.RoomPrivate {
			return f, parley.Errorf(parley.EBADREQUEST, "kind must be public or private, not %q; open a direct conversation with open_direct.", f.Kind)
		}
		if len(w.Members) > MaxMembers {
			return f, parley.Errorf(parley.EBADREQUEST, "A new room may name at most %d members, not %d; invite the rest later.", MaxMembers, len(w.Members))
		}
		for _, m := range w.Members {
			if err := parley.ValidateUserID(m); err != nil {
				return f, err
			}
		}
		f.Members = w.Members
	case TypeMute:
		if w.has&fSeconds == 0 || w.Seconds < 0 || w.Seconds > MaxMuteSeconds {
			return f, parley.Errorf(parley.EBADREQUEST, "A mute needs seconds between 0 (unmute) and %d.", MaxMuteSeconds)
		}
		f.Seconds = w.Seconds
	case TypeSetRole:
		if w.has&fRole == 0 || (w.Role != string(parley.RoleMember) && w.Role != string(parley.RoleModerator)) {
			return f, parley.Errorf(parley.EBADREQUEST, "role must be member or moderator.")
		}
		f.Role = parley.Role(w.Role)
	case TypeHistory:
		if w.has&fBefore != 0 {
			if w.Before < 0 {
				return f, parley.Errorf(parley.EBADREQUEST, "before must be a seq (0 or more), not %d.", w.Before)
			}
			f.Before = w.Before
		}
		f.Limit = DefaultHistoryLimit
		if w.has&fLimit != 0 {
			if w.Limit < 1 || w.Limit > MaxHistoryLimit {
				return f, parley.Errorf(parley.EBADREQUEST, "limit must be between 1 and %d, not %d.", MaxHistoryLimit, w.Limit)
			}
			f.Limit = w.Limit
		}
	}
	return f, nil
}

// jsonProblem turns a decoding error into a short phrase for the client.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return fmt.Sprintf("it is a JSON %s, not an object", typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q must be %s, not a %s", typeErr.Field, jsonKind(typeErr.Type.Kind()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("syntax error at byte %d", syntaxErr.Offset)
	default:
		return "it could not be parsed"
	}
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	default:
		return "a " + k.String()
	}
}

// salvageID reads just the id of a frame that failed to decode, so the error
// reply can still be matched to its request.
func salvageID(keys map[string]json.RawMessage) string {
	var id string
	if json.Unmarshal(keys["id"], &id) != nil || len(id) > maxIDLen {
		return ""
	}
	return id
}
