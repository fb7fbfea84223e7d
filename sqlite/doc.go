// Package sqlite implements parley.Store on a SQLite database file, using the
// pure-Go driver modernc.org/sqlite (no cgo).
//
// The package owns the database file and its schema: Open applies the
// embedded migrations (migrations/NNNN_name.sql, each in its own transaction,
// recorded in schema_migrations) before it returns.
//
// Writes go through one writer goroutine that the Store owns
// (internal/groupcommit). It group-commits: it takes the first waiting
// request, drains whatever else is waiting (up to Options.MaxBatch), runs
// them all in one transaction, commits once and answers every request. One
// failing request doesn't fail the others: every write but an append runs
// in a savepoint of its own, and an append, a single INSERT that SQLite
// undoes by itself, runs without one unless it fails otherwise than on its
// nonce; the batch is then written again with a savepoint per request.
//
// The database runs in WAL mode with synchronous=FULL, so a nil error from
// any write (Append, CreateGuest, EditMessage, SetRole, CreateSession, ...)
// means it is on disk and survives a crash or a power loss; batching is what
// keeps that fsync per commit affordable. Reads run on a separate pool of
// query-only connections and, thanks to WAL, never wait for the writer.
//
// A write request whose context is done before the writer takes it is
// answered with the context's error and never written. Once taken, it is
// committed regardless of its context, and the caller waits for the outcome,
// so an error always means "not written" and nil always means "committed".
//
// A room's seqs come from its messages: the next message gets the latest
// seq + 1 (read once from the primary key (room, seq)), in the transaction
// that inserts it. The writer, being the only writer, keeps each room's
// head in memory, and forgets all of them when a batch fails. This holds
// because messages are never deleted for good (a delete marks the row);
// a feature that removes rows must keep each room's head elsewhere first,
// or seqs would be handed out twice.
//
// A *Store is safe for concurrent use by many goroutines. Close stops the
// writer, waits for the batch in flight, fails requests still waiting with
// EUNAVAILABLE and closes the database; it is safe to call more than once.
package sqlite
