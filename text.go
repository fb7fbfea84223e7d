package parley

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Every string a client gives that is stored (texts, topics, nonces, user
// ids) must be valid UTF-8 without control characters: PostgreSQL's text
// refuses NUL outright, so allowing it would make the same send succeed on
// SQLite and fail as "unavailable" on PostgreSQL, and the others have no
// business in a chat message. Texts and topics keep tabs and line breaks.

// MaxUserIDLen bounds a user id: local ids are short, external ones are
// "ext:" and the token's sub.
const MaxUserIDLen = 128

// ValidateNonce returns an EBADREQUEST error saying why nonce can't be a
// send's nonce, or nil.
func ValidateNonce(nonce string) error {
	if nonce == "" {
		return Errorf(EBADREQUEST, "A send needs a nonce (1-%d characters, unique per room) so a retry is never stored twice.", MaxNonceLen)
	}
	if !utf8.ValidString(nonce) {
		return Errorf(EBADREQUEST, "The nonce is not valid UTF-8.")
	}
	if n := utf8.RuneCountInString(nonce); n > MaxNonceLen {
		return Errorf(EBADREQUEST, "The nonce is %d characters long; use at most %d.", n, MaxNonceLen)
	}
	if r, ok := controlChar(nonce, false); ok {
		return Errorf(EBADREQUEST, "The nonce has a control character (%U); use printable characters.", r)
	}
	return nil
}

// ValidateUserID returns an EBADREQUEST error saying why id can't name a
// user, or nil. It checks the form only, not that the user exists.
func ValidateUserID(id string) error {
	if id == "" || len(id) > MaxUserIDLen || !utf8.ValidString(id) {
		return Errorf(EBADREQUEST, "A user is named by its id: 1-%d bytes, as frames show it.", MaxUserIDLen)
	}
	if r, ok := controlChar(id, false); ok {
		return Errorf(EBADREQUEST, "The user id has a control character (%U); no user's id does.", r)
	}
	return nil
}

// ValidateTopic returns an error saying why topic can't be a room's topic
// (ETOOLARGE when it is too long, EBADREQUEST otherwise), or nil. An empty
// topic is valid: it clears the topic.
func ValidateTopic(topic string) error {
	if !utf8.ValidString(topic) {
		return Errorf(EBADREQUEST, "The topic is not valid UTF-8.")
	}
	if n := utf8.RuneCountInString(topic); n > MaxTopicLen {
		return Errorf(ETOOLARGE, "The topic is %d characters long; the limit is %d.", n, MaxTopicLen)
	}
	if r, ok := controlChar(topic, true); ok {
		return Errorf(EBADREQUEST, "The topic has a control character (%U); only tabs and line breaks may be in it.", r)
	}
	return nil
}

// ValidateText checks a message text: not empty (nor only white space), at
// most maxText Unicode code points, so 1024 Chinese characters pass where
// 1024 bytes would not, and no control characters but tabs and line breaks.
// It returns ETOOLARGE when the text is too long, EBADREQUEST otherwise.
func ValidateText(text string, maxText int) error {
	if strings.TrimSpace(text) == "" {
		return Errorf(EBADREQUEST, "The message is empty; write something first.")
	}
	if !utf8.ValidString(text) {
		return Errorf(EBADREQUEST, "The message is not valid UTF-8.")
	}
	if n := utf8.RuneCountInString(text); n > maxText {
		return Errorf(ETOOLARGE, "The message is %d characters long; the limit is %d.", n, maxText)
	}
	if r, ok := controlChar(text, true); ok {
		return Errorf(EBADREQUEST, "The message has a control character (%U); only tabs and line breaks may be in it.", r)
	}
	return nil
}

// controlChar returns the first control character (Unicode's Cc: C0, DEL
// and C1) in s, leaving out tab, line feed and carriage return when breaks
// is set.
func controlChar(s string, breaks bool) (rune, bool) {
	for _, r := range s {
		if breaks && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return r, true
		}
	}
	return 0, false
}
