package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleychat/parley"
)

// testLimits are the limits the table tests decode against.
var testLimits = Limits{MaxText: 1024, MaxFrame: MaxFrameFor(1024), Rate: 5, Burst: 10}

// frameJSON marshals a client frame written as a map, so long and tricky
// strings need no hand escaping.
func frameJSON(tb testing.TB, fields map[string]any) string {
	tb.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func seqPtr(s parley.Seq) *parley.Seq { return &s }

func TestDecode(t *testing.T) {
	send := func(text string) string {
		return frameJSON(t, map[string]any{"type": "send", "id": "s1", "room": "lobby", "text": text, "nonce": "n1"})
	}
	sendNonce := func(nonce any) string {
		return frameJSON(t, map[string]any{"type": "send", "id": "s2", "room": "lobby", "text": "hi", "nonce": nonce})
	}
	join := func(room any) string {
		return frameJSON(t, map[string]any{"type": "join", "id": "j1", "room": room})
	}
	id64 := strings.Repeat("i", 64)
	room64 := strings.Repeat("r", 64)

	tests := []struct {
		name    string
		in      string
		want    ClientFrame // when code is ""
		code    string      // the expected parley.ErrorCode
		id      string      // the id Decode must salvage on error
		mention string      // a word the error message must contain
	}{
		// Every frame type.
		{name: "join", in: `{"type":"join","room":"lobby"}`,
			want: ClientFrame{Type: TypeJoin, Room: "lobby"}},
		{name: "join with since", in: `{"type":"join","id":"a","room":"dev-ops_2","since":41}`,
			want: ClientFrame{Type: TypeJoin, ID: "a", Room: "dev-ops_2", Since: seqPtr(41)}},
		{name: "join since 0", in: `{"type":"join","room":"lobby","since":0}`,
			want: ClientFrame{Type: TypeJoin, Room: "lobby", Since: seqPtr(0)}},
		{name: "join since null", in: `{"type":"join","room":"lobby","since":null}`,
			want: ClientFrame{Type: TypeJoin, Room: "lobby"}},
		{name: "leave", in: `{"type":"leave","id":"b","room":"lobby"}`,
			want: ClientFrame{Type: TypeLeave, ID: "b", Room: "lobby"}},
		{name: "send", in: `{"type":"send","id":"c","room":"lobby","text":"hello","nonce":"n-1"}`,
			want: ClientFrame{Type: TypeSend, ID: "c", Room: "lobby", Text: "hello", Nonce: "n-1"}},
		{name: "history defaults", in: `{"type":"history","room":"lobby"}`,
			want: ClientFrame{Type: TypeHistory, Room: "lobby", Limit: DefaultHistoryLimit}},
		{name: "history before 0 means newest", in: `{"type":"history","room":"lobby","before":0}`,
			want: ClientFrame{Type: TypeHistory, Room: "lobby", Limit: DefaultHistoryLimit}},
		{name: "history before and limit", in: `{"type":"history","id":"d","room":"lobby","before":120,"limit":200}`,
			want: ClientFrame{Type: TypeHistory, ID: "d", Room: "lobby", Before: 120, Limit: 200}},
		{name: "history limit 1", in: `{"type":"history","room":"lobby","limit":1}`,
			want: ClientFrame{Type: TypeHistory, Room: "lobby", Limit: 1}},
		{name: "typing", in: `{"type":"typing","room":"lobby"}`,
			want: ClientFrame{Type: TypeTyping, Room: "lobby"}},
		{name: "ping", in: `{"type":"ping"}`,
			want: ClientFrame{Type: TypePing}},
		{name: "ping with id", in: `{"id":"p","type":"ping"}`,
			want: ClientFrame{Type: TypePing, ID: "p"}},
		{name: "surrounding whitespace", in: " \n\t{\"type\":\"ping\"}\r\n ",
			want: ClientFrame{Type: TypePing}},
		{name: "id of 64 bytes", in: `{"type":"ping","id":"` + id64 + `"}`,
			want: ClientFrame{Type: TypePing, ID: id64}},
		{name: "room of 64 characters", in: join(room64),
			want: ClientFrame{Type: TypeJoin, ID: "j1", Room: room64}},
		{name: "text of max_text Chinese characters", in: send(strings.Repeat("中", 1024)),
			want: ClientFrame{Type: TypeSend, ID: "s1", Room: "lobby", Text: strings.Repeat("中", 1024), Nonce: "n1"}},
		{name: "text of max_text emoji", in: send(strings.Repeat("😀", 1024)),
			want: ClientFrame{Type: TypeSend, ID: "s1", Room: "lobby", Text: strings.Repeat("😀", 1024), Nonce: "n1"}},
		{name: "text with surrounding space is kept", in: send("  hi\n"),
			want: ClientFrame{Type: TypeSend, ID: "s1", Room: "lobby", Text: "  hi\n", Nonce: "n1"}},
		{name: "nonce of 64 characters", in: sendNonce(strings.Repeat("中", 64)),
			want: ClientFrame{Type: TypeSend, ID: "s2", Room: "lobby", Text: "hi", Nonce: strings.Repeat("中", 64)}},

		// Not a JSON object.
		{name: "empty input", in: ``, code: parley.EBADREQUEST, mention: "JSON"},
		{name: "not JSON", in: `hello`, code: parley.EBADREQUEST, mention: "JSON"},
		{name: "truncated JSON", in: `{"type":"ping"`, code: parley.EBADREQUEST, mention: "JSON"},
		{name: "trailing data", in: `{"type":"ping"} {"type":"ping"}`, code: parley.EBADREQUEST},
		{name: "array", in: `[{"type":"ping"}]`, code: parley.EBADREQUEST, mention: "array"},
		{name: "string", in: `"ping"`, code: parley.EBADREQUEST, mention: "string"},
		{name: "number", in: `42`, code: parley.EBADREQUEST, mention: "number"},
		{name: "null", in: `null`, code: parley.EBADREQUEST, mention: "object"},
		{name: "true", in: `true`, code: parley.EBADREQUEST, mention: "object"},

		// Type.
		{name: "unknown type", in: `{"type":"shout","id":"t1"}`, code: parley.EBADREQUEST, id: "t1", mention: "shout"},
		{name: "missing type", in: `{"id":"t2","room":"lobby"}`, code: parley.EBADREQUEST, id: "t2", mention: "type"},
		{name: "empty object", in: `{}`, code: parley.EBADREQUEST, mention: "type"},
		{name: "type null", in: `{"type":null,"id":"t3"}`, code: parley.EBADREQUEST, id: "t3", mention: "type"},
		{name: "type as number", in: `{"type":1,"id":"t4"}`, code: parley.EBADREQUEST, id: "t4", mention: "type"},
		{name: "type in another case", in: `{"type":"PING"}`, code: parley.EBADREQUEST, mention: "PING"},

		// Unknown fields.
		{name: "from in a send", in: `{"type":"send","id":"u1","room":"lobby","text":"hi","nonce":"n","from":{"id":"x","name":"admin"}}`,
			code: parley.EBADREQUEST, id: "u1", mention: `"from"`},
		{name: "room in a ping", in: `{"type":"ping","id":"u2","room":"lobby"}`, code: parley.EBADREQUEST, id: "u2", mention: `"room"`},
		{name: "since in a history", in: `{"type":"history","room":"lobby","since":3}`, code: parley.EBADREQUEST, mention: `"since"`},
		{name: "field in another case", in: `{"type":"join","room":"lobby","Since":3}`, code: parley.EBADREQUEST, mention: `"Since"`},
		{name: "type key in another case", in: `{"Type":"ping"}`, code: parley.EBADREQUEST, mention: `"Type"`},

		// Wrong field types.
		{name: "room as number", in: `{"type":"join","id":"w1","room":5}`, code: parley.EBADREQUEST, id: "w1", mention: "room"},
		{name: "room as object", in: `{"type":"join","id":"w2","room":{}}`, code: parley.EBADREQUEST, id: "w2", mention: "room"},
		{name: "since as string", in: `{"type":"join","id":"w3","room":"lobby","since":"5"}`, code: parley.EBADREQUEST, id: "w3", mention: "since"},
		{name: "since fractional", in: `{"type":"join","room":"lobby","since":1.5}`, code: parley.EBADREQUEST, mention: "since"},
		{name: "since overflowing int64", in: `{"type":"join","room":"lobby","since":1e30}`, code: parley.EBADREQUEST, mention: "since"},
		{name: "id as number", in: `{"type":"ping","id":7}`, code: parley.EBADREQUEST, mention: "id"},
		{name: "text as number", in: `{"type":"send","id":"w4","room":"lobby","text":1,"nonce":"n"}`, code: parley.EBADREQUEST, id: "w4", mention: "text"},
		{name: "nonce as number", in: sendNonce(12), code: parley.EBADREQUEST, id: "s2", mention: "nonce"},
		{name: "limit as string", in: `{"type":"history","room":"lobby","limit":"5"}`, code: parley.EBADREQUEST, mention: "limit"},

		// The id.
		{name: "id of 65 bytes", in: `{"type":"ping","id":"` + strings.Repeat("i", 65) + `"}`, code: parley.EBADREQUEST, mention: "64"},

		// Rooms.
		{name: "missing room", in: `{"type":"join","id":"r0"}`, code: parley.EBADREQUEST, id: "r0", mention: "room"},
		{name: "room null", in: `{"type":"leave","room":null}`, code: parley.EBADREQUEST, mention: "room"},
		{name: "uppercase room", in: join("Lobby"), code: parley.EBADREQUEST, id: "j1", mention: "Lobby"},
		{name: "room of 65 characters", in: join(room64 + "r"), code: parley.EBADREQUEST, id: "j1", mention: "64"},
		{name: "empty room", in: join(""), code: parley.EBADREQUEST, id: "j1", mention: "room"},
		{name: "room with a space", in: join("my room"), code: parley.EBADREQUEST, id: "j1", mention: "my room"},
		{name: "room with an accent", in: join("général"), code: parley.EBADREQUEST, id: "j1", mention: "room"},
		{name: "typing without room", in: `{"type":"typing"}`, code: parley.EBADREQUEST, mention: "room"},
		{name: "history without room", in: `{"type":"history"}`, code: parley.EBADREQUEST, mention: "room"},
		{name: "send with a bad room", in: `{"type":"send","room":"A","text":"hi","nonce":"n"}`, code: parley.EBADREQUEST, mention: "room"},

		// Seqs and history bounds.
		{name: "negative since", in: `{"type":"join","id":"q1","room":"lobby","since":-1}`, code: parley.EBADREQUEST, id: "q1", mention: "since"},
		{name: "negative before", in: `{"type":"history","id":"q2","room":"lobby","before":-5}`, code: parley.EBADREQUEST, id: "q2", mention: "before"},
		{name: "limit 0", in: `{"type":"history","id":"q3","room":"lobby","limit":0}`, code: parley.EBADREQUEST, id: "q3", mention: "limit"},
		{name: "limit 201", in: `{"type":"history","room":"lobby","limit":201}`, code: parley.EBADREQUEST, mention: "200"},
		{name: "negative limit", in: `{"type":"history","room":"lobby","limit":-1}`, code: parley.EBADREQUEST, mention: "limit"},

		// Send.
		{name: "missing nonce", in: `{"type":"send","id":"n0","room":"lobby","text":"hi"}`, code: parley.EBADREQUEST, id: "n0", mention: "nonce"},
		{name: "empty nonce", in: sendNonce(""), code: parley.EBADREQUEST, id: "s2", mention: "nonce"},
		{name: "nonce of 65 characters", in: sendNonce(strings.Repeat("n", 65)), code: parley.EBADREQUEST, id: "s2", mention: "64"},
		{name: "missing text", in: `{"type":"send","id":"x0","room":"lobby","nonce":"n"}`, code: parley.EBADREQUEST, id: "x0", mention: "text"},
		{name: "text null", in: `{"type":"send","room":"lobby","nonce":"n","text":null}`, code: parley.EBADREQUEST, mention: "text"},
		{name: "empty text", in: send(""), code: parley.EBADREQUEST, id: "s1", mention: "empty"},
		{name: "whitespace text", in: send(" \t\r\n "), code: parley.EBADREQUEST, id: "s1", mention: "empty"},
		{name: "ideographic space text", in: send("\u3000\u00a0"), code: parley.EBADREQUEST, id: "s1", mention: "empty"},
		{name: "text of max_text+1 characters", in: send(strings.Repeat("a", 1025)), code: parley.ETOOLARGE, id: "s1", mention: "1024"},
		{name: "text of max_text+1 Chinese characters", in: send(strings.Repeat("中", 1025)), code: parley.ETOOLARGE, id: "s1", mention: "1025"},

		// Control characters: none in nonces and user ids; tabs and line
		// breaks only in texts and topics.
		{name: "text with a tab and line breaks", in: send("a\tb\r\nc"),
			want: ClientFrame{Type: TypeSend, ID: "s1", Room: "lobby", Text: "a\tb\r\nc", Nonce: "n1"}},
		{name: "text with NUL", in: send("hi \u0000"), code: parley.EBADREQUEST, id: "s1", mention: "U+0000"},
		{name: "text with ESC", in: send("\u001b[31mred"), code: parley.EBADREQUEST, id: "s1", mention: "U+001B"},
		{name: "text with a C1 control", in: send("a\u0085b"), code: parley.EBADREQUEST, id: "s1", mention: "U+0085"},
		{name: "nonce with NUL", in: sendNonce("n\u0000"), code: parley.EBADREQUEST, id: "s2", mention: "U+0000"},
		{name: "nonce with a tab", in: sendNonce("n\t1"), code: parley.EBADREQUEST, id: "s2", mention: "U+0009"},
		{name: "topic with NUL", in: `{"type":"topic","room":"lobby","topic":"a\u0000"}`, code: parley.EBADREQUEST, mention: "U+0000"},
		{name: "user id with NUL", in: `{"type":"kick","room":"lobby","user":"u\u0000"}`, code: parley.EBADREQUEST, mention: "U+0000"},
		{name: "member id with NUL", in: `{"type":"create_room","room":"x","kind":"private","members":["u\u0000"]}`, code: parley.EBADREQUEST, mention: "U+0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in), testLimits)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Decode(%.80q) error: %v", tt.in, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("Decode(%.80q)\n got %+v\nwant %+v", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode(%.80q) = %+v, want a %s error", tt.in, got, tt.code)
			}
			if code := parley.ErrorCode(err); code != tt.code {
				t.Errorf("Decode(%.80q) code = %q, want %q (error: %v)", tt.in, code, tt.code, err)
			}
			checkSentence(t, err)
			if msg := parley.ErrorMessage(err); tt.mention != "" && !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
			if got.ID != tt.id {
				t.Errorf("salvaged id = %q, want %q", got.ID, tt.id)
			}
		})
	}
}

