package parley

import "context"

// MessageStore keeps each room's messages durably and numbers them.
// Implementations are safe for concurrent use.
type MessageStore interface {
	// Append stores m, assigning m.Seq (the room's head + 1) and m.TS, and
	// returns the stored message. The room is created if missing. When m.Nonce
	// is non-empty and (m.Room, m.From.ID, m.Nonce) was stored before, nothing
	// is written and Append returns the original message with dup true. A nil
	// error means the message is committed and survives a crash. Returns
	// EUNAVAILABLE when the database cannot be reached.
	Append(ctx context.Context, m Message) (stored Message, dup bool, err error)

	// Messages returns the messages of room with after < seq <= until, in
	// ascending seq order, at most limit of them (the oldest ones). Rooms that
	// don't exist have no messages.
	Messages(ctx context.Context, room string, after, until Seq, limit int) ([]Message, error)

	// History returns up to limit messages of room with seq < before (all when
	// before <= 0), the newest ones, in ascending order, and whether older ones
	// exist.
	History(ctx context.Context, room string, before Seq, limit int) (msgs []Message, more bool, err error)

	// Head returns the room's latest seq, 0 for an empty or missing room.
	Head(ctx context.Context, room string) (Seq, error)
}

// UserStore keeps users and the hashes of their tokens.
// Implementations are safe for concurrent use.
type UserStore interface {
	// CreateGuest creates a guest user named name whose token hashes to
	// tokenHash. Returns ECONFLICT when the name is taken, case-insensitively.
	CreateGuest(ctx context.Context, name string, tokenHash []byte) (User, error)

	// UserByTokenHash returns the user whose token hashes to tokenHash.
	// Returns ENOTFOUND when there is none.
	UserByTokenHash(ctx context.Context, tokenHash []byte) (User, error)
}

// Store is everything Parley keeps durably. Close releases it; no method
// may be called after Close.
type Store interface {
	MessageStore
	UserStore
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}
