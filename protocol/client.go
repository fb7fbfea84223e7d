package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

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

// wireClientFrame is the JSON shape; pointers tell absent from zero.
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
	// A first pass over the keys names unknown fields precisely, which
	// encoding/json's DisallowUnknownFields cannot do with a typed error.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return ClientFrame{}, parley.Errorf(parley.EBADREQUEST, "The frame is not a JSON object: %s.", jsonProblem(err))
	}
	if keys == nil { // null unmarshals into a nil map without error
		return ClientFrame{}, parley.Errorf(parley.EBADREQUEST, "The frame is not a JSON object: it is JSON null.")
	}
	var w wireClientFrame
	if err := json.Unmarshal(data, &w); err != nil {
		return ClientFrame{ID: salvageID(keys)}, parley.Errorf(parley.EBADREQUEST, "The frame is not valid parley.v1: %s.", jsonProblem(err))
	}
	f := ClientFrame{Type: w.Type}
	if w.ID != nil {
		f.ID = *w.ID
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
	for key := range keys {
		if key != "type" && key != "id" && !slices.Contains(allowed, key) {
			return f, parley.Errorf(parley.EBADREQUEST, "A %s frame has no field %q.", w.Type, key)
		}
	}
	if slices.Contains(allowed, "room") {
		if w.Room == nil {
			return f, parley.Errorf(parley.EBADREQUEST, "A %s frame needs a room.", w.Type)
		}
		f.Room = *w.Room
		if err := parley.ValidateRoomName(f.Room); err != nil {
			return f, err
		}
	}
	if slices.Contains(allowed, "user") {
		if w.User == nil {
			return f, parley.Errorf(parley.EBADREQUEST, "A %s frame needs a user (a user id).", w.Type)
		}
		if err := validateUserID(*w.User); err != nil {
			return f, err
		}
		f.User = *w.User
	}
	if slices.Contains(allowed, "seq") {
		if w.Seq == nil || *w.Seq < 1 {
			return f, parley.Errorf(parley.EBADREQUEST, "A %s frame needs the seq (1 or more) of a message.", w.Type)
		}
		f.Seq = *w.Seq
	}
	if slices.Contains(allowed, "topic") && w.Topic != nil {
		if n := utf8.RuneCountInString(*w.Topic); n > parley.MaxTopicLen {
			return f, parley.Errorf(parley.ETOOLARGE, "The topic is %d characters long; the limit is %d.", n, parley.MaxTopicLen)
		}
		f.Topic = *w.Topic
	} else if w.Type == TypeTopic {
		return f, parley.Errorf(parley.EBADREQUEST, "A topic frame needs a topic (it may be empty to clear it).")
	}
	switch w.Type {
	case TypeJoin:
		if w.Since != nil && *w.Since < 0 {
			return f, parley.Errorf(parley.EBADREQUEST, "since must be a seq (0 or more), not %d.", *w.Since)
		}
		f.Since = w.Since
	case TypeSend:
		if w.Nonce == nil || *w.Nonce == "" {
			return f, parley.Errorf(parley.EBADREQUEST, "A send needs a nonce (1-%d characters, unique per room) so a retry is never stored twice.", parley.MaxNonceLen)
		}
		if n := utf8.RuneCountInString(*w.Nonce); n > parley.MaxNonceLen {
			return f, parley.Errorf(parley.EBADREQUEST, "The nonce is %d characters long; use at most %d.", n, parley.MaxNonceLen)
		}
		f.Nonce = *w.Nonce
		if w.Text == nil {
			return f, parley.Errorf(parley.EBADREQUEST, "A send needs a text.")
		}
		if err := ValidateText(*w.Text, limits.MaxText); err != nil {
			return f, err
		}
		f.Text = *w.Text
	case TypeEdit:
		if w.Text == nil {
			return f, parley.Errorf(parley.EBADREQUEST, "An edit needs the new text.")
		}
		if err := ValidateText(*w.Text, limits.MaxText); err != nil {
			return f, err
		}
		f.Text = *w.Text
	case TypeCreateRoom:
		f.Kind = parley.RoomPublic
		if w.Kind != nil {
			f.Kind = parley.RoomKind(*w.Kind)
		}
		if f.Kind != parley.RoomPublic && f.Kind != parley.RoomPrivate {
			return f, parley.Errorf(parley.EBADREQUEST, "kind must be public or private, not %q; open a direct conversation with open_direct.", f.Kind)
		}
		if len(w.Members) > MaxMembers {
			return f, parley.Errorf(parley.EBADREQUEST, "A new room may name at most %d members, not %d; invite the rest later.", MaxMembers, len(w.Members))
		}
		for _, m := range w.Members {
			if err := validateUserID(m); err != nil {
				return f, err
			}
		}
		f.Members = w.Members
	case TypeMute:
		if w.Seconds == nil || *w.Seconds < 0 || *w.Seconds > MaxMuteSeconds {
			return f, parley.Errorf(parley.EBADREQUEST, "A mute needs seconds between 0 (unmute) and %d.", MaxMuteSeconds)
		}
		f.Seconds = *w.Seconds
	case TypeSetRole:
		if w.Role == nil || (*w.Role != string(parley.RoleMember) && *w.Role != string(parley.RoleModerator)) {
			return f, parley.Errorf(parley.EBADREQUEST, "role must be member or moderator.")
		}
		f.Role = parley.Role(*w.Role)
	case TypeHistory:
		if w.Before != nil {
			if *w.Before < 0 {
				return f, parley.Errorf(parley.EBADREQUEST, "before must be a seq (0 or more), not %d.", *w.Before)
			}
			f.Before = *w.Before
		}
		f.Limit = DefaultHistoryLimit
		if w.Limit != nil {
			if *w.Limit < 1 || *w.Limit > MaxHistoryLimit {
				return f, parley.Errorf(parley.EBADREQUEST, "limit must be between 1 and %d, not %d.", MaxHistoryLimit, *w.Limit)
			}
			f.Limit = *w.Limit
		}
	}
	return f, nil
}

// maxUserIDLen bounds a user id: local ids are short, external ones are
// "ext:" and the token's sub.
const maxUserIDLen = 128

func validateUserID(id string) error {
	if id == "" || len(id) > maxUserIDLen || !utf8.ValidString(id) {
		return parley.Errorf(parley.EBADREQUEST, "A user is named by its id: 1-%d bytes, as frames show it.", maxUserIDLen)
	}
	return nil
}

// ValidateText checks a message text: not empty (nor only white space) and
// at most maxText Unicode code points, so 1024 Chinese characters pass where
// 1024 bytes would not.
func ValidateText(text string, maxText int) error {
	if strings.TrimSpace(text) == "" {
		return parley.Errorf(parley.EBADREQUEST, "The message is empty; write something first.")
	}
	if !utf8.ValidString(text) {
		return parley.Errorf(parley.EBADREQUEST, "The message is not valid UTF-8.")
	}
	if n := utf8.RuneCountInString(text); n > maxText {
		return parley.Errorf(parley.ETOOLARGE, "The message is %d characters long; the limit is %d.", n, maxText)
	}
	return nil
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
