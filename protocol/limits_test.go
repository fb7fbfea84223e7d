package protocol

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
)

// asciiJSONString encodes s the way the strictest common encoders do
// (Python's json.dumps with its default ensure_ascii): every non-ASCII code
// point as \uXXXX, those beyond the BMP as a surrogate pair of them.
func asciiJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == '<' || r == '>' || r == '&':
			fmt.Fprintf(&b, `\u%04x`, r)
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xFFFF:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestMaxFrameFor checks the promise of MaxFrameFor: a send of maxText
// characters of any script fits in a frame, however its encoder escapes it,
// so such a client meets too_large rather than close 1009.
func TestMaxFrameFor(t *testing.T) {
	for _, maxText := range []int{1, 16, 1024, 4096} {
		limits := Limits{MaxText: maxText, MaxFrame: MaxFrameFor(maxText)}
		// "<" is escaped as \u003c, the longest escape of a character
		// in the BMP; "😀" as a surrogate pair of them.
		for _, char := range []string{"a", "<", `"`, "é", "中", "😀"} {
			text := strings.Repeat(char, maxText)
			frame := `{"type":"send","id":` + asciiJSONString(strings.Repeat("i", maxIDLen)) +
				`,"room":` + asciiJSONString(strings.Repeat("r", 64)) +
				`,"text":` + asciiJSONString(text) +
				`,"nonce":` + asciiJSONString(strings.Repeat("😀", 64)) + `}`
			if len(frame) > limits.MaxFrame {
				t.Errorf("max_text %d of %q: the frame is %d bytes, over MaxFrameFor's %d", maxText, char, len(frame), limits.MaxFrame)
				continue
			}
			f, err := Decode([]byte(frame), limits)
			if err != nil || f.Text != text {
				t.Errorf("max_text %d of %q: Decode = %v", maxText, char, err)
			}
		}
	}
}
