package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleychat/parley"
)

// Membership returns userID's standing in room; the zero Membership when
// there is none, the room missing included.
func (s *Store) Membership(ctx context.Context, room, userID string) (parley.Membership, error) {
	if s.closed() {
		return parley.Membership{}, fmt.Errorf("postgres: membership: %w", errClosed)
	}
	var m parley.Membership
	var role string
	var muted *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT role, banned, muted_until FROM room_members WHERE room = $1 AND user_id = $2`,
		room, userID).Scan(&role, &m.Banned, &muted)
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.Membership{}, nil
	}
	if err != nil {
		return parley.Membership{}, fmt.Errorf("postgres: membership: %w", s.fail(err))
	}
	m.Role = parley.Role(role)
	if muted != nil {
		m.MutedUntil = muted.UTC()
	}
	return m, nil
}

// SetRole sets userID's role in room. RoleNone ends the membership and
// keeps a ban or mute; any other role leaves them as they are (unbanning
// is SetBanned's job). Returns ENOTFOUND for a missing room, EBADREQUEST
// for an unknown role.
func (s *Store) SetRole(ctx context.Context, room, userID string, role parley.Role) error {
	switch role {
	case parley.RoleNone, parley.RoleMember, parley.RoleModerator, parley.RoleOwner:
	default:
		return parley.Errorf(parley.EBADREQUEST, "Unknown role %q.", role)
	}
	err := s.setStanding(ctx, room, userID, `
		INSERT INTO room_members (room, user_id, role)
		SELECT name, $2, $3::text FROM rooms WHERE name = $1
		ON CONFLICT (room, user_id) DO UPDATE SET role = excluded.role`, string(role))
	if err != nil {
		return fmt.Errorf("postgres: set role: %w", err)
	}
	return nil
}

// SetBanned bans or unbans userID in room; a ban also ends the
// membership, and an unban doesn't restore it. Returns ENOTFOUND for a
// missing room.
func (s *Store) SetBanned(ctx context.Context, room, userID string, banned bool) error {
	err := s.setStanding(ctx, room, userID, `
		INSERT INTO room_members (room, user_id, banned)
		SELECT name, $2, $3::boolean FROM rooms WHERE name = $1
		ON CONFLICT (room, user_id) DO UPDATE SET banned = excluded.banned,
			role = CASE WHEN excluded.banned THEN '' ELSE room_members.role END`, banned)
	if err != nil {
		return fmt.Errorf("postgres: set banned: %w", err)
	}
	return nil
}

// SetMutedUntil mutes userID in room until the given time; the zero time
// unmutes. Returns ENOTFOUND for a missing room.
func (s *Store) SetMutedUntil(ctx context.Context, room, userID string, until time.Time) error {
	err := s.setStanding(ctx, room, userID, `
		INSERT INTO room_members (room, user_id, muted_until)
		SELECT name, $2, $3::timestamptz FROM rooms WHERE name = $1
		ON CONFLICT (room, user_id) DO UPDATE SET muted_until = excluded.muted_until`, nullTime(until))
	if err != nil {
		return fmt.Errorf("postgres: set muted: %w", err)
	}
	return nil
}

// setStanding runs upsert (whose parameters are room, userID, value), which
// inserts nothing when the room is missing, then deletes the row if it no
// longer says anything, so that "no row" and "zero Membership" stay the
// same thing. Rooms are never deleted, so a room seen stays.
func (s *Store) setStanding(ctx context.Context, room, userID, upsert string, value any) error {
	return s.writeTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, upsert, room, userID, value)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoRoom(room)
		}
		_, err = tx.Exec(ctx, `
			DELETE FROM room_members WHERE room = $1 AND user_id = $2
			AND role = '' AND NOT banned AND muted_until IS NULL`, room, userID)
		return err
	})
}

// RoomsOf lists the rooms userID is a member of (any role but RoleNone),
// by name. COLLATE "C" orders names bytewise, as the SQLite store does,
// whatever the database's locale.
func (s *Store) RoomsOf(ctx context.Context, userID string) ([]parley.RoomMembership, error) {
	if s.closed() {
		return nil, fmt.Errorf("postgres: rooms of: %w", errClosed)
	}
	// "m.role <> ''" lets the planner use the partial index room_members_user.
	rows, err := s.pool.Query(ctx, `
		SELECT r.name, r.kind, r.topic, r.created_at, m.role
		FROM room_members m JOIN rooms r ON r.name = m.room
		WHERE m.user_id = $1 AND m.role <> ''
		ORDER BY r.name COLLATE "C"`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: rooms of: %w", s.fail(err))
	}
	rms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.RoomMembership, error) {
		var role string
		r, err := scanRoom(row, &role)
		return parley.RoomMembership{Room: r, Role: parley.Role(role)}, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: rooms of: %w", s.fail(err))
	}
	return rms, nil
}
