package bench

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The receive path sees every delivery of a run (a million a second at
// fan-out), so frames are not decoded: ScanFrame walks the top-level
// object once, without allocating, and keeps where the few fields the bench
// reads are. It treats the frame as encoding/json would decode it into a
// map (exact key match, the last duplicate wins, escapes in keys and
// values honoured); FuzzScanMessage holds it to that.

// field is a top-level key the bench reads.
type field int

const (
	fType field = iota
	fID
	fRoom
	fSeq
	fText
	fHead
	fCode
	fMessage
	fRetryAfter
	fToken
	numFields
)

func fieldOf(key []byte) field {
	switch string(key) {
	case "type":
		return fType
	case "id":
		return fID
	case "room":
		return fRoom
	case "seq":
		return fSeq
	case "text":
		return fText
	case "head":
		return fHead
	case "code":
		return fCode
	case "message":
		return fMessage
	case "retry_after_ms":
		return fRetryAfter
	case "token":
		return fToken
	}
	return -1
}

// Frame holds the raw JSON values of the fields the bench reads from a
// server frame; they alias the scanned bytes.
type Frame struct {
	raw [numFields][]byte
}

// ScanFrame locates the fields of the JSON object in b. It reports false
// when b does not start with a well-formed object; it never panics.
func ScanFrame(b []byte) (Frame, bool) {
	var f Frame
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return f, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return f, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return f, false
		}
		end, escaped := scanString(b, i)
		if end < 0 {
			return f, false
		}
		key := b[i+1 : end-1]
		if escaped {
			var ok bool
			if key, ok = decodeString(b[i:end]); !ok {
				return f, false
			}
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return f, false
		}
		i = skipSpace(b, i+1)
		start := i
		if i = skipValue(b, i); i < 0 {
			return f, false
		}
		if k := fieldOf(key); k >= 0 {
			f.raw[k] = b[start:i]
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return f, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return f, true
		default:
			return f, false
		}
	}
}

// Str returns field k's value when it is a JSON string.
func (f *Frame) Str(k field) ([]byte, bool) { return decodeString(f.raw[k]) }

// Int returns field k's value when it is a JSON integer that fits int64.
func (f *Frame) Int(k field) (int64, bool) { return parseInt(f.raw[k]) }

// Is reports whether field k is the string s (compared after unescaping).
func (f *Frame) Is(k field, s string) bool {
	v, ok := f.Str(k)
	return ok && string(v) == s
}

// Message is what the bench reads of a message frame. Room and Text alias
// the scanned bytes unless their JSON had escapes.
type Message struct {
	Room []byte
	Seq  int64
	Text []byte
}

// ScanMessage reads a parley.v1 message frame: an object whose "type" is
// "message", with a string "room", an integer "seq" and a string "text".
// It reports false for anything else, including other frame types.
func ScanMessage(b []byte) (Message, bool) {
	f, ok := ScanFrame(b)
	if !ok || !f.Is(fType, "message") {
		return Message{}, false
	}
	var m Message
	var ok1, ok2, ok3 bool
	m.Room, ok1 = f.Str(fRoom)
	m.Seq, ok2 = f.Int(fSeq)
	m.Text, ok3 = f.Str(fText)
	if !ok1 || !ok2 || !ok3 {
		return Message{}, false
	}
	return m, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index just past the string starting at b[i]
// (a '"'), and whether it holds escapes; -1 if it does not end.
func scanString(b []byte, i int) (int, bool) {
	j := i + 1
	q := bytes.IndexByte(b[j:], '"')
	if q < 0 {
		return -1, false
	}
	bs := bytes.IndexByte(b[j:j+q], '\\')
	if bs < 0 {
		return j + q + 1, false
	}
	for p := j + bs; p < len(b); {
		switch b[p] {
		case '\\':
			p += 2
		case '"':
			return p + 1, true
		default:
			p++
		}
	}
	return -1, true
}

// skipValue returns the index just past the JSON value starting at b[i],
// or -1. It checks only as much as finding the end needs: on valid JSON it
// is exact, on anything else it stops without panicking.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := scanString(b, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '{', '[':
				depth++
				i++
			case '}', ']':
				depth--
				i++
				if depth == 0 {
					return i
				}
			case '"':
				end, _ := scanString(b, i)
				if end < 0 {
					return -1
				}
				i = end
			default:
				i++
			}
		}
		return -1
	case ',', '}', ']', ':':
		return -1
	default: // number, true, false, null
		start := i
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		if i == start {
			return -1
		}
		return i
	}
}

// decodeString returns the text of the JSON string raw (quotes included).
// Without escapes and with valid UTF-8 it is a sub-slice of raw; otherwise
// encoding/json decodes it, replacing invalid UTF-8 as it always does.
func decodeString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

// parseInt reads a JSON integer (no fraction, no exponent) that fits int64.
func parseInt(raw []byte) (int64, bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n <= 1<<63:
		return int64(-n), true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}
