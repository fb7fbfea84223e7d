package protocol

import (
	"github.com/parleychat/parley"
)

// Text mode is the seed page's protocol: every text frame a client sends is
// a message to the lobby, every lobby message arrives as "NAME: TEXT", and
// errors arrive as "error: MESSAGE".

// AppendTextLine appends the text-mode rendering of m to buf.
func AppendTextLine(buf []byte, m parley.Message) []byte {
	buf = append(buf, m.From.Name...)
	buf = append(buf, ": "...)
	return append(buf, m.Text...)
}

// TextError renders err for a text-mode client.
func TextError(err error) []byte {
	return []byte("error: " + parley.ErrorMessage(err))
}

// DecodeText validates a text-mode frame as a message text.
func DecodeText(data []byte, limits Limits) (string, error) {
	text := string(data)
	if err := parley.ValidateText(text, limits.MaxText); err != nil {
		return "", err
	}
	return text, nil
}
