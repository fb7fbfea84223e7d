// Package hub is Parley's real-time core: rooms and their local members,
// sessions (one per connection), the byte-capped send queue and its writer,
// fan-out in seq order, presence, typing and lossless resume.
//
// It knows nothing of HTTP, SQL or WebSocket: a connection reaches it as a
// Transport (write bytes, close), frames are prepared by a Framer, and
// messages are kept by a parley.MessageStore. A Hub and its Sessions are
// safe for concurrent use. A room's lock may be held while taking the hub's
// or a session queue's, never the other way round; no lock is held while
// writing to a Transport or waiting on the store, except a room's lock
// during its one-time load of the head seq.
//
// A room's broadcasts go out in passes: its flusher goroutine takes the
// whole outbox and writes it to each member in one non-blocking write
// (room.flush), so messages merge as the rate rises. A connection's sends
// are pipelined through the store (parley.MessageStore.QueueAppend) and acknowledged, in
// order, behind the message in the same pass (Session.complete).
package hub
