package bench

import (
	"bytes"
	"strconv"
)

// A published message's text carries its own identity and send time, so a
// receiver needs nothing but the text to count it, order it and time it,
// whatever the server wraps around it ("NAME: TEXT", a JSON frame, lines
// merged into one frame):
//
//	~B<run>.<step>.<publisher>.<seq>.<unix nanos>~xxxxxxxx…
//
// '~' cannot appear in a Parley user name and no JSON encoder escapes any
// of these bytes, so the stamp reads the same in every dialect.
const stampMarker = "~B"

// minPayload is the smallest --size that holds any stamp.
const minPayload = 64

// stamp identifies one published message.
type stamp struct {
	run  uint32 // the bench run, so other traffic on the server is ignored
	step int    // ramp step; -1 for the probes before a phase
	pub  int    // publisher index
	seq  int64  // per publisher and step, from 1
	sent int64  // unix nanoseconds when it was written
}

// appendPayload appends s's text, padded to size bytes when the stamp is
// shorter.
func appendPayload(buf []byte, s stamp, size int) []byte {
	start := len(buf)
	buf = append(buf, stampMarker...)
	buf = strconv.AppendUint(buf, uint64(s.run), 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, int64(s.step), 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, int64(s.pub), 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, s.seq, 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, s.sent, 10)
	buf = append(buf, '~')
	for len(buf)-start < size {
		buf = append(buf, 'x')
	}
	return buf
}

// parseStamp reads the stamp at the start of b.
func parseStamp(b []byte) (stamp, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(stampMarker))
	if !ok {
		return stamp{}, false
	}
	var f [5]int64
	for i := range f {
		end := byte('.')
		if i == len(f)-1 {
			end = '~'
		}
		neg := i == 1 && len(rest) > 0 && rest[0] == '-'
		if neg {
			rest = rest[1:]
		}
		n, j := 0, 0
		var v int64
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' && n < 19 {
			v = v*10 + int64(rest[j]-'0')
			j++
			n++
		}
		if n == 0 || j >= len(rest) || rest[j] != end {
			return stamp{}, false
		}
		if neg {
			v = -v
		}
		f[i] = v
		rest = rest[j+1:]
	}
	if f[0] < 0 || f[0] > 1<<32-1 || f[2] > 1<<20 {
		return stamp{}, false
	}
	return stamp{run: uint32(f[0]), step: int(f[1]), pub: int(f[2]), seq: f[3], sent: f[4]}, true
}

// eachStamp calls fn for every stamp in a text-mode frame: the frame may be
// "NAME: TEXT", the bare text, or several texts on separate lines.
func eachStamp(frame []byte, fn func(stamp)) {
	for {
		i := bytes.Index(frame, []byte(stampMarker))
		if i < 0 {
			return
		}
		frame = frame[i:]
		if s, ok := parseStamp(frame); ok {
			fn(s)
		}
		frame = frame[len(stampMarker):]
	}
}
