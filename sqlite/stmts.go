package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// writerStmts are the writer's statements, prepared once at Open. Parsing
// SQL was most of the writer's CPU per request, and the one writer
// goroutine's CPU bounds how many writes a batch can hold. They are
// prepared on the writer pool's only connection, so tx.StmtContext reuses
// them instead of preparing again.
type writerStmts struct {
	savepoint, rollbackTo, release *sql.Stmt

	findNonce, advanceHead, insertMessage *sql.Stmt

	nameTaken, insertUser *sql.Stmt
}

func prepareWriter(ctx context.Context, db *sql.DB) (*writerStmts, error) {
	var w writerStmts
	var errs []error
	prep := func(query string) *sql.Stmt {
		st, err := db.PrepareContext(ctx, query)
		errs = append(errs, err)
		return st
	}
	w.savepoint = prep(`SAVEPOINT req`)
	w.rollbackTo = prep(`ROLLBACK TO req`)
	w.release = prep(`RELEASE req`)

	// "nonce <> ''" lets the planner use the partial index messages_nonce.
	w.findNonce = prep(`
		SELECT room, seq, user_id, user_name, text, ts, nonce FROM messages
		WHERE room = ? AND user_id = ? AND nonce = ? AND nonce <> ''`)
	w.advanceHead = prep(`
		INSERT INTO rooms (name, head, created_at) VALUES (?, 1, ?)
		ON CONFLICT (name) DO UPDATE SET head = head + 1
		RETURNING head`)
	w.insertMessage = prep(`
		INSERT INTO messages (room, seq, user_id, user_name, text, ts, nonce)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)

	// users.name is COLLATE NOCASE, so = compares case-insensitively.
	w.nameTaken = prep(`SELECT EXISTS (SELECT 1 FROM users WHERE name = ?)`)
	w.insertUser = prep(`
		INSERT INTO users (id, name, kind, token_hash, created_at)
		VALUES (?, ?, 'guest', ?, ?)`)

	if err := errors.Join(errs...); err != nil {
		w.close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return &w, nil
}

func (w *writerStmts) close() {
	for _, st := range []*sql.Stmt{w.savepoint, w.rollbackTo, w.release,
		w.findNonce, w.advanceHead, w.insertMessage, w.nameTaken, w.insertUser} {
		if st != nil {
			st.Close()
		}
	}
}
