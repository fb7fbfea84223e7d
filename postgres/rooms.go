package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/parleychat/parley"
)

// CreateRoom creates r with its owner and members; see parley.RoomStore.
// An empty r.Kind means public; r.Topic is kept. The owner is not also
// made a plain member when listed among members.
func (s *Store) CreateRoom(ctx context.Context, r parley.Room, owner string, members []string) (parley.Room, error) {
	switch r.Kind {
	case "":
		r.Kind = parley.RoomPublic
	case parley.RoomPublic, parley.RoomPrivate, parley.RoomDirect:
	default:
		return parley.Room{}, parley.Errorf(parley.EBADREQUEST, "Unknown room kind %q.", r.Kind)
	}
	r.CreatedAt = millis(s.now())
	if members == nil {
		members = []string{} // an empty array, not NULL
	}
	err := s.writeTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		// ON CONFLICT rather than a check first: another node may create
		// the room (or append to it) at the same moment.
		tag, err := tx.Exec(ctx, `
			INSERT INTO rooms (name, kind, topic, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO NOTHING`,
			r.Name, string(r.Kind), r.Topic, r.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return parley.Errorf(parley.ECONFLICT, "The room %s exists.", r.Name)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO room_members (room, user_id, role)
			SELECT $1, m, 'member' FROM unnest($2::text[]) AS m WHERE m <> $3
			ON CONFLICT DO NOTHING`, r.Name, members, owner); err != nil {
			return err
		}
		if owner != "" {
			if _, err := tx.Exec(ctx,
				`INSERT INTO room_members (room, user_id, role) VALUES ($1, $2, 'owner')`,
				r.Name, owner); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return parley.Room{}, fmt.Errorf("postgres: create room: %w", err)
	}
	return r, nil
}

// EnsureRoom returns the room named name, creating it public if missing.
// The room usually exists, so it reads first and writes only to create it.
func (s *Store) EnsureRoom(ctx context.Context, name string) (parley.Room, error) {
	r, err := s.Room(ctx, name)
	if parley.ErrorCode(err) != parley.ENOTFOUND {
		return r, err // found, or failed
	}
	wctx, cancel, err := s.writeCtx(ctx)
	if err != nil {
		return parley.Room{}, fmt.Errorf("postgres: ensure room: %w", err)
	}
	defer cancel()
	// Another node may have created it since the read, maybe not yet
	// committed: the insert then waits for it and does nothing, and the
	// read after, a new statement, sees it.
	if _, err := s.pool.Exec(wctx,
		`INSERT INTO rooms (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		name, millis(s.now())); err != nil {
		return parley.Room{}, fmt.Errorf("postgres: ensure room: %w", s.fail(err))
	}
	return s.Room(wctx, name)
}

const roomCols = `name, kind, topic, created_at`

func scanRoom(row pgx.Row, extra ...any) (parley.Room, error) {
	var r parley.Room
	var kind string
	if err := row.Scan(append([]any{&r.Name, &kind, &r.Topic, &r.CreatedAt}, extra...)...); err != nil {
		return parley.Room{}, err
	}
	r.Kind = parley.RoomKind(kind)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}

// Room returns the room named name, or ENOTFOUND.
func (s *Store) Room(ctx context.Context, name string) (parley.Room, error) {
	if s.closed() {
		return parley.Room{}, fmt.Errorf("postgres: room: %w", errClosed)
	}
	r, err := scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomCols+` FROM rooms WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.Room{}, errNoRoom(name)
	}
	if err != nil {
		return parley.Room{}, fmt.Errorf("postgres: room: %w", s.fail(err))
	}
	return r, nil
}

// SetTopic sets a room's topic, or returns ENOTFOUND.
func (s *Store) SetTopic(ctx context.Context, room, topic string) error {
	wctx, cancel, err := s.writeCtx(ctx)
	if err != nil {
		return fmt.Errorf("postgres: set topic: %w", err)
	}
	defer cancel()
	tag, err := s.pool.Exec(wctx, `UPDATE rooms SET topic = $2 WHERE name = $1`, room, topic)
	if err != nil {
		return fmt.Errorf("postgres: set topic: %w", s.fail(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: set topic: %w", errNoRoom(room))
	}
	return nil
}

func errNoRoom(name string) error {
	return parley.Errorf(parley.ENOTFOUND, "There is no room %s.", name)
}
