-- A room's head is its latest message's seq, read from messages' primary
-- key (room, seq) when the writer first meets the room. Keeping a copy in
-- rooms cost every batch an UPDATE per room it touched, about a sixth of
-- the writer's work per message; messages are never deleted, so the copy
-- never knew anything the key doesn't.
ALTER TABLE rooms DROP COLUMN head;
