package bench

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// jsonMessage is the oracle: the frame decoded by encoding/json into a map
// (exact keys, last duplicate wins), then each field checked for its JSON
// type. ScanMessage must agree with it on every valid JSON input.
func jsonMessage(b []byte) (Message, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m == nil {
		return Message{}, false
	}
	str := func(k string) ([]byte, bool) {
		raw := m[k]
		if len(raw) == 0 || raw[0] != '"' {
			return nil, false
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return []byte(s), true
	}
	typ, ok := str("type")
	if !ok || string(typ) != "message" {
		return Message{}, false
	}
	room, ok1 := str("room")
	text, ok2 := str("text")
	dec := json.NewDecoder(bytes.NewReader(m["seq"]))
	dec.UseNumber()
	var v any
	if !ok1 || !ok2 || dec.Decode(&v) != nil {
		return Message{}, false
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return Message{}, false
	}
	seq, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return Message{}, false
	}
	return Message{Room: room, Seq: seq, Text: text}, true
}

func checkAgainstJSON(t *testing.T, b []byte) {
	t.Helper()
	got, ok := ScanMessage(b)
	if !json.Valid(b) {
		return // only the absence of a panic is required
	}
	want, wantOK := jsonMessage(b)
	if ok != wantOK {
		t.Fatalf("ScanMessage(%q) ok = %v, encoding/json says %v", b, ok, wantOK)
	}
	if ok && (got.Seq != want.Seq || !bytes.Equal(got.Room, want.Room) || !bytes.Equal(got.Text, want.Text)) {
		t.Fatalf("ScanMessage(%q)\n got room %q seq %d text %q\nwant room %q seq %d text %q",
			b, got.Room, got.Seq, got.Text, want.Room, want.Seq, want.Text)
	}
}

func serverFrame(text string) []byte {
	return protocol.AppendMessage(nil, parley.Message{Room: "lobby", Seq: 42, From: parley.User{ID: "u_1", Name: "al\"ice"},
		Text: text, TS: time.Date(2026, 11, 26, 1, 2, 3, 4e6, time.UTC), Nonce: "n-1"})
}

