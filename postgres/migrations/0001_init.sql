-- Parley's schema, the same semantics as the SQLite store's migrations
-- 0001 and 0002 (PostgreSQL started at that point, so it has one file).
-- Times are timestamptz at millisecond precision, as the store truncates
-- them; NULL stands for "never" or "not".

-- Users: guests, accounts and external (JWT) users. Names are ASCII
-- (parley.ValidateUserName), so lower() folds them alike in every locale.
-- Guests and accounts share one case-insensitive namespace, enforced by the
-- unique index even between nodes creating one name at the same moment;
-- external names come from another application and may repeat. Statements
-- must repeat "kind <> 'external'" for the planner (and ON CONFLICT's index
-- inference) to use users_name.
CREATE TABLE users (
	id            text        PRIMARY KEY,
	name          text        NOT NULL,
	kind          text        NOT NULL CHECK (kind IN ('guest', 'account', 'external')),
	token_hash    bytea       UNIQUE,              -- guests only
	password_hash text        NOT NULL DEFAULT '', -- accounts only; argon2id PHC string
	admin         boolean     NOT NULL DEFAULT false,
	disabled      boolean     NOT NULL DEFAULT false,
	created_at    timestamptz NOT NULL
);

CREATE UNIQUE INDEX users_name ON users (lower(name)) WHERE kind <> 'external';

-- An account's sessions; only the token's hash is kept.
CREATE TABLE sessions (
	token_hash bytea       PRIMARY KEY,
	user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	expires    timestamptz NOT NULL,
	created_at timestamptz NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);

-- Rooms that Append or EnsureRoom create are public. head is the latest
-- seq: the next message gets head + 1, in the same transaction that inserts
-- it, so seqs have no gaps. The row lock the increment takes is what orders
-- appends to a room across nodes; it doesn't block the key-share locks that
-- foreign keys into rooms take, so membership writes don't wait for it.
CREATE TABLE rooms (
	name       text        PRIMARY KEY,
	kind       text        NOT NULL DEFAULT 'public' CHECK (kind IN ('public', 'private', 'direct')),
	topic      text        NOT NULL DEFAULT '',
	head       bigint      NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL
);

-- A user's standing in a room. role '' is "not a member": the row then
-- exists only to keep a ban or a mute, and is deleted once neither remains.
-- user_id has no foreign key, like messages.user_id: external users need
-- not have been saved, and standing must outlive changes to users.
CREATE TABLE room_members (
	room        text        NOT NULL REFERENCES rooms (name),
	user_id     text        NOT NULL,
	role        text        NOT NULL DEFAULT '' CHECK (role IN ('', 'member', 'moderator', 'owner')),
	banned      boolean     NOT NULL DEFAULT false,
	muted_until timestamptz, -- NULL: not muted
	PRIMARY KEY (room, user_id)
);

-- RoomsOf; queries must repeat "role <> ''" for the planner to use it.
CREATE INDEX room_members_user ON room_members (user_id) WHERE role <> '';

-- user_id has no foreign key on purpose: a message keeps the author's id and
-- name as they were when it was sent, and must outlive changes to users.
-- A deleted message keeps its row (and so its seq) with text ''.
CREATE TABLE messages (
	room      text        NOT NULL REFERENCES rooms (name),
	seq       bigint      NOT NULL,
	user_id   text        NOT NULL,
	user_name text        NOT NULL,
	text      text        NOT NULL,
	ts        timestamptz NOT NULL,
	nonce     text        NOT NULL DEFAULT '',
	edited_at timestamptz, -- NULL: never edited
	deleted   boolean     NOT NULL DEFAULT false,
	PRIMARY KEY (room, seq)
);

-- Statements must repeat "nonce <> ''" for the planner (and ON CONFLICT's
-- index inference) to use this index.
CREATE UNIQUE INDEX messages_nonce ON messages (room, user_id, nonce) WHERE nonce <> '';
