package protocol

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley"
)

// fuzzLimits keeps max_text small so the fuzzers reach the too_large edge.
var fuzzLimits = Limits{MaxText: 16, MaxFrame: MaxFrameFor(16), Rate: 1, Burst: 1}

var decodeSeeds = []string{
	`{"type":"join","room":"lobby"}`,
	`{"type":"join","id":"1","room":"dev_ops-2","since":41}`,
	`{"type":"leave","id":"2","room":"lobby"}`,
	`{"type":"send","id":"3","room":"lobby","text":"hello 中😀","nonce":"c-1"}`,
	`{"type":"send","room":"lobby","text":"\u2028\"\\\u0000<>&","nonce":"\ud83d\ude00"}`,
	`{"type":"history","id":"4","room":"lobby","before":120,"limit":200}`,
	`{"type":"history","room":"lobby"}`,
	`{"type":"typing","room":"lobby"}`,
	`{"type":"ping","id":"5"}`,
	// Malformed.
	``,
	`null`,
	`[1,2]`,
	`"ping"`,
	`{"type":"ping"`,
	`{"type":"shout"}`,
	`{"room":"lobby"}`,
	`{"type":"send","room":"lobby","text":"hi","nonce":"n","from":{"id":"x"}}`,
	`{"type":"join","room":5,"id":"6"}`,
	`{"type":"join","room":"Lobby","since":-1}`,
	`{"type":"history","room":"lobby","limit":0,"before":-1}`,
	`{"type":"send","room":"lobby","text":"   ","nonce":"n"}`,
	`{"type":"send","room":"lobby","text":"aaaaaaaaaaaaaaaaa","nonce":"n"}`,
	`{"type":"ping","Type":"join","id":7}`,
	"{\"type\":\"send\",\"room\":\"lobby\",\"text\":\"\xff\",\"nonce\":\"n\"}",
}

// FuzzDecode checks that Decode never panics, that what it accepts is a
// valid frame, and that a valid frame decodes the same after re-encoding.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, err := Decode(data, fuzzLimits)
		if len(frame.ID) > maxIDLen || !utf8.ValidString(frame.ID) {
			t.Fatalf("Decode(%q) returned id %q", data, frame.ID)
		}
		if err != nil {
			if code := parley.ErrorCode(err); code != parley.EBADREQUEST && code != parley.ETOOLARGE {
				t.Fatalf("Decode(%q) error code %q: %v", data, code, err)
			}
			if parley.ErrorMessage(err) == "" {
				t.Fatalf("Decode(%q) error without a message", data)
			}
			return
		}
		checkFrame(t, data, frame)

		// Re-encode and decode again: the same frame comes back.
		again, err := Decode(encodeClientFrame(t, frame), fuzzLimits)
		if err != nil {
			t.Fatalf("Decode(%q) = %+v, which re-encoded is refused: %v", data, frame, err)
		}
		if !reflect.DeepEqual(again, frame) {
			t.Fatalf("Decode(%q) = %+v, re-encoded decodes to %+v", data, frame, again)
		}
	})
}

// checkFrame fails unless f is a frame the hub may act on without further
// checks.
func checkFrame(t *testing.T, data []byte, f ClientFrame) {
	t.Helper()
	fail := func(why string) { t.Fatalf("Decode(%q) = %+v: %s", data, f, why) }
	if _, ok := fieldsOf[f.Type]; !ok {
		fail("unknown type")
	}
	if f.Type == TypePing {
		if f.Room != "" {
			fail("ping with a room")
		}
	} else if parley.ValidateRoomName(f.Room) != nil {
		fail("invalid room")
	}
	if f.Type == TypeSend {
		if n := utf8.RuneCountInString(f.Nonce); n < 1 || n > parley.MaxNonceLen || !utf8.ValidString(f.Nonce) {
			fail("bad nonce")
		}
		if !utf8.ValidString(f.Text) || strings.TrimSpace(f.Text) == "" || utf8.RuneCountInString(f.Text) > fuzzLimits.MaxText {
			fail("bad text")
		}
	} else if f.Text != "" || f.Nonce != "" {
		fail("text or nonce outside a send")
	}
	if f.Type == TypeJoin {
		if f.Since != nil && *f.Since < 0 {
			fail("negative since")
		}
	} else if f.Since != nil {
		fail("since outside a join")
	}
	if f.Type == TypeHistory {
		if f.Before < 0 || f.Limit < 1 || f.Limit > MaxHistoryLimit {
			fail("history out of bounds")
		}
	} else if f.Before != 0 || f.Limit != 0 {
		fail("before or limit outside a history")
	}
}

