package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleychat/parley"
)

// Append stores m through the writer; see parley.MessageStore. m.Seq and
// m.TS are ignored and assigned. A nil error means the message is committed.
func (s *Store) Append(ctx context.Context, m parley.Message) (parley.Message, bool, error) {
	r := &request{m: m}
	if err := s.w.Do(ctx, r); err != nil {
		return parley.Message{}, false, fmt.Errorf("postgres: append: %w", err)
	}
	return r.stored, r.dup, nil
}

// QueueAppend stores m like Append without waiting for the commit: done gets
// the outcome on the writer goroutine. Appends queued by one goroutine are
// stored in the order queued (see parley.MessageStore).
func (s *Store) QueueAppend(ctx context.Context, m parley.Message, done func(parley.Message, bool, error)) {
	r := &request{m: m}
	s.w.Queue(ctx, r, func(err error) {
		if err != nil {
			done(parley.Message{}, false, fmt.Errorf("postgres: append: %w", err))
			return
		}
		done(r.stored, r.dup, nil)
	})
}

// Messages returns room's messages with after < seq <= until, oldest first,
// at most limit of them; limit <= 0 returns none.
func (s *Store) Messages(ctx context.Context, room string, after, until parley.Seq, limit int) ([]parley.Message, error) {
	if limit <= 0 || until <= after {
		return nil, nil
	}
	msgs, err := s.queryMessages(ctx, `
		SELECT `+messageCols+` FROM messages
		WHERE room = $1 AND seq > $2 AND seq <= $3
		ORDER BY seq LIMIT $4`, room, after, until, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: messages: %w", err)
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
		WHERE room = $1 AND seq < $2
		ORDER BY seq DESC LIMIT $3`, room, before, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: history: %w", err)
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
		return 0, fmt.Errorf("postgres: head: %w", errClosed)
	}
	var head parley.Seq
	err := s.pool.QueryRow(ctx, `SELECT head FROM rooms WHERE name = $1`, room).Scan(&head)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: head: %w", s.fail(err))
	}
	return head, nil
}

func (s *Store) queryMessages(ctx context.Context, query string, args ...any) ([]parley.Message, error) {
	if s.closed() {
		return nil, errClosed
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var msgs []parley.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err)
	}
	return msgs, nil
}

// messageCols are the columns scanMessage reads, in its order.
const messageCols = `room, seq, user_id, user_name, text, ts, nonce, edited_at, deleted`

func scanMessage(row pgx.Row) (parley.Message, error) {
	var m parley.Message
	var edited *time.Time
	if err := row.Scan(&m.Room, &m.Seq, &m.From.ID, &m.From.Name, &m.Text, &m.TS, &m.Nonce,
		&edited, &m.Deleted); err != nil {
		return parley.Message{}, err
	}
	m.TS = m.TS.UTC() // pgx returns timestamptz in the local zone
	if edited != nil {
		m.EditedAt = edited.UTC()
	}
	return m, nil
}

// millis drops t's precision to milliseconds, as every stored time has,
// so what a write returns equals what a read finds.
func millis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// nullTime is nil for the zero time, which columns store as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = millis(t)
	return &t
}
