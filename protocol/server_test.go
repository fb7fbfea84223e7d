package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley"
)

// wireMessage is the message frame as encoding/json would write it; the
// hand-written AppendMessage must produce exactly its bytes.
type wireMessage struct {
	Type  string      `json:"type,omitempty"`
	Room  string      `json:"room"`
	Seq   parley.Seq  `json:"seq"`
	From  parley.User `json:"from"`
	Text  string      `json:"text"`
	TS    string      `json:"ts"`
	Nonce string      `json:"nonce"`
}

func wireOf(m parley.Message, typ string) wireMessage {
	return wireMessage{Type: typ, Room: m.Room, Seq: m.Seq, From: m.From, Text: m.Text, TS: FormatTime(m.TS), Nonce: m.Nonce}
}

// replaceInvalid replaces each byte of s that is not part of valid UTF-8
// with U+FFFD, as encoding/json does.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// allControls is every byte below 0x20.
func allControls() string {
	b := make([]byte, 0x20)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}

var trickyStrings = []string{
	"",
	"plain",
	`say "hi"`,
	`C:\path\to\file \\ \"`,
	allControls(),
	"\b\f\n\r\t\x00\x1f\x7f",
	"<script>alert('x')</script> & &amp;",
	"line\u2028separator\u2029paragraph",
	"emoji 😀👍🏽 👨‍👩‍👧 and flags 🇫🇷",
	"中文 日本語 한국어 العربية עברית",
	"\ufffd is a valid replacement char",
	"bad \xff byte",
	"truncated \xe4\xb8",
	"lone surrogate \xed\xa0\x80",
	"overlong \xc0\xaf",
	"\xff\xfe\xfd",
	strings.Repeat(`long "quoted" <&> 中😀\`, 10000),
}

func checkMessageBytes(t *testing.T, got []byte, m parley.Message, typ string) {
	t.Helper()
	want, err := json.Marshal(wireOf(m, typ))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("hand-written JSON differs from encoding/json:\n got %.300q\nwant %.300q", got, want)
	}
	if !json.Valid(got) {
		t.Fatalf("invalid JSON: %.300q", got)
	}
	var back wireMessage
	dec := json.NewDecoder(strings.NewReader(string(got)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	fix := replaceInvalid
	wantBack := wireMessage{Type: typ, Room: fix(m.Room), Seq: m.Seq, From: parley.User{ID: fix(m.From.ID), Name: fix(m.From.Name)},
		Text: fix(m.Text), TS: FormatTime(m.TS), Nonce: fix(m.Nonce)}
	if !reflect.DeepEqual(back, wantBack) {
		t.Fatalf("round trip:\n got %.300q\nwant %.300q", fmt.Sprint(back), fmt.Sprint(wantBack))
	}
}

func TestAppendMessageRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 26, 1, 2, 3, 4_000_000, time.UTC)
	for i, s := range trickyStrings {
		m := parley.Message{Room: "lobby", Seq: int64(i + 1), From: parley.User{ID: "u-" + s, Name: s}, Text: s, TS: ts, Nonce: s}
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			checkMessageBytes(t, AppendMessage(nil, m), m, TypeMessage)
			checkMessageBytes(t, AppendMessageObject(nil, m), m, "")
		})
	}
}

func TestAppendMessageKeyOrder(t *testing.T) {
	m := parley.Message{Room: "lobby", Seq: 7, From: parley.User{ID: "u1", Name: "alice"}, Text: "hi", Nonce: "n1",
		TS: time.Date(2026, 11, 26, 1, 2, 3, 4_000_000, time.UTC)}
	want := `{"type":"message","room":"lobby","seq":7,"from":{"id":"u1","name":"alice"},"text":"hi","ts":"2026-11-26T01:02:03.004Z","nonce":"n1"}`
	if got := string(AppendMessage(nil, m)); got != want {
		t.Errorf("AppendMessage:\n got %s\nwant %s", got, want)
	}
	wantObj := `{"room":"lobby","seq":7,"from":{"id":"u1","name":"alice"},"text":"hi","ts":"2026-11-26T01:02:03.004Z","nonce":"n1"}`
	if got := string(AppendMessageObject(nil, m)); got != wantObj {
		t.Errorf("AppendMessageObject:\n got %s\nwant %s", got, wantObj)
	}
	// Appending keeps what the buffer held.
	if got := string(AppendMessage([]byte("prefix"), m)); got != "prefix"+want {
		t.Errorf("AppendMessage with a prefix = %s", got)
	}
	// Large seqs stay exact integers.
	m.Seq = 1<<53 + 1
	var back struct{ Seq int64 }
	if err := json.Unmarshal(AppendMessage(nil, m), &back); err != nil || back.Seq != m.Seq {
		t.Errorf("seq %d came back as %d (%v)", m.Seq, back.Seq, err)
	}
}

func TestFormatTime(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	nyc := time.FixedZone("EST", -5*3600)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 26, 1, 2, 3, 4_000_000, time.UTC), "2026-11-26T01:02:03.004Z"},
		{time.Date(2026, 11, 26, 6, 32, 3, 4_000_000, ist), "2026-11-26T01:02:03.004Z"},
		{time.Date(2026, 11, 25, 20, 2, 3, 4_000_000, nyc), "2026-11-26T01:02:03.004Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC), "2026-01-02T03:04:05.999Z"}, // truncated, not rounded
		{time.Date(2026, 1, 2, 3, 4, 5, 4_999_999, nyc), "2026-01-02T08:04:05.004Z"},
		{time.Date(1999, 12, 31, 23, 59, 59, 1_000_000, ist), "1999-12-31T18:29:59.001Z"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.in); got != tt.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tt.in, got, tt.want)
		}
		m := parley.Message{Room: "lobby", Seq: 1, TS: tt.in, Nonce: "n", Text: "x"}
		var back struct{ TS string }
		if err := json.Unmarshal(AppendMessage(nil, m), &back); err != nil || back.TS != tt.want {
			t.Errorf("AppendMessage ts = %q, want %q (%v)", back.TS, tt.want, err)
		}
		parsed, err := time.Parse(time.RFC3339, tt.want)
		if err != nil || !parsed.Equal(tt.in.Truncate(time.Millisecond)) {
			t.Errorf("%q parses as %v, want %v (%v)", tt.want, parsed, tt.in.Truncate(time.Millisecond), err)
		}
	}
}

func TestErrorFrame(t *testing.T) {
	t.Run("rate limited", func(t *testing.T) {
		for _, tt := range []struct {
			after time.Duration
			want  int64
		}{{0, 1}, {300 * time.Microsecond, 1}, {time.Millisecond, 1}, {1500 * time.Millisecond, 1500}} {
			err := fmt.Errorf("send: %w", &RateLimitError{RetryAfter: tt.after})
			f := ErrorFrame("r1", err)
			if f.Type != TypeError || f.ID != "r1" || f.Code != parley.ERATELIMITED || f.RetryAfterMS != tt.want {
				t.Errorf("ErrorFrame(RetryAfter %v) = %+v, want code rate_limited, retry_after_ms %d", tt.after, f, tt.want)
			}
			checkSentence(t, err)
			var back map[string]any
			if err := json.Unmarshal(Encode(f), &back); err != nil {
				t.Fatal(err)
			}
			if back["retry_after_ms"] != float64(tt.want) {
				t.Errorf("encoded retry_after_ms = %v, want %d", back["retry_after_ms"], tt.want)
			}
		}
	})
	t.Run("internal", func(t *testing.T) {
		secret := "dial tcp 10.0.0.3:5432: password authentication failed for user parley"
		f := ErrorFrame("r2", fmt.Errorf("store append: %w", errors.New(secret)))
		if f.Code != parley.EINTERNAL || f.ID != "r2" || f.RetryAfterMS != 0 {
			t.Errorf("ErrorFrame(internal) = %+v", f)
		}
		if f.Message == "" || strings.Contains(f.Message, "password") || strings.Contains(f.Message, "10.0.0.3") || strings.Contains(f.Message, "store") {
			t.Errorf("internal error message %q is empty or leaks the cause", f.Message)
		}
		if enc := string(Encode(f)); strings.Contains(enc, "password") || strings.Contains(enc, "retry_after_ms") {
			t.Errorf("encoded internal error %s leaks or carries retry_after_ms", enc)
		}
	})
	t.Run("domain error", func(t *testing.T) {
		err := fmt.Errorf("hub: %w", parley.Errorf(parley.EFORBIDDEN, "Join the room %q before sending to it.", "dev"))
		got := string(Encode(ErrorFrame("", err)))
		want := `{"type":"error","code":"forbidden","message":"Join the room \"dev\" before sending to it."}`
		if got != want {
			t.Errorf("Encode(ErrorFrame) =\n %s\nwant\n %s", got, want)
		}
	})
}

// TestEncodeFrames pins the JSON of every server frame; docs/protocol.md
// shows these same shapes.
func TestEncodeFrames(t *testing.T) {
	alice := parley.User{ID: "u_7f3a", Name: "alice"}
	bob := parley.User{ID: "u_91c2", Name: "bob"}
	msg := AppendMessageObject(nil, parley.Message{Room: "lobby", Seq: 41, From: bob, Text: "hi", Nonce: "c-1",
		TS: time.Date(2026, 11, 26, 1, 2, 3, 4_000_000, time.UTC)})
	tests := []struct {
		frame any
		want  string
	}{
		{Welcome{Type: TypeWelcome, User: alice, Token: "tok", HeartbeatS: 12.5, Limits: Limits{MaxText: 1024, MaxFrame: 13312, Rate: 5, Burst: 10}},
			`{"type":"welcome","user":{"id":"u_7f3a","name":"alice"},"token":"tok","heartbeat_s":12.5,"limits":{"max_text":1024,"max_frame":13312,"rate":5,"burst":10}}`},
		{Welcome{Type: TypeWelcome, User: alice, HeartbeatS: 25},
			`{"type":"welcome","user":{"id":"u_7f3a","name":"alice"},"heartbeat_s":25,"limits":{"max_text":0,"max_frame":0,"rate":0,"burst":0}}`},
		{Joined{Type: TypeJoined, ID: "1", Room: "lobby", Head: 41, Online: []parley.User{alice, bob}, OnlineCount: 2},
			`{"type":"joined","id":"1","room":"lobby","head":41,"online":[{"id":"u_7f3a","name":"alice"},{"id":"u_91c2","name":"bob"}],"online_count":2}`},
		{Left{Type: TypeLeft, ID: "2", Room: "lobby"}, `{"type":"left","id":"2","room":"lobby"}`},
		{Ack{Type: TypeAck, ID: "3", Room: "lobby", Seq: 42, Nonce: "c-2"}, `{"type":"ack","id":"3","room":"lobby","seq":42,"nonce":"c-2"}`},
		{History{Type: TypeHistory, ID: "4", Room: "lobby", Messages: []json.RawMessage{msg}, More: true},
			`{"type":"history","id":"4","room":"lobby","messages":[` + string(msg) + `],"more":true}`},
		{History{Type: TypeHistory, Room: "lobby", Messages: []json.RawMessage{}}, `{"type":"history","room":"lobby","messages":[],"more":false}`},
		{Typing{Type: TypeTyping, Room: "lobby", User: bob}, `{"type":"typing","room":"lobby","user":{"id":"u_91c2","name":"bob"}}`},
		{Presence{Type: TypePresence, Room: "lobby", Event: PresenceJoin, User: bob},
			`{"type":"presence","room":"lobby","event":"join","user":{"id":"u_91c2","name":"bob"}}`},
		{Pong{Type: TypePong, ID: "5"}, `{"type":"pong","id":"5"}`},
		{Pong{Type: TypePong}, `{"type":"pong"}`},
		{ErrorFrame("6", &RateLimitError{RetryAfter: 250 * time.Millisecond}),
			`{"type":"error","id":"6","code":"rate_limited","message":"You are sending too fast; wait 250 ms and try again.","retry_after_ms":250}`},
	}
	for _, tt := range tests {
		if got := string(Encode(tt.frame)); got != tt.want {
			t.Errorf("Encode(%T):\n got %s\nwant %s", tt.frame, got, tt.want)
		}
	}
}

func TestTextMode(t *testing.T) {
	m := parley.Message{Room: parley.Lobby, Seq: 1, From: parley.User{ID: "u1", Name: "alice"}, Text: "hello: world\nbye"}
	if got := string(AppendTextLine([]byte(">"), m)); got != ">alice: hello: world\nbye" {
		t.Errorf("AppendTextLine = %q", got)
	}
	if got := string(TextError(&RateLimitError{RetryAfter: time.Second})); got != "error: You are sending too fast; wait 1000 ms and try again." {
		t.Errorf("TextError(rate limit) = %q", got)
	}
	if got := string(TextError(errors.New("disk on fire"))); !strings.HasPrefix(got, "error: ") || strings.Contains(got, "disk") {
		t.Errorf("TextError(internal) = %q", got)
	}

	tests := []struct {
		in   string
		code string
	}{
		{"hello", ""},
		{`{"type":"send"}`, ""}, // text mode does not parse JSON
		{strings.Repeat("中", 1024), ""},
		{strings.Repeat("中", 1025), parley.ETOOLARGE},
		{strings.Repeat("a", 1025), parley.ETOOLARGE},
		{"", parley.EBADREQUEST},
		{" \r\n", parley.EBADREQUEST},
		{"bad \xff", parley.EBADREQUEST},
	}
	for _, tt := range tests {
		got, err := DecodeText([]byte(tt.in), testLimits)
		if code := parley.ErrorCode(err); code != tt.code {
			t.Errorf("DecodeText(%.40q) = %v, want code %q", tt.in, err, tt.code)
			continue
		}
		if err != nil {
			checkSentence(t, err)
			continue
		}
		if got != tt.in {
			t.Errorf("DecodeText(%.40q) = %.40q", tt.in, got)
		}
	}
}