// encodeClientFrame writes f as a client would.
func encodeClientFrame(t *testing.T, f ClientFrame) []byte {
	t.Helper()
	m := map[string]any{"type": f.Type}
	if f.ID != "" {
		m["id"] = f.ID
	}
	if f.Type != TypePing {
		m["room"] = f.Room
	}
	switch f.Type {
	case TypeJoin:
		if f.Since != nil {
			m["since"] = *f.Since
		}
	case TypeSend:
		m["text"], m["nonce"] = f.Text, f.Nonce
	case TypeHistory:
		m["before"], m["limit"] = f.Before, f.Limit
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzAppendString checks the hand-written string encoder against
// encoding/json, byte for byte, and that it decodes back to its input.
func FuzzAppendString(f *testing.F) {
	for _, s := range trickyStrings[:len(trickyStrings)-1] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		want, _ := json.Marshal(s)
		if string(got) != string(want) {
			t.Fatalf("appendString(%q) = %q, encoding/json gives %q", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %q, not valid JSON: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("appendString(%q) decodes to %q", s, back)
		}
		if back != replaceInvalid(s) {
			t.Fatalf("appendString(%q) decodes to %q, want invalid bytes replaced: %q", s, back, replaceInvalid(s))
		}
	})
}

// maxWireMillis is the last millisecond of year 9999, the end of RFC 3339.
var maxWireMillis = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC).UnixMilli()

// FuzzAppendMessage checks whole message frames against encoding/json.
func FuzzAppendMessage(f *testing.F) {
	f.Add("lobby", int64(1), "u1", "alice", "hello", int64(1795654923004), "n-1")
	f.Add("dev", int64(1<<62), "", "", "", int64(0), "")
	f.Add("x", int64(-1), "\x00\"", "<b>", "\u2028\xff\\", int64(-1), "😀")
	f.Fuzz(func(t *testing.T, room string, seq int64, id, name, text string, ms int64, nonce string) {
		if ms < 0 {
			ms = -ms
		}
		ts := time.UnixMilli(ms % (maxWireMillis + 1))
		m := parley.Message{Room: room, Seq: seq, From: parley.User{ID: id, Name: name}, Text: text, TS: ts, Nonce: nonce}
		checkMessageBytes(t, AppendMessage(nil, m), m, TypeMessage)
		checkMessageBytes(t, AppendMessageObject(nil, m), m, "")
		var back struct{ TS string }
		if err := json.Unmarshal(AppendMessage(nil, m), &back); err != nil {
			t.Fatal(err)
		}
		if parsed, err := time.Parse(time.RFC3339, back.TS); err != nil || !parsed.Equal(ts) {
			t.Fatalf("ts %q parses as %v, want %v (%v)", back.TS, parsed, ts, err)
		}
	})
}

// FuzzDecodeText checks text mode: no panics, and accepted text is within
// limits and exactly the input.
func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"hello", "中😀", "", " \n", "\xff", strings.Repeat("a", 17), `{"type":"send"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := DecodeText(data, fuzzLimits)
		if err != nil {
			if code := parley.ErrorCode(err); code != parley.EBADREQUEST && code != parley.ETOOLARGE {
				t.Fatalf("DecodeText(%q) error code %q", data, code)
			}
			if !strings.HasPrefix(string(TextError(err)), "error: ") {
				t.Fatalf("TextError(%v) = %q", err, TextError(err))
			}
			return
		}
		if text != string(data) || !utf8.ValidString(text) || strings.TrimSpace(text) == "" || utf8.RuneCountInString(text) > fuzzLimits.MaxText {
			t.Fatalf("DecodeText(%q) accepted %q", data, text)
		}
	})
}

// FuzzScanFrame checks Decode's fast path against encoding/json: a frame
// it accepts, encoding/json reads as the same values and keys.
func FuzzScanFrame(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		` { "type" : "send" , "id":"1","room":"a","text":"x\ty\n\"q\" \\ \/ \u00e9 \ud83d\ude00 \u2028","nonce":"n" } `,
		`{"type":"history","room":"a","before":0,"limit":-0}`,
		`{"type":"mute","room":"a","user":"u","seconds":9223372036854775807}`,
		`{"type":"mute","room":"a","user":"u","seconds":9223372036854775808}`,
		`{"type":"join","room":"a","since":1.0}`,
		`{"type":"join","room":"a","since":01}`,
		`{"type":"join","room":"a","room":"b"}`,
		`{"type":"join","room":null}`,
		`{"type":"send","room":"a","text":"\ud800","nonce":"n"}`,
		`{"type":"send","room":"a","text":"\udc00\ud800","nonce":"n"}`,
		`{"type":"create_room","room":"a","members":["x"],"kind":"private","topic":"t"}`,
		`{"type":"ping","ID":"x"}`,
		`{}`,
		`{"type":"ping",}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast wireValues
		if !scanFrame(data, &fast) {
			return
		}
		var slow wireValues
		slowKeys, err := decodeSlow(data, &slow)
		if err != nil {
			t.Fatalf("scanFrame(%q) accepted what encoding/json refuses: %v", data, err)
		}
		var keys []string
		for i, name := range wireNames {
			if fast.has&(1<<i) != 0 {
				keys = append(keys, name)
			}
		}
		slow.has &^= fType // encoding/json has no "absent" for the type
		fast.has &^= fType
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("scanFrame(%q) = %+v, encoding/json reads %+v", data, fast, slow)
		}
		slices.Sort(keys)
		slices.Sort(slowKeys)
		if !slices.Equal(keys, slowKeys) {
			t.Fatalf("scanFrame(%q) keys %q, encoding/json reads %q", data, keys, slowKeys)
		}
	})
}
