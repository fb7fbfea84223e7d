-- Users. Names are ASCII (parley.ValidateUserName), so NOCASE's ASCII-only
-- folding is exactly the case-insensitive uniqueness the UserStore promises.
-- kind is 'guest' today; accounts will add rows of another kind, not a table.
CREATE TABLE users (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL COLLATE NOCASE,
	kind       TEXT    NOT NULL DEFAULT 'guest',
	token_hash BLOB    UNIQUE,
	created_at INTEGER NOT NULL -- Unix milliseconds, UTC
) STRICT;

CREATE UNIQUE INDEX users_name ON users (name COLLATE NOCASE);

-- Rooms exist once they have a message (or are created explicitly later).
-- head is the latest seq: the next message gets head + 1, in the same
-- transaction that inserts it, so seqs have no gaps.
CREATE TABLE rooms (
	name       TEXT    PRIMARY KEY,
	head       INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
) STRICT;

-- user_id has no foreign key on purpose: a message keeps the author's id and
-- name as they were when it was sent, and must outlive changes to users.
CREATE TABLE messages (
	room      TEXT    NOT NULL REFERENCES rooms (name),
	seq       INTEGER NOT NULL,
	user_id   TEXT    NOT NULL,
	user_name TEXT    NOT NULL,
	text      TEXT    NOT NULL,
	ts        INTEGER NOT NULL, -- Unix milliseconds, UTC
	nonce     TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (room, seq)
) STRICT;

-- Queries must repeat "nonce <> ''" for the planner to use this index.
CREATE UNIQUE INDEX messages_nonce ON messages (room, user_id, nonce) WHERE nonce <> '';
