package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/parleychat/parley"
)

// Message returns message seq of room, or ENOTFOUND.
func (s *Store) Message(ctx context.Context, room string, seq parley.Seq) (parley.Message, error) {
	if s.closed() {
		return parley.Message{}, fmt.Errorf("postgres: message: %w", errClosed)
	}
	m, err := scanMessage(s.pool.QueryRow(ctx,
		`SELECT `+messageCols+` FROM messages WHERE room = $1 AND seq = $2`, room, seq))
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.Message{}, errNoMessage(room, seq)
	}
	if err != nil {
		return parley.Message{}, fmt.Errorf("postgres: message: %w", s.fail(err))
	}
	return m, nil
}

// EditMessage replaces the text of a message that isn't deleted and stamps
// its EditedAt; see parley.MessageEditor. It locks only the message's row,
// so it never waits for appends to the room.
func (s *Store) EditMessage(ctx context.Context, room string, seq parley.Seq, text string) (parley.Message, error) {
	m, err := s.updateMessage(ctx, `
		UPDATE messages SET text = $3, edited_at = $4
		WHERE room = $1 AND seq = $2 AND NOT deleted
		RETURNING `+messageCols, room, seq, text, millis(s.now()))
	if errors.Is(err, pgx.ErrNoRows) {
		err = parley.Errorf(parley.ENOTFOUND, "There is no message %d in %s, or it was deleted.", seq, room)
	}
	if err != nil {
		return parley.Message{}, fmt.Errorf("postgres: edit message: %w", err)
	}
	return m, nil
}

// DeleteMessage empties a message's text and marks it deleted; see
// parley.MessageEditor.
func (s *Store) DeleteMessage(ctx context.Context, room string, seq parley.Seq) (parley.Message, error) {
	m, err := s.updateMessage(ctx, `
		UPDATE messages SET text = '', deleted = true
		WHERE room = $1 AND seq = $2
		RETURNING `+messageCols, room, seq)
	if errors.Is(err, pgx.ErrNoRows) {
		err = errNoMessage(room, seq)
	}
	if err != nil {
		return parley.Message{}, fmt.Errorf("postgres: delete message: %w", err)
	}
	return m, nil
}

// updateMessage runs an UPDATE ... RETURNING messageCols; pgx.ErrNoRows
// says no message matched.
func (s *Store) updateMessage(ctx context.Context, query string, args ...any) (parley.Message, error) {
	wctx, cancel, err := s.writeCtx(ctx)
	if err != nil {
		return parley.Message{}, err
	}
	defer cancel()
	m, err := scanMessage(s.pool.QueryRow(wctx, query, args...))
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return parley.Message{}, s.fail(err)
	}
	return m, err
}

func errNoMessage(room string, seq parley.Seq) error {
	return parley.Errorf(parley.ENOTFOUND, "There is no message %d in %s.", seq, room)
}
