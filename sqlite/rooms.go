package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley"
)

var _ parley.RoomStore = (*Store)(nil)

// CreateRoom creates r with its owner and members through the writer; see
// parley.RoomStore. An empty r.Kind means public; r.Topic is kept. The
// owner is not also made a plain member when listed among members.
func (s *Store) CreateRoom(ctx context.Context, r parley.Room, owner string, members []string) (parley.Room, error) {
	switch r.Kind {
	case "":
		r.Kind = parley.RoomPublic
	case parley.RoomPublic, parley.RoomPrivate, parley.RoomDirect:
	default:
		return parley.Room{}, parley.Errorf(parley.EBADREQUEST, "Unknown room kind %q.", r.Kind)
	}
	members = append([]string(nil), members...) // the request may outlive the caller's slice
	r.CreatedAt = time.UnixMilli(s.now().UnixMilli()).UTC()
	err := s.submit(ctx, func(tx *sql.Tx) error {
		return createRoomTx(tx, r, owner, members)
	})
	if err != nil {
		return parley.Room{}, fmt.Errorf("sqlite: create room: %w", err)
	}
	return r, nil
}

// createRoomTx runs on the writer goroutine, whose being the only writer
// makes the check-then-insert race-free.
func createRoomTx(tx *sql.Tx, r parley.Room, owner string, members []string) error {
	ctx := context.Background()
	var exists bool
	if err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM rooms WHERE name = ?)`, r.Name).Scan(&exists); err != nil {
		return fmt.Errorf("check name: %w", classify(err))
	}
	if exists {
		return parley.Errorf(parley.ECONFLICT, "The room %s exists.", r.Name)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO rooms (name, kind, topic, created_at) VALUES (?, ?, ?, ?)`,
		r.Name, string(r.Kind), r.Topic, r.CreatedAt.UnixMilli()); err != nil {
		return fmt.Errorf("insert room: %w", classify(err))
	}
	for _, m := range members {
		if m == owner {
			continue
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO room_members (room, user_id, role) VALUES (?, ?, 'member')
			ON CONFLICT DO NOTHING`, r.Name, m); err != nil {
			return fmt.Errorf("insert member: %w", classify(err))
		}
	}
	if owner != "" {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO room_members (room, user_id, role) VALUES (?, ?, 'owner')`,
			r.Name, owner); err != nil {
			return fmt.Errorf("insert owner: %w", classify(err))
		}
	}
	return nil
}

// EnsureRoom returns the room named name, creating it public if missing.
// The room usually exists, so it asks a reader first and troubles the
// writer only to create it.
func (s *Store) EnsureRoom(ctx context.Context, name string) (parley.Room, error) {
	r, err := s.Room(ctx, name)
	if parley.ErrorCode(err) != parley.ENOTFOUND {
		return r, err // found, or failed
	}
	err = s.submit(ctx, func(tx *sql.Tx) error {
		ctx := context.Background()
		// A write since the read above may have created it.
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO rooms (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			name, s.now().UnixMilli()); err != nil {
			return fmt.Errorf("insert room: %w", classify(err))
		}
		var err error
		r, err = scanRoom(tx.QueryRowContext(ctx, `SELECT `+roomCols+` FROM rooms WHERE name = ?`, name))
		return classify(err)
	})
	if err != nil {
		return parley.Room{}, fmt.Errorf("sqlite: ensure room: %w", err)
	}
	return r, nil
}

const roomCols = `name, kind, topic, created_at`

func scanRoom(row interface{ Scan(...any) error }, extra ...any) (parley.Room, error) {
	var r parley.Room
	var created int64
	if err := row.Scan(append([]any{&r.Name, &r.Kind, &r.Topic, &created}, extra...)...); err != nil {
		return parley.Room{}, err
	}
	r.CreatedAt = time.UnixMilli(created).UTC()
	return r, nil
}

// Room returns the room named name, or ENOTFOUND.
func (s *Store) Room(ctx context.Context, name string) (parley.Room, error) {
	if s.closed() {
		return parley.Room{}, fmt.Errorf("sqlite: room: %w", errClosed)
	}
	r, err := scanRoom(s.rdb.QueryRowContext(ctx, `SELECT `+roomCols+` FROM rooms WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return parley.Room{}, errNoRoom(name)
	}
	if err != nil {
		return parley.Room{}, fmt.Errorf("sqlite: room: %w", classify(err))
	}
	return r, nil
}

// SetTopic sets a room's topic through the writer, or returns ENOTFOUND.
func (s *Store) SetTopic(ctx context.Context, room, topic string) error {
	err := s.submit(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(context.Background(),
			`UPDATE rooms SET topic = ? WHERE name = ?`, topic, room)
		return mustAffect(res, err, errNoRoom(room))
	})
	if err != nil {
		return fmt.Errorf("sqlite: set topic: %w", err)
	}
	return nil
}

// mustAffect returns notFound when an UPDATE or DELETE that succeeded
// changed no row.
func mustAffect(res sql.Result, err error, notFound error) error {
	if err != nil {
		return classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return classify(err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}

func errNoRoom(name string) error {
	return parley.Errorf(parley.ENOTFOUND, "There is no room %s.", name)
}
