// Package postgres implements parley.Store on a PostgreSQL database through
// pgx (pgxpool), so several Parley nodes can share one store.
//
// The package owns the database's schema: Open applies the embedded
// migrations (migrations/NNNN_name.sql, each in its own transaction,
// recorded in schema_migrations) before it returns, holding a
// pg_advisory_lock so nodes starting together apply each one once. Migrate
// does the same alone, for a deploy step.
//
// Seqs come from rooms.head: an append's INSERT ... ON CONFLICT DO UPDATE
// SET head = head + 1 takes the room's row lock, which serializes appends to
// a room across transactions and nodes until the transaction ends, so seqs
// have no gaps and no duplicates however many nodes write. Nonces are
// deduplicated by a unique index; a duplicate's head increment is rolled
// back to its savepoint, so it never uses up a seq.
//
// Appends go through one writer goroutine per Store (internal/groupcommit)
// that group-commits: it takes the first waiting request, drains whatever
// else is waiting (up to Options.MaxBatch), sends them all in one pipelined
// round trip inside one transaction, commits once and answers every
// request. Should one of them fail or be a duplicate, it rolls back and runs
// the batch again with each request in a savepoint of its own, so one
// failing request doesn't fail the others. A batch takes its rooms' locks in
// name order, so batches of different nodes can't deadlock. Reads use the pool directly, and so do
// the other writes (users, sessions, rooms, memberships, edits): they are
// rare, each is one statement or a short transaction, and their races
// between nodes are settled by unique indexes and ON CONFLICT rather than
// by checking first.
//
// A write whose context is done before it starts (for an append: before
// the writer takes it) is answered with the context's error and never
// written. Once started, it runs to the end regardless of its context and
// the caller waits for the outcome, at most Options.WriteTimeout. A nil
// error means committed. An error means not committed, except when the
// connection is lost during COMMIT itself: then nobody can know, and a
// client's retry with the same nonce is what makes that safe for appends.
//
// When the server can't be reached, methods return EUNAVAILABLE errors
// promptly (connection refused) or after WriteTimeout or the caller's
// deadline. A lost connection drops the whole pool, so once the server is
// back the next request reconnects instead of failing on a dead idle
// connection; nothing needs reopening.
//
// A *Store is safe for concurrent use by many goroutines. Close stops the
// writer, waits for the batch in flight, fails requests still waiting with
// EUNAVAILABLE and closes the pool; it is safe to call more than once.
package postgres
