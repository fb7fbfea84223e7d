package sqlite

import "github.com/parleychat/parley"

// maxCachedHeads bounds the head cache. Past it the cache starts over,
// which costs one indexed read per room as rooms come back: cheaper and
// simpler than an LRU for a cache that exists to spare that read.
const maxCachedHeads = 1 << 16

// heads caches each room's head (its latest seq) for the writer goroutine,
// which alone uses it: an append reads the head from the room's messages
// only the first time the writer sees its room.
//
// It can only be right because the writer is the only writer: nothing else
// adds messages. A batch that fails may have advanced heads that it
// never committed, or read some inside a transaction that rolled back, so
// any failure resets the whole cache (see writeBatch). Even a stale head
// could not corrupt a room: (room, seq) is the messages' primary key, so
// reusing a seq fails the INSERT, and with it the batch, which resets the
// cache.
type heads struct {
	known   map[string]parley.Seq // as committed
	pending map[string]parley.Seq // advanced by the batch being written, not yet committed
}

func newHeads() *heads {
	return &heads{known: make(map[string]parley.Seq), pending: make(map[string]parley.Seq)}
}

// get returns room's head as the batch being written sees it.
func (h *heads) get(room string) (parley.Seq, bool) {
	if seq, ok := h.pending[room]; ok {
		return seq, true
	}
	seq, ok := h.known[room]
	return seq, ok
}

// advance records that room's head is now seq in the batch being written.
func (h *heads) advance(room string, seq parley.Seq) { h.pending[room] = seq }

// committed says the batch committed, pending heads with it.
func (h *heads) committed() {
	if len(h.known)+len(h.pending) > maxCachedHeads {
		clear(h.known)
	}
	for room, seq := range h.pending {
		h.known[room] = seq
	}
	clear(h.pending)
}

// reset forgets everything: the batch failed.
func (h *heads) reset() {
	clear(h.known)
	clear(h.pending)
}