// checkSentence fails unless err is a *parley.Error whose message reads as
// a sentence for a person, not a Go error string.
func checkSentence(tb testing.TB, err error) {
	tb.Helper()
	var pe *parley.Error
	if !errors.As(err, &pe) {
		tb.Fatalf("error %v (%T) is not a *parley.Error", err, err)
	}
	msg := pe.Message
	if len(msg) < 10 || !strings.HasSuffix(msg, ".") || strings.Contains(msg, "\n") {
		tb.Errorf("message %q is not a one-line sentence", msg)
	}
	if strings.Contains(msg, "json:") || strings.Contains(msg, "unmarshal") || strings.Contains(msg, "Go value") {
		tb.Errorf("message %q leaks Go internals", msg)
	}
	if !utf8.ValidString(msg) {
		tb.Errorf("message %q is not valid UTF-8", msg)
	}
}

func TestValidateText(t *testing.T) {
	tests := []struct {
		text string
		code string
	}{
		{"hi", ""},
		{strings.Repeat("中", 8), ""},
		{strings.Repeat("中", 9), parley.ETOOLARGE},
		{strings.Repeat("a", 9), parley.ETOOLARGE},
		{"", parley.EBADREQUEST},
		{"\n\t ", parley.EBADREQUEST},
		{"a\xffb", parley.EBADREQUEST},
	}
	for _, tt := range tests {
		err := parley.ValidateText(tt.text, 8)
		if code := parley.ErrorCode(err); code != tt.code {
			t.Errorf("ValidateText(%q, 8) = %v, want code %q", tt.text, err, tt.code)
		}
		if err != nil {
			checkSentence(t, err)
		}
	}
}

// TestDecodeDoesNotKeepInput guards the hub, which keeps frame strings
// (text, nonce) long after the read buffer is reused.
func TestDecodeDoesNotKeepInput(t *testing.T) {
	data := []byte(`{"type":"send","id":"i","room":"lobby","text":"hello","nonce":"n"}`)
	f, err := Decode(data, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'X'
	}
	if f.Text != "hello" || f.Nonce != "n" || f.Room != "lobby" || f.ID != "i" {
		t.Fatalf("frame changed with its input: %+v", f)
	}
}
