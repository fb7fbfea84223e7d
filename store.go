package parley

import (
	"context"
	"time"
)

// MessageStore keeps each room's messages durably and numbers them.
// Implementations are safe for concurrent use.
type MessageStore interface {
	// Append stores m, assigning m.Seq (the room's head + 1) and m.TS, and
	// returns the stored message. The room is created (public) if missing.
	// When m.Nonce is non-empty and (m.Room, m.From.ID, m.Nonce) was stored
	// before, nothing is written and Append returns the original message
	// with dup true. A nil error means the message is committed and survives
	// a crash. Returns EUNAVAILABLE when the database cannot be reached.
	Append(ctx context.Context, m Message) (stored Message, dup bool, err error)

	// QueueAppend stores m as Append does without waiting for the commit:
	// done gets Append's results once, from the store's writer, so it must
	// not block. Appends queued by one goroutine are stored, and answered,
	// in the order queued, which lets one connection have many sends in
	// flight and still keep their order.
	QueueAppend(ctx context.Context, m Message, done func(stored Message, dup bool, err error))

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

// MessageEditor changes stored messages.
// Implementations are safe for concurrent use.
type MessageEditor interface {
	// Message returns message seq of room. Returns ENOTFOUND if there is none.
	Message(ctx context.Context, room string, seq Seq) (Message, error)

	// EditMessage replaces the text of message seq and sets its EditedAt,
	// returning the edited message. Returns ENOTFOUND if there is no such
	// message or it was deleted.
	EditMessage(ctx context.Context, room string, seq Seq, text string) (Message, error)

	// DeleteMessage empties the text of message seq and marks it deleted,
	// returning it. Deleting a deleted message is not an error. Returns
	// ENOTFOUND if there is no such message.
	DeleteMessage(ctx context.Context, room string, seq Seq) (Message, error)
}

// RoomMembership is a room as one member sees it.
type RoomMembership struct {
	Room Room
	Role Role
}

// RoomStore keeps rooms and each user's standing in them.
// Implementations are safe for concurrent use.
type RoomStore interface {
	// CreateRoom creates r (CreatedAt is set by the store) with owner as its
	// owner (none when empty) and members as members. Returns ECONFLICT when
	// a room of that name exists.
	CreateRoom(ctx context.Context, r Room, owner string, members []string) (Room, error)

	// EnsureRoom returns the room named name, creating it as a public room
	// without an owner if it is missing.
	EnsureRoom(ctx context.Context, name string) (Room, error)

	// Room returns the room named name. Returns ENOTFOUND if there is none.
	Room(ctx context.Context, name string) (Room, error)

	// SetTopic sets the room's topic. Returns ENOTFOUND for a missing room.
	SetTopic(ctx context.Context, room, topic string) error

	// Membership returns userID's standing in room: the zero Membership
	// when the user has none. A missing room is not an error.
	Membership(ctx context.Context, room, userID string) (Membership, error)

	// SetRole sets userID's role in room; RoleNone ends the membership but
	// keeps a ban or mute.
	SetRole(ctx context.Context, room, userID string, role Role) error

	// SetBanned bans or unbans userID; a ban also ends the membership.
	SetBanned(ctx context.Context, room, userID string, banned bool) error

	// SetMutedUntil mutes userID in room until the given time (zero unmutes).
	SetMutedUntil(ctx context.Context, room, userID string, until time.Time) error

	// RoomsOf lists the rooms userID is a member of, by name.
	RoomsOf(ctx context.Context, userID string) ([]RoomMembership, error)
}

// Account is a user who signs in with a password.
type Account struct {
	User
	PasswordHash string // argon2id, in the PHC string format
	Admin        bool
	Disabled     bool
	CreatedAt    time.Time
}

// UserStore keeps guest users and the hashes of their tokens.
// Implementations are safe for concurrent use.
type UserStore interface {
	// CreateGuest creates a guest user named name whose token hashes to
	// tokenHash. Returns ECONFLICT when a guest or account has the name,
	// case-insensitively.
	CreateGuest(ctx context.Context, name string, tokenHash []byte) (User, error)

	// UserByTokenHash returns the guest whose token hashes to tokenHash.
	// Returns ENOTFOUND when there is none.
	UserByTokenHash(ctx context.Context, tokenHash []byte) (User, error)
}

// AccountStore keeps accounts, their sessions, and external users.
// Implementations are safe for concurrent use.
type AccountStore interface {
	// User returns any user by id, and how they prove who they are (guests
	// may only use public rooms). Returns ENOTFOUND when there is none.
	User(ctx context.Context, id string) (User, IdentityKind, error)

	// SaveExternalUser records an external (JWT) user under its id, or
	// updates its name. External names need not be unique.
	SaveExternalUser(ctx context.Context, u User) error

	// CreateAccount creates an account. Returns ECONFLICT when a guest or
	// account has the name, case-insensitively.
	CreateAccount(ctx context.Context, name, passwordHash string, admin bool) (User, error)

	// AccountByName returns the account named name, case-insensitively.
	// Returns ENOTFOUND when there is none.
	AccountByName(ctx context.Context, name string) (Account, error)

	// AccountByID returns the account with id. Returns ENOTFOUND when there
	// is none.
	AccountByID(ctx context.Context, id string) (Account, error)

	// Accounts lists every account by name.
	Accounts(ctx context.Context) ([]Account, error)

	// SetPassword replaces an account's password hash and ends all its
	// sessions. Returns ENOTFOUND for an unknown id.
	SetPassword(ctx context.Context, userID, passwordHash string) error

	// SetDisabled disables or enables an account; disabling ends all its
	// sessions. Returns ENOTFOUND for an unknown id.
	SetDisabled(ctx context.Context, userID string, disabled bool) error

	// CreateSession records a session token's hash for an account.
	CreateSession(ctx context.Context, userID string, tokenHash []byte, expires time.Time) error

	// SessionAccount returns the account of a live session and when the
	// session expires. Returns ENOTFOUND for an unknown or expired session.
	SessionAccount(ctx context.Context, tokenHash []byte, now time.Time) (Account, time.Time, error)

	// DeleteSession ends one session; an unknown one is not an error.
	DeleteSession(ctx context.Context, tokenHash []byte) error
}

// Store is everything Parley keeps durably. Close releases it; no method
// may be called after Close.
type Store interface {
	MessageStore
	MessageEditor
	RoomStore
	UserStore
	AccountStore
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}
