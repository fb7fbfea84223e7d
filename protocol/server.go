package protocol

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley"
)

// Server frame types beyond the replies named like their requests.
const (
	TypeWelcome  = "welcome"
	TypeJoined   = "joined"
	TypeLeft     = "left"
	TypeAck      = "ack"
	TypeMessage  = "message"
	TypePresence = "presence"
	TypePong     = "pong"
	TypeError    = "error"
)

// Presence events.
const (
	PresenceJoin  = "join"
	PresenceLeave = "leave"
)

// TimeLayout is how every timestamp goes on the wire: RFC 3339, UTC, with
// milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Welcome is the first frame on every parley.v1 connection.
type Welcome struct {
	Type       string      `json:"type"`
	User       parley.User `json:"user"`
	Token      string      `json:"token,omitempty"`
	HeartbeatS float64     `json:"heartbeat_s"`
	Limits     Limits      `json:"limits"`
}

// Joined answers a join; the backlog follows it.
type Joined struct {
	Type   string        `json:"type"`
	ID     string        `json:"id,omitempty"`
	Room   string        `json:"room"`
	Head   parley.Seq    `json:"head"`
	Online []parley.User `json:"online"`
	// OnlineCount is how many users are online; Online lists them all
	// unless the room is over the server's presence limit.
	OnlineCount int `json:"online_count"`
}

// Left answers a leave.
type Left struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Room string `json:"room"`
}

// Ack answers a send once the message is stored.
type Ack struct {
	Type  string     `json:"type"`
	ID    string     `json:"id,omitempty"`
	Room  string     `json:"room"`
	Seq   parley.Seq `json:"seq"`
	Nonce string     `json:"nonce"`
}

// History answers a history request.
type History struct {
	Type     string            `json:"type"`
	ID       string            `json:"id,omitempty"`
	Room     string            `json:"room"`
	Messages []json.RawMessage `json:"messages"`
	More     bool              `json:"more"`
}

// Typing tells a room's other members that someone is typing.
type Typing struct {
	Type string      `json:"type"`
	Room string      `json:"room"`
	User parley.User `json:"user"`
}

// Presence tells a room that a user arrived or left (their first connection
// joined or their last one left).
type Presence struct {
	Type  string      `json:"type"`
	Room  string      `json:"room"`
	Event string      `json:"event"`
	User  parley.User `json:"user"`
}

// Pong answers a ping.
type Pong struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// Error reports a failed request; the connection stays usable.
type Error struct {
	Type         string `json:"type"`
	ID           string `json:"id,omitempty"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

// Encode marshals a server frame. The frames above contain nothing that can
// fail to marshal, so an error here is a programming mistake; Encode panics
// rather than send a malformed frame.
func Encode(frame any) []byte {
	b, err := json.Marshal(frame)
	if err != nil {
		panic("protocol: encoding " + strconv.Quote(err.Error()))
	}
	return b
}

// ErrorFrame builds the error reply for err to the request with id.
// Internal errors carry a generic message; their details stay in the logs.
func ErrorFrame(id string, err error) Error {
	f := Error{Type: TypeError, ID: id, Code: parley.ErrorCode(err), Message: parley.ErrorMessage(err)}
	var rl *RateLimitError
	if errors.As(err, &rl) {
		f.RetryAfterMS = rl.RetryAfter.Milliseconds()
		if f.RetryAfterMS < 1 {
			f.RetryAfterMS = 1
		}
	}
	return f
}

// AppendMessage appends the message frame for m to buf. It is the hot path
// of every broadcast, so it writes the JSON by hand instead of through
// reflection; the result is what encoding/json would produce (see the
// round-trip test).
func AppendMessage(buf []byte, m parley.Message) []byte {
	buf = append(buf, `{"type":"message",`...)
	return appendMessageFields(buf, m)
}

// AppendMessageObject appends m as history lists it: the message frame's
// fields without the type.
func AppendMessageObject(buf []byte, m parley.Message) []byte {
	buf = append(buf, '{')
	return appendMessageFields(buf, m)
}

func appendMessageFields(buf []byte, m parley.Message) []byte {
	buf = append(buf, `"room":`...)
	buf = appendString(buf, m.Room)
	buf = append(buf, `,"seq":`...)
	buf = strconv.AppendInt(buf, m.Seq, 10)
	buf = append(buf, `,"from":{"id":`...)
	buf = appendString(buf, m.From.ID)
	buf = append(buf, `,"name":`...)
	buf = appendString(buf, m.From.Name)
	buf = append(buf, `},"text":`...)
	buf = appendString(buf, m.Text)
	buf = append(buf, `,"ts":"`...)
	buf = m.TS.UTC().AppendFormat(buf, TimeLayout)
	buf = append(buf, `","nonce":`...)
	buf = appendString(buf, m.Nonce)
	if !m.EditedAt.IsZero() {
		buf = append(buf, `,"edited_at":"`...)
		buf = m.EditedAt.UTC().AppendFormat(buf, TimeLayout)
		buf = append(buf, '"')
	}
	if m.Deleted {
		buf = append(buf, `,"deleted":true`...)
	}
	return append(buf, '}')
}

// FormatTime formats t as the wire does.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string with encoding/json's escaping
// (including <, >, & and U+2028/2029, and U+FFFD for invalid UTF-8).
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
