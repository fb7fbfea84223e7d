// Package hub is Parley's real-time core: rooms and their local members,
// sessions (one per connection), the byte-capped send queue and its writer,
// fan-out in seq order, presence, typing and lossless resume.
//
// It knows nothing of HTTP, SQL or WebSocket: a connection reaches it as a
// Transport (write bytes, close), frames are prepared by a Framer, and
// messages are kept by a parley.MessageStore. A Hub and its Sessions are
// safe for concurrent use. Lock order is hub → room → session queue; no lock
// is held while writing to a Transport or waiting on the store, except a
// room's lock during its one-time load of the head seq.
package hub
