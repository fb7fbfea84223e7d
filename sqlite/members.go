package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley"
)

// Membership returns userID's standing in room; the zero Membership when
// there is none, the room missing included.
func (s *Store) Membership(ctx context.Context, room, userID string) (parley.Membership, error) {
	if s.closed() {
		return parley.Membership{}, fmt.Errorf("sqlite: membership: %w", errClosed)
	}
	var m parley.Membership
	var muted int64
	err := s.rdb.QueryRowContext(ctx, `
		SELECT role, banned, muted_until FROM room_members WHERE room = ? AND user_id = ?`,
		room, userID).Scan(&m.Role, &m.Banned, &muted)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.Membership{}, nil
	}
	if err != nil {
		return parley.Membership{}, fmt.Errorf("sqlite: membership: %w", classify(err))
	}
	m.MutedUntil = fromMillis(muted)
	return m, nil
}

// SetRole sets userID's role in room through the writer. RoleNone ends the
// membership and keeps a ban or mute; any other role leaves them as they
// are (unbanning is SetBanned's job). Returns ENOTFOUND for a missing room,
// EBADREQUEST for an unknown role.
func (s *Store) SetRole(ctx context.Context, room, userID string, role parley.Role) error {
	switch role {
	case parley.RoleNone, parley.RoleMember, parley.RoleModerator, parley.RoleOwner:
	default:
		return parley.Errorf(parley.EBADREQUEST, "Unknown role %q.", role)
	}
	err := s.setStanding(ctx, room, userID, `
		INSERT INTO room_members (room, user_id, role) VALUES (?, ?, ?)
		ON CONFLICT DO UPDATE SET role = excluded.role`, string(role))
	if err != nil {
		return fmt.Errorf("sqlite: set role: %w", err)
	}
	return nil
}

// SetBanned bans or unbans userID in room through the writer; a ban also
// ends the membership, and an unban doesn't restore it. Returns ENOTFOUND
// for a missing room.
func (s *Store) SetBanned(ctx context.Context, room, userID string, banned bool) error {
	err := s.setStanding(ctx, room, userID, `
		INSERT INTO room_members (room, user_id, banned) VALUES (?, ?, ?)
		ON CONFLICT DO UPDATE SET banned = excluded.banned,
			role = CASE WHEN excluded.banned THEN '' ELSE role END`, banned)
	if err != nil {
		return fmt.Errorf("sqlite: set banned: %w", err)
	}
	return nil
}

// SetMutedUntil mutes userID in room until the given time through the
// writer; the zero time unmutes. Returns ENOTFOUND for a missing room.
func (s *Store) SetMutedUntil(ctx context.Context, room, userID string, until time.Time) error {
	err := s.setStanding(ctx, room, userID, `
		INSERT INTO room_members (room, user_id, muted_until) VALUES (?, ?, ?)
		ON CONFLICT DO UPDATE SET muted_until = excluded.muted_until`, toMillis(until))
	if err != nil {
		return fmt.Errorf("sqlite: set muted: %w", err)
	}
	return nil
}

// setStanding runs upsert (whose parameters are room, userID, value) on
// the writer, then deletes the row if it no longer says anything, so that
// "no row" and "zero Membership" stay the same thing.
func (s *Store) setStanding(ctx context.Context, room, userID, upsert string, value any) error {
	return s.submit(ctx, func(tx *sql.Tx) error {
		ctx := context.Background()
		var exists bool
		if err := tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM rooms WHERE name = ?)`, room).Scan(&exists); err != nil {
			return fmt.Errorf("check room: %w", classify(err))
		}
		if !exists {
			return errNoRoom(room)
		}
		if _, err := tx.ExecContext(ctx, upsert, room, userID, value); err != nil {
			return fmt.Errorf("upsert: %w", classify(err))
		}
		if _, err := tx.ExecContext(ctx, `
			DELETE FROM room_members WHERE room = ? AND user_id = ?
			AND role = '' AND banned = 0 AND muted_until = 0`, room, userID); err != nil {
			return fmt.Errorf("prune: %w", classify(err))
		}
		return nil
	})
}

// RoomsOf lists the rooms userID is a member of (any role but RoleNone),
// by name.
func (s *Store) RoomsOf(ctx context.Context, userID string) ([]parley.RoomMembership, error) {
	if s.closed() {
		return nil, fmt.Errorf("sqlite: rooms of: %w", errClosed)
	}
	// "m.role <> ''" lets the planner use the partial index room_members_user.
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT r.name, r.kind, r.topic, r.created_at, m.role
		FROM room_members m JOIN rooms r ON r.name = m.room
		WHERE m.user_id = ? AND m.role <> ''
		ORDER BY r.name`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: rooms of: %w", classify(err))
	}
	defer rows.Close()
	var rms []parley.RoomMembership
	for rows.Next() {
		var rm parley.RoomMembership
		if rm.Room, err = scanRoom(rows, &rm.Role); err != nil {
			return nil, fmt.Errorf("sqlite: rooms of: %w", classify(err))
		}
		rms = append(rms, rm)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: rooms of: %w", classify(err))
	}
	return rms, nil
}
