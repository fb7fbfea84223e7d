package protocol

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// scanFrame is Decode's fast path: one pass over a frame of the usual shape
// (an object whose keys are wireNames, spelled exactly, each at most once,
// with string or integer values), filling w as encoding/json would fill a
// wireClientFrame; w.has then tells the keys met. encoding/json cost a
// send ~4.5 µs and 35 allocations in two passes (a map of the keys, then
// the struct by reflection); this allocates the frame's strings as one.
//
// It reports false for anything else: a syntax error, an unknown or
// repeated key, a null, members, a surrogate escape that isn't a pair,
// invalid UTF-8 (which encoding/json would replace), a number that isn't
// a plain integer. Decode then takes the slow path, which decides those
// cases and words their errors. FuzzScanFrame checks that whatever this
// accepts, encoding/json reads the same.
func scanFrame(data []byte, w *wireValues) bool {
	s := scanner{data: data}
	s.skipSpace()
	if !s.take('{') {
		return false
	}
	s.skipSpace()
	if !s.take('}') {
		for {
			s.skipSpace()
			field, ok := s.key()
			if !ok || w.has&(1<<field) != 0 {
				return false
			}
			w.has |= 1 << field
			s.skipSpace()
			if !s.take(':') {
				return false
			}
			s.skipSpace()
			if !s.value(field, w) {
				return false
			}
			s.skipSpace()
			if s.take(',') {
				continue
			}
			if s.take('}') {
				break
			}
			return false
		}
	}
	if !s.end() {
		return false
	}
	s.strings(w)
	return true
}

// scanner is scanFrame's state. String values are kept as the bytes they
// stand for until the scan ends, then made strings in one allocation.
type scanner struct {
	data []byte
	i    int
	strs [9]struct { // one per string field of wireValues
		bit uint32 // the field's bit in wireValues.has
		b   []byte // in data, or in unescaped
	}
	nstrs     int
	unescaped []byte
}

// strings sets w's string fields from what the scan kept.
func (s *scanner) strings(w *wireValues) {
	n := 0
	for _, v := range s.strs[:s.nstrs] {
		n += len(v.b)
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, v := range s.strs[:s.nstrs] {
		sb.Write(v.b)
	}
	all, off := sb.String(), 0
	for _, v := range s.strs[:s.nstrs] {
		*w.stringField(v.bit) = all[off : off+len(v.b)]
		off += len(v.b)
	}
}

func (s *scanner) skipSpace() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) take(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space follows.
func (s *scanner) end() bool {
	s.skipSpace()
	return s.i == len(s.data)
}

// key reads a key and returns its index in wireNames; keys with escapes
// are left to the slow path.
func (s *scanner) key() (int, bool) {
	if !s.take('"') {
		return 0, false
	}
	start := s.i
	for s.i < len(s.data) && s.data[s.i] != '"' {
		s.i++
	}
	if s.i == len(s.data) {
		return 0, false
	}
	name := s.data[start:s.i]
	s.i++
	for i, n := range wireNames {
		if n == string(name) {
			return i, true
		}
	}
	return 0, false
}

// value reads the value of field (an index in wireNames) into w.
func (s *scanner) value(field int, w *wireValues) bool {
	bit := uint32(1) << field
	if w.stringField(bit) != nil {
		b, ok := s.string()
		if ok {
			s.strs[s.nstrs].bit, s.strs[s.nstrs].b = bit, b
			s.nstrs++
		}
		return ok
	}
	var ok bool
	var n int64
	switch bit {
	case fSince:
		w.Since, ok = s.integer(64)
	case fBefore:
		w.Before, ok = s.integer(64)
	case fSeq:
		w.Seq, ok = s.integer(64)
	case fLimit:
		n, ok = s.integer(strconv.IntSize)
		w.Limit = int(n)
	case fSeconds:
		n, ok = s.integer(strconv.IntSize)
		w.Seconds = int(n)
	}
	return ok // members: left to the slow path
}

// integer reads a JSON number without fraction or exponent that fits in
// bits.
func (s *scanner) integer(bits int) (int64, bool) {
	start := s.i
	s.take('-')
	digits := s.i
	for s.i < len(s.data) && '0' <= s.data[s.i] && s.data[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || (n > 1 && s.data[digits] == '0') {
		return 0, false
	}
	if s.i < len(s.data) {
		if c := s.data[s.i]; c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(s.data[start:s.i]), 10, bits)
	return v, err == nil
}

// string reads a JSON string and returns the bytes it stands for: a slice
// of data, or of unescaped when it has escapes.
func (s *scanner) string() ([]byte, bool) {
	if !s.take('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			b := s.data[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(b) {
				return nil, false
			}
			return b, true
		case c == '\\':
			s.i = start
			return s.unescape()
		case c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return nil, false
}

// unescape reads the rest of a string that has escapes, from just after
// its opening quote, into unescaped.
func (s *scanner) unescape() ([]byte, bool) {
	from := len(s.unescaped)
	buf := s.unescaped
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			s.unescaped = buf
			b := buf[from:len(buf):len(buf)]
			return b, utf8.Valid(b)
		case c < 0x20:
			return nil, false
		case c != '\\':
			buf = append(buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.data) {
			return nil, false
		}
		e := s.data[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r) {
				// A pair is two escapes. What encoding/json makes of a
				// lone or mismatched half is left to encoding/json.
				if !s.take('\\') || !s.take('u') {
					return nil, false
				}
				lo, ok := s.hex4()
				if !ok {
					return nil, false
				}
				if r = utf16.DecodeRune(r, lo); r == utf8.RuneError {
					return nil, false
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, false
		}
	}
	return nil, false
}

// hex4 reads the four hex digits of a \u escape.
func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.data) {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.i : s.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.i += 4
	return r, true
}
