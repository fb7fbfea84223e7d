-- Rooms get a kind, a topic and members; messages can be edited and
-- deleted; users can be accounts (with sessions) or external (JWT) users.

-- Rooms that Append or EnsureRoom create are public, as every room was.
ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'public'
	CHECK (kind IN ('public', 'private', 'direct'));
ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';

-- A user's standing in a room. role '' is "not a member": the row then
-- exists only to keep a ban or a mute, and is deleted once neither remains.
-- user_id has no foreign key, like messages.user_id: external users need
-- not have been saved, and standing must outlive changes to users.
CREATE TABLE room_members (
	room        TEXT    NOT NULL REFERENCES rooms (name),
	user_id     TEXT    NOT NULL,
	role        TEXT    NOT NULL DEFAULT ''
		CHECK (role IN ('', 'member', 'moderator', 'owner')),
	banned      INTEGER NOT NULL DEFAULT 0 CHECK (banned IN (0, 1)),
	muted_until INTEGER NOT NULL DEFAULT 0, -- Unix milliseconds, UTC; 0 = not muted
	PRIMARY KEY (room, user_id)
) STRICT;

-- RoomsOf; queries must repeat "role <> ''" for the planner to use it.
CREATE INDEX room_members_user ON room_members (user_id) WHERE role <> '';

-- A deleted message keeps its row (and so its seq) with text ''.
ALTER TABLE messages ADD COLUMN edited_at INTEGER NOT NULL DEFAULT 0; -- Unix ms; 0 = never
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));

-- users is rebuilt rather than altered: ALTER TABLE can't add a CHECK to
-- an existing column (kind), and the new columns want theirs. This is
-- SQLite's documented 12-step rebuild reduced to what applies here: no
-- table references users yet (sessions is created below), and there are
-- no views or triggers, so foreign keys can stay on.
CREATE TABLE users_new (
	id            TEXT    PRIMARY KEY,
	name          TEXT    NOT NULL COLLATE NOCASE,
	kind          TEXT    NOT NULL CHECK (kind IN ('guest', 'account', 'external')),
	token_hash    BLOB    UNIQUE,                -- guests only
	password_hash TEXT    NOT NULL DEFAULT '',   -- accounts only; argon2id PHC string
	admin         INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
	disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created_at    INTEGER NOT NULL               -- Unix milliseconds, UTC
) STRICT;

INSERT INTO users_new (id, name, kind, token_hash, created_at)
	SELECT id, name, kind, token_hash, created_at FROM users;

DROP TABLE users; -- and with it the old users_name index
ALTER TABLE users_new RENAME TO users;

-- Guests and accounts share one case-insensitive namespace. External names
-- come from another application and may repeat, so they are left out.
-- Queries must repeat "kind <> 'external'" for the planner to use it.
CREATE UNIQUE INDEX users_name ON users (name COLLATE NOCASE) WHERE kind <> 'external';

-- An account's sessions; only the token's hash is kept.
CREATE TABLE sessions (
	token_hash BLOB    PRIMARY KEY,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	expires    INTEGER NOT NULL, -- Unix milliseconds, UTC
	created_at INTEGER NOT NULL  -- Unix milliseconds, UTC
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id);