var scanSeeds = []string{
	string(serverFrame("hello")),
	string(serverFrame(`quote " backslash \ tab 	 newline
 <b>&amp;</b> ` + "\u2028\u2029 中 😀 \x01")),
	string(serverFrame("~B1.0.0.1.1700000000000000000~xxxx")),
	string(serverFrame("bad utf8 \xff\xfe here")),
	`{"type":"message","room":"r","seq":1,"text":"a"}`,
	` { "text" : "a" , "seq" : -0 , "room" : "r" , "type" : "message" } `,
	`{"type":"message","room":"r","seq":1,"text":"a","seq":2}`,
	`{"type":"message","room":"r","seq":1,"text":"a","seq":"2"}`,
	`{"type":"message","room":"r","seq":1.0,"text":"a"}`,
	`{"type":"message","room":"r","seq":1e2,"text":"a"}`,
	`{"type":"message","room":"r","seq":9223372036854775807,"text":"a"}`,
	`{"type":"message","room":"r","seq":9223372036854775808,"text":"a"}`,
	`{"type":"message","room":"r","seq":-9223372036854775808,"text":"a"}`,
	`{"type":"message","room":"r","seq":null,"text":"a"}`,
	`{"type":"message","room":null,"seq":1,"text":"a"}`,
	`{"type":"message","room":"r","seq":1,"text":null}`,
	`{"type":"message","room":"r","seq":1,"text":["a"]}`,
	`{"t\u0079pe":"m\u0065ssage","room":"r","seq":1,"t\u0065xt":"\ud83d\ude00\ud800x"}`,
	`{"type":"message","from":{"seq":5,"text":"no","x":[1,{"a":"}"}]},"room":"r","seq":1,"text":"yes"}`,
	`{"x":"\"seq\":5,\"type\":\"message\"","type":"message","room":"r","seq":3,"text":"t"}`,
	`{"type":"Message","room":"r","seq":1,"text":"a"}`,
	`{"Type":"message","room":"r","seq":1,"text":"a"}`,
	`{"type":"presence","room":"lobby","event":"join","user":{"id":"u","name":"n"}}`,
	`{"type":"ack","id":"4","room":"lobby","seq":42,"nonce":"c"}`,
	`[{"type":"message","room":"r","seq":1,"text":"a"}]`,
	`{}`, `null`, `"message"`, `{"type":"message"`, `{"type":"message","room":"r","seq":1,"text":"a"`,
	`{"type":"message","room":"r","seq":1,"text":"a\`, `{"a":}`, `{,}`, `{"a" 1}`, ``, `{`, `{"`,
}

func TestScanMessageAgreesWithJSON(t *testing.T) {
	for _, s := range scanSeeds {
		checkAgainstJSON(t, []byte(s))
	}
	m, ok := ScanMessage(serverFrame("hello"))
	if !ok || m.Seq != 42 || string(m.Room) != "lobby" || string(m.Text) != "hello" {
		t.Fatalf("ScanMessage of a server frame = %+v, %v", m, ok)
	}
}

func TestScanFrameFields(t *testing.T) {
	f, ok := ScanFrame([]byte(`{"type":"error","id":"7","code":"rate_limited","message":"Wait \"250\" ms.","retry_after_ms":250}`))
	if !ok || !f.Is(fType, "error") || !f.Is(fID, "7") || !f.Is(fCode, "rate_limited") {
		t.Fatalf("ScanFrame error frame: %v", ok)
	}
	if msg, _ := f.Str(fMessage); string(msg) != `Wait "250" ms.` {
		t.Errorf("message = %q", msg)
	}
	if ra, ok := f.Int(fRetryAfter); !ok || ra != 250 {
		t.Errorf("retry_after_ms = %d, %v", ra, ok)
	}
	if _, ok := f.Int(fSeq); ok {
		t.Errorf("an absent field should not read as an integer")
	}
}

func TestScanMessageDoesNotAllocate(t *testing.T) {
	frame := serverFrame(string(appendPayload(nil, stamp{run: 7, seq: 3, sent: 1}, 100)))
	allocs := testing.AllocsPerRun(100, func() {
		m, ok := ScanMessage(frame)
		if !ok {
			t.Fatal("not a message")
		}
		if _, ok := parseStamp(m.Text); !ok {
			t.Fatal("no stamp")
		}
	})
	if allocs != 0 {
		t.Errorf("ScanMessage + parseStamp allocate %v times per frame, want 0", allocs)
	}
}

func FuzzScanMessage(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstJSON(t, b)
		// Frames the server's own encoder writes are always read back.
		var m struct{ Text string }
		if json.Unmarshal(b, &m) == nil && m.Text != "" {
			frame := serverFrame(m.Text)
			got, ok := ScanMessage(frame)
			want, _ := jsonMessage(frame)
			if !ok || !bytes.Equal(got.Text, want.Text) {
				t.Fatalf("server frame %q: scanned %q (%v), want %q", frame, got.Text, ok, want.Text)
			}
		}
	})
}

func TestStamps(t *testing.T) {
	s := stamp{run: 4294967295, step: 12, pub: 3, seq: 99, sent: time.Now().UnixNano()}
	p := appendPayload(nil, s, 100)
	if len(p) != 100 {
		t.Errorf("payload is %d bytes, want 100", len(p))
	}
	if got, ok := parseStamp(p); !ok || got != s {
		t.Errorf("parseStamp = %+v %v, want %+v", got, ok, s)
	}
	probe := stamp{run: 1, step: probeStep, seq: 1, sent: 5}
	if got, ok := parseStamp(appendPayload(nil, probe, 0)); !ok || got != probe {
		t.Errorf("probe stamp = %+v %v", got, ok)
	}
	// Text mode: "NAME: TEXT", lines merged into one frame, look-alikes.
	frame := "bench: ~Bx~ " + string(appendPayload(nil, s, 70)) + "\n~B1.2~\n" + "alice: " + string(appendPayload(nil, probe, 0))
	var got []stamp
	eachStamp([]byte(frame), func(st stamp) { got = append(got, st) })
	if len(got) != 2 || got[0] != s || got[1] != probe {
		t.Errorf("eachStamp found %+v", got)
	}
	for _, bad := range []string{"", "~B", "~B1.2.3.4~", "~B1.2.3.4.5", "~Ba.2.3.4.5~", "~B99999999999.0.0.1.1~", strings.Repeat("~B1", 100),
		"~B1.2.3.4." + strings.Repeat("9", 20) + "~", "~B1..3.4.5~", "~B1.2.3.4.5.~"} {
		if st, ok := parseStamp([]byte(bad)); ok {
			t.Errorf("parseStamp(%q) = %+v, want false", bad, st)
		}
	}
}
