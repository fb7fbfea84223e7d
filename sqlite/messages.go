package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parleychat/parley"
)

// Append stores m through the writer; see parley.MessageStore. m.Seq and
// m.TS are ignored and assigned. A nil error means the message is committed.
func (s *Store) Append(ctx context.Context, m parley.Message) (parley.Message, bool, error) {
	var stored parley.Message
	var dup bool
	err := s.submit(ctx, func(tx *sql.Tx) error {
		var err error
		stored, dup, err = s.appendTx(tx, m)
		return err
	})
	if err != nil {
		return parley.Message{}, false, fmt.Errorf("sqlite: append: %w", err)
	}
	return stored, dup, nil
}

// appendTx runs on the writer goroutine. The nonce lookup sees the
// transaction's own writes, so two requests with one nonce in the same
// batch dedupe as well as two in different batches.
func (s *Store) appendTx(tx *sql.Tx, m parley.Message) (parley.Message, bool, error) {
	ctx := context.Background()
	if m.Nonce != "" {
		orig, err := scanMessage(tx.StmtContext(ctx, s.stmts.findNonce).QueryRowContext(ctx,
			m.Room, m.From.ID, m.Nonce))
		switch {
		case err == nil:
			return orig, true, nil
		case !errors.Is(err, sql.ErrNoRows):
			return parley.Message{}, false, fmt.Errorf("find nonce: %w", classify(err))
		}
	}

	ts := s.now().UnixMilli()
	if err := tx.StmtContext(ctx, s.stmts.advanceHead).QueryRowContext(ctx,
		m.Room, ts).Scan(&m.Seq); err != nil {
		return parley.Message{}, false, fmt.Errorf("advance head: %w", classify(err))
	}
	if _, err := tx.StmtContext(ctx, s.stmts.insertMessage).ExecContext(ctx,
		m.Room, m.Seq, m.From.ID, m.From.Name, m.Text, ts, m.Nonce); err != nil {
		return parley.Message{}, false, fmt.Errorf("insert message: %w", classify(err))
	}
	m.TS = time.UnixMilli(ts).UTC()
	return m, false, nil
}

// Messages returns room's messages with after < seq <= until, oldest first,
// at most limit of them; limit <= 0 returns none.
func (s *Store) Messages(ctx context.Context, room string, after, until parley.Seq, limit int) ([]parley.Message, error) {
	if limit <= 0 || until <= after {
		return nil, nil
	}
	msgs, err := s.queryMessages(ctx, `
		SELECT `+messageCols+` FROM messages
		WHERE room = ? AND seq > ? AND seq <= ?
		ORDER BY seq LIMIT ?`, room, after, until, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: messages: %w", err)
	}
	return msgs, nil
}

// History returns the newest limit messages of room with seq < before (any
// seq when before <= 0), oldest first, and whether older ones exist;
// limit <= 0 returns none.
func (s *Store) History(ctx context.Context, room string, before parley.Seq, limit int) ([]parley.Message, bool, error) {
	if limit <= 0 {
		return nil, false, nil
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	// One row more than asked says whether older ones exist.
	msgs, err := s.queryMessages(ctx, `
		SELECT `+messageCols+` FROM messages
		WHERE room = ? AND seq < ?
		ORDER BY seq DESC LIMIT ?`, room, before, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: history: %w", err)
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, more, nil
}

// Head returns room's latest seq, 0 when the room doesn't exist.
func (s *Store) Head(ctx context.Context, room string) (parley.Seq, error) {
	if s.closed() {
		return 0, fmt.Errorf("sqlite: head: %w", errClosed)
	}
	var head parley.Seq
	err := s.rdb.QueryRowContext(ctx, `SELECT head FROM rooms WHERE name = ?`, room).Scan(&head)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: head: %w", classify(err))
	}
	return head, nil
}

func (s *Store) queryMessages(ctx context.Context, query string, args ...any) ([]parley.Message, error) {
	if s.closed() {
		return nil, errClosed
	}
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var msgs []parley.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, classify(err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return msgs, nil
}

// scanMessage reads the columns messageCols names, in that order.
func scanMessage(row interface{ Scan(...any) error }) (parley.Message, error) {
	var m parley.Message
	var ts, edited int64
	if err := row.Scan(&m.Room, &m.Seq, &m.From.ID, &m.From.Name, &m.Text, &ts, &m.Nonce,
		&edited, &m.Deleted); err != nil {
		return parley.Message{}, err
	}
	m.TS = time.UnixMilli(ts).UTC()
	m.EditedAt = fromMillis(edited)
	return m, nil
}

// fromMillis reads the columns where 0 means "never" (edited_at,
// muted_until) as the zero time, others as UTC times.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// toMillis is fromMillis's inverse.
func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
