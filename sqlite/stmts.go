package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// messageCols are the columns scanMessage reads, in its order.
const messageCols = `room, seq, user_id, user_name, text, ts, nonce, edited_at, deleted`

// writerStmts are the writer's statements on the message path, prepared
// once at Open. Parsing SQL was most of the writer's CPU per request, and
// the one writer goroutine's CPU bounds how many writes a batch can hold.
// They are prepared on the writer pool's only connection, so
// tx.StmtContext reuses them instead of preparing again. Rare writes
// (rooms, memberships, accounts) run their SQL as text: preparing them
// would cost every Open for no throughput that matters.
// A room's head is its latest seq, read from messages' primary key. The
// writer's query has no row when the room doesn't exist (it creates it).
const (
	headQuery       = `SELECT coalesce(max(seq), 0) FROM messages WHERE room = ?`
	writerHeadQuery = `SELECT coalesce((SELECT max(seq) FROM messages WHERE room = ?1), 0) FROM rooms WHERE name = ?1`
)

type writerStmts struct {
	savepoint, rollbackTo, release *sql.Stmt

	roomHead, createRoom       *sql.Stmt
	findNonce, insertMessage   *sql.Stmt
	editMessage, deleteMessage *sql.Stmt

	nameTaken, insertUser *sql.Stmt

	all []*sql.Stmt // for close
}

func prepareWriter(ctx context.Context, db *sql.DB) (*writerStmts, error) {
	var w writerStmts
	var errs []error
	prep := func(query string) *sql.Stmt {
		st, err := db.PrepareContext(ctx, query)
		errs = append(errs, err)
		if st != nil {
			w.all = append(w.all, st)
		}
		return st
	}
	w.savepoint = prep(`SAVEPOINT req`)
	w.rollbackTo = prep(`ROLLBACK TO req`)
	w.release = prep(`RELEASE req`)

	// "nonce <> ''" lets the planner use the partial index messages_nonce.
	w.findNonce = prep(`
		SELECT ` + messageCols + ` FROM messages
		WHERE room = ? AND user_id = ? AND nonce = ? AND nonce <> ''`)
	w.roomHead = prep(writerHeadQuery)
	w.createRoom = prep(`INSERT INTO rooms (name, created_at) VALUES (?, ?)`)
	w.insertMessage = prep(`
		INSERT INTO messages (room, seq, user_id, user_name, text, ts, nonce)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	w.editMessage = prep(`
		UPDATE messages SET text = ?, edited_at = ?
		WHERE room = ? AND seq = ? AND deleted = 0
		RETURNING ` + messageCols)
	w.deleteMessage = prep(`
		UPDATE messages SET text = '', deleted = 1
		WHERE room = ? AND seq = ?
		RETURNING ` + messageCols)

	// users.name is COLLATE NOCASE, so = compares case-insensitively;
	// "kind <> 'external'" lets the planner use the partial index users_name.
	w.nameTaken = prep(`SELECT EXISTS (SELECT 1 FROM users WHERE name = ? AND kind <> 'external')`)
	w.insertUser = prep(`
		INSERT INTO users (id, name, kind, token_hash, password_hash, admin, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)

	if err := errors.Join(errs...); err != nil {
		w.close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return &w, nil
}

func (w *writerStmts) close() {
	for _, st := range w.all {
		st.Close()
	}
}

// txStmts are writer statements bound to one batch's transaction, each the
// first time the batch uses it. tx.StmtContext makes a new *sql.Stmt on
// every call, two allocations for each statement an append ran.
type txStmts struct {
	tx    *sql.Tx
	bound []boundStmt // a handful: a linear search beats a map
}

type boundStmt struct{ prepared, inTx *sql.Stmt }

// inTx returns st bound to tx, binding it once per batch.
func (s *Store) inTx(ctx context.Context, tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	if s.batch.tx != tx {
		return tx.StmtContext(ctx, st)
	}
	for _, b := range s.batch.bound {
		if b.prepared == st {
			return b.inTx
		}
	}
	inTx := tx.StmtContext(ctx, st)
	s.batch.bound = append(s.batch.bound, boundStmt{st, inTx})
	return inTx
}

// beginBatch makes tx the batch whose statements inTx binds; endBatch
// forgets it (its statements close with it).
func (s *Store) beginBatch(tx *sql.Tx) { s.batch.tx, s.batch.bound = tx, s.batch.bound[:0] }

func (s *Store) endBatch() {
	clear(s.batch.bound)
	s.batch.tx, s.batch.bound = nil, s.batch.bound[:0]
}
