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

// appendOp is an Append for the writer: in is the message asked for; out
// and dup the outcome, which appendTx sets whole each time it runs (a batch
// may be written twice, see commitBatch).
type appendOp struct {
	in, out parley.Message
	dup     bool
}

// Append stores m through the writer; see parley.MessageStore. m.Seq and
// m.TS are ignored and assigned. A nil error means the message is committed.
func (s *Store) Append(ctx context.Context, m parley.Message) (parley.Message, bool, error) {
	a := &appendOp{in: m}
	if err := s.w.Do(ctx, op{app: a}); err != nil {
		return parley.Message{}, false, fmt.Errorf("sqlite: append: %w", err)
	}
	return a.out, a.dup, nil
}

// QueueAppend stores m like Append without waiting for the commit: done gets
// the outcome on the writer goroutine. Appends queued by one goroutine are
// stored in the order queued (see parley.MessageStore).
func (s *Store) QueueAppend(ctx context.Context, m parley.Message, done func(parley.Message, bool, error)) {
	a := &appendOp{in: m}
	s.w.Queue(ctx, op{app: a}, func(err error) {
		if err != nil {
			done(parley.Message{}, false, fmt.Errorf("sqlite: append: %w", err))
			return
		}
		done(a.out, a.dup, nil)
	})
}

// appendTx runs on the writer goroutine. Its one write is the INSERT, which
// SQLite undoes by itself when it fails; the room row it may create first
// is one that any later append would create too (commitBatch relies on
// both).
//
// A nonce is looked up only when the INSERT meets it in messages_nonce:
// the unique index checks it anyway, and a retry is rare, so a lookup
// before every INSERT would be wasted. The index holds the transaction's
// own writes, so two requests with one nonce in the same batch dedupe as
// well as two in different batches.
func (s *Store) appendTx(tx *sql.Tx, a *appendOp) error {
	ctx := context.Background()
	m := a.in
	ts := s.now().UnixMilli()
	head, err := s.head(ctx, tx, m.Room, ts)
	if err != nil {
		return err
	}
	m.Seq, m.TS = head+1, time.UnixMilli(ts).UTC()
	m.EditedAt, m.Deleted = time.Time{}, false
	_, err = s.inTx(ctx, tx, s.stmts.insertMessage).ExecContext(ctx,
		m.Room, m.Seq, m.From.ID, m.From.Name, m.Text, ts, m.Nonce)
	switch {
	case err == nil:
		s.heads.advance(m.Room, m.Seq)
		a.out, a.dup = m, false
		return nil
	case isNonceConflict(err):
		orig, ferr := scanMessage(s.inTx(ctx, tx, s.stmts.findNonce).QueryRowContext(ctx,
			m.Room, m.From.ID, m.Nonce))
		if ferr != nil {
			return fmt.Errorf("insert message: %w; find nonce: %w", classify(err), classify(ferr))
		}
		a.out, a.dup = orig, true
		return nil
	default:
		return fmt.Errorf("insert message: %w", classify(err))
	}
}

// head returns room's head, from the writer's cache or else from the
// room's messages, creating the room when it is missing (messages.room
// references it).
func (s *Store) head(ctx context.Context, tx *sql.Tx, room string, ts int64) (parley.Seq, error) {
	if head, ok := s.heads.get(room); ok {
		return head, nil
	}
	var head parley.Seq
	err := s.inTx(ctx, tx, s.stmts.roomHead).QueryRowContext(ctx, room).Scan(&head)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = s.inTx(ctx, tx, s.stmts.createRoom).ExecContext(ctx, room, ts)
		if err != nil {
			return 0, fmt.Errorf("create room: %w", classify(err))
		}
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read head: %w", classify(err))
	}
	return head, nil
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
	err := s.rdb.QueryRowContext(ctx, headQuery, room).Scan(&head)
	if err != nil {
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
