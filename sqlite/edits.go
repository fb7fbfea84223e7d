package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parleychat/parley"
)

var _ parley.MessageEditor = (*Store)(nil)

// Message returns message seq of room, or ENOTFOUND.
func (s *Store) Message(ctx context.Context, room string, seq parley.Seq) (parley.Message, error) {
	if s.closed() {
		return parley.Message{}, fmt.Errorf("sqlite: message: %w", errClosed)
	}
	m, err := scanMessage(s.rdb.QueryRowContext(ctx,
		`SELECT `+messageCols+` FROM messages WHERE room = ? AND seq = ?`, room, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return parley.Message{}, errNoMessage(room, seq)
	}
	if err != nil {
		return parley.Message{}, fmt.Errorf("sqlite: message: %w", classify(err))
	}
	return m, nil
}

// EditMessage replaces the text of a message that isn't deleted and stamps
// its EditedAt, through the writer; see parley.MessageEditor.
func (s *Store) EditMessage(ctx context.Context, room string, seq parley.Seq, text string) (parley.Message, error) {
	var m parley.Message
	err := s.submit(ctx, func(tx *sql.Tx) error {
		ctx := context.Background()
		var err error
		m, err = scanMessage(tx.StmtContext(ctx, s.stmts.editMessage).QueryRowContext(ctx,
			text, s.now().UnixMilli(), room, seq))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "There is no message %d in %s, or it was deleted.", seq, room)
		}
		return classify(err)
	})
	if err != nil {
		return parley.Message{}, fmt.Errorf("sqlite: edit message: %w", err)
	}
	return m, nil
}

// DeleteMessage empties a message's text and marks it deleted, through the
// writer; see parley.MessageEditor.
func (s *Store) DeleteMessage(ctx context.Context, room string, seq parley.Seq) (parley.Message, error) {
	var m parley.Message
	err := s.submit(ctx, func(tx *sql.Tx) error {
		ctx := context.Background()
		var err error
		m, err = scanMessage(tx.StmtContext(ctx, s.stmts.deleteMessage).QueryRowContext(ctx, room, seq))
		if errors.Is(err, sql.ErrNoRows) {
			return errNoMessage(room, seq)
		}
		return classify(err)
	})
	if err != nil {
		return parley.Message{}, fmt.Errorf("sqlite: delete message: %w", err)
	}
	return m, nil
}

func errNoMessage(room string, seq parley.Seq) error {
	return parley.Errorf(parley.ENOTFOUND, "There is no message %d in %s.", seq, room)
}
