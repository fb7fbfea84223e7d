package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley"
)

// CreateSession records a session of the account userID through the
// writer. It returns ENOTFOUND when userID is not an account. It also
// deletes that account's sessions that expired by the store's clock, so
// that sessions nobody signs out of don't pile up.
func (s *Store) CreateSession(ctx context.Context, userID string, tokenHash []byte, expires time.Time) error {
	if len(tokenHash) == 0 {
		return errors.New("sqlite: create session: empty token hash")
	}
	tokenHash = bytes.Clone(tokenHash) // the request may wait for the writer
	err := s.submit(ctx, func(tx *sql.Tx) error {
		ctx := context.Background()
		var isAccount bool
		if err := tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM users WHERE id = ? AND kind = 'account')`, userID).Scan(&isAccount); err != nil {
			return fmt.Errorf("check account: %w", classify(err))
		}
		if !isAccount {
			return errNoAccount
		}
		now := s.now().UnixMilli()
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM sessions WHERE user_id = ? AND expires <= ?`, userID, now); err != nil {
			return fmt.Errorf("delete expired: %w", classify(err))
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO sessions (token_hash, user_id, expires, created_at) VALUES (?, ?, ?, ?)`,
			tokenHash, userID, expires.UnixMilli(), now); err != nil {
			return fmt.Errorf("insert session: %w", classify(err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	return nil
}

// SessionAccount returns the account of the session whose token hashes to
// tokenHash and when it expires. Returns ENOTFOUND when there is no such
// session, it expired at or before now, or its account is disabled.
func (s *Store) SessionAccount(ctx context.Context, tokenHash []byte, now time.Time) (parley.Account, time.Time, error) {
	if s.closed() {
		return parley.Account{}, time.Time{}, fmt.Errorf("sqlite: session account: %w", errClosed)
	}
	var expires int64
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, `
		SELECT u.id, u.name, u.password_hash, u.admin, u.disabled, u.created_at, s.expires
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.expires > ? AND u.kind = 'account' AND u.disabled = 0`,
		tokenHash, now.UnixMilli()), &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.Account{}, time.Time{}, parley.Errorf(parley.ENOTFOUND, "The session has ended; sign in again.")
	}
	if err != nil {
		return parley.Account{}, time.Time{}, fmt.Errorf("sqlite: session account: %w", classify(err))
	}
	return a, time.UnixMilli(expires).UTC(), nil
}

// DeleteSession deletes one session through the writer; an unknown one is
// not an error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	tokenHash = bytes.Clone(tokenHash)
	err := s.submit(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.Background(), `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	return nil
}

func deleteSessionsTx(tx *sql.Tx, userID string) error {
	if _, err := tx.ExecContext(context.Background(),
		`DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete sessions: %w", classify(err))
	}
	return nil
}
