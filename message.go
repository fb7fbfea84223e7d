package parley

import "time"

// Seq numbers a room's messages 1, 2, 3, ... with no gaps. The store assigns
// it, so every node and every user sees the same order.
type Seq = int64

// MaxNonceLen is the longest nonce a client may attach to a send.
const MaxNonceLen = 64

// Message is one stored chat message.
type Message struct {
	Room  string
	Seq   Seq
	From  User
	Text  string
	TS    time.Time // assigned by the store, UTC
	Nonce string    // client-chosen; unique per (Room, From.ID) when non-empty
	// EditedAt is when the text was last changed; zero if never.
	EditedAt time.Time
	// Deleted messages keep their seq and sender and lose their text.
	Deleted bool
}
