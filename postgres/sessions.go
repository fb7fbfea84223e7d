package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleychat/parley"
)

// CreateSession records a session of the account userID. It returns
// ENOTFOUND when userID is not an account. It also deletes that account's
// sessions that expired by the store's clock, so that sessions nobody
// signs out of don't pile up.
func (s *Store) CreateSession(ctx context.Context, userID string, tokenHash []byte, expires time.Time) error {
	if len(tokenHash) == 0 {
		return errors.New("postgres: create session: empty token hash")
	}
	err := s.writeTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := millis(s.now())
		if _, err := tx.Exec(ctx,
			`DELETE FROM sessions WHERE user_id = $1 AND expires <= $2`, userID, now); err != nil {
			return err
		}
		// Inserting from the users row checks that it is an account in
		// the same statement.
		tag, err := tx.Exec(ctx, `
			INSERT INTO sessions (token_hash, user_id, expires, created_at)
			SELECT $1, id, $3, $4 FROM users WHERE id = $2 AND kind = 'account'`,
			tokenHash, userID, millis(expires), now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoAccount
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	return nil
}

// SessionAccount returns the account of the session whose token hashes to
// tokenHash and when it expires. Returns ENOTFOUND when there is no such
// session, it expired at or before now, or its account is disabled.
func (s *Store) SessionAccount(ctx context.Context, tokenHash []byte, now time.Time) (parley.Account, time.Time, error) {
	if s.closed() {
		return parley.Account{}, time.Time{}, fmt.Errorf("postgres: session account: %w", errClosed)
	}
	var expires time.Time
	a, err := scanAccount(s.pool.QueryRow(ctx, `
		SELECT u.id, u.name, u.password_hash, u.admin, u.disabled, u.created_at, s.expires
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires > $2 AND u.kind = 'account' AND NOT u.disabled`,
		tokenHash, millis(now)), &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.Account{}, time.Time{}, parley.Errorf(parley.ENOTFOUND, "The session has ended; sign in again.")
	}
	if err != nil {
		return parley.Account{}, time.Time{}, fmt.Errorf("postgres: session account: %w", s.fail(err))
	}
	return a, expires.UTC(), nil
}

// DeleteSession deletes one session; an unknown one is not an error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	wctx, cancel, err := s.writeCtx(ctx)
	if err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	defer cancel()
	if _, err := s.pool.Exec(wctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("postgres: delete session: %w", s.fail(err))
	}
	return nil
}
