package bench

// tracker tells, for one receiver, whether a publisher's message is new,
// a duplicate or out of order. One bit per expected message; owned by the
// receiver's read loop.
type tracker struct {
	pubs []pubTrack
}

type pubTrack struct {
	max  int64
	seen []uint64
}

// reset prepares for n publishers, keeping the memory.
func (t *tracker) reset(n int) {
	if cap(t.pubs) < n {
		t.pubs = make([]pubTrack, n)
	}
	t.pubs = t.pubs[:n]
	for i := range t.pubs {
		p := &t.pubs[i]
		p.max = 0
		clear(p.seen)
	}
}

// see records message seq (≥ 1) of publisher pub (< n) and reports
// whether it was seen before and whether a later one from the same
// publisher had already arrived.
func (t *tracker) see(pub int, seq int64) (dup, outOfOrder bool) {
	p := &t.pubs[pub]
	w, bit := int(seq/64), uint64(1)<<(seq%64)
	for w >= len(p.seen) {
		p.seen = append(p.seen, 0)
	}
	if p.seen[w]&bit != 0 {
		return true, false
	}
	p.seen[w] |= bit
	if seq < p.max {
		return false, true
	}
	p.max = seq
	return false, false
}
