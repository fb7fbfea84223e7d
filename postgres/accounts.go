package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/parleychat/parley"
)

// User returns any user, guest, account or external, by id, or ENOTFOUND.
func (s *Store) User(ctx context.Context, id string) (parley.User, parley.IdentityKind, error) {
	if s.closed() {
		return parley.User{}, "", fmt.Errorf("postgres: user: %w", errClosed)
	}
	var u parley.User
	var kind string
	err := s.pool.QueryRow(ctx, `SELECT id, name, kind FROM users WHERE id = $1`, id).Scan(&u.ID, &u.Name, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.User{}, "", parley.Errorf(parley.ENOTFOUND, "There is no user %s.", id)
	}
	if err != nil {
		return parley.User{}, "", fmt.Errorf("postgres: user: %w", s.fail(err))
	}
	return u, parley.IdentityKind(kind), nil
}

// SaveExternalUser records an external user, or renames it. Its id must
// start with parley.ExternalIDPrefix: that prefix is what keeps external
// ids from ever naming a guest or an account.
func (s *Store) SaveExternalUser(ctx context.Context, u parley.User) error {
	if !strings.HasPrefix(u.ID, parley.ExternalIDPrefix) || len(u.ID) == len(parley.ExternalIDPrefix) {
		return fmt.Errorf("postgres: save external user: id %q lacks the %q prefix", u.ID, parley.ExternalIDPrefix)
	}
	wctx, cancel, err := s.writeCtx(ctx)
	if err != nil {
		return fmt.Errorf("postgres: save external user: %w", err)
	}
	defer cancel()
	if _, err := s.pool.Exec(wctx, `
		INSERT INTO users (id, name, kind, created_at) VALUES ($1, $2, 'external', $3)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name`,
		u.ID, u.Name, millis(s.now())); err != nil {
		return fmt.Errorf("postgres: save external user: %w", s.fail(err))
	}
	return nil
}

// CreateAccount creates an account; see parley.AccountStore. Accounts get
// ids of the same form as guests.
func (s *Store) CreateAccount(ctx context.Context, name, passwordHash string, admin bool) (parley.User, error) {
	u, err := s.insertUser(ctx, parley.KindAccount, name, nil, passwordHash, admin)
	if err != nil {
		return parley.User{}, fmt.Errorf("postgres: create account: %w", err)
	}
	return u, nil
}

const accountCols = `id, name, password_hash, admin, disabled, created_at`

func scanAccount(row pgx.Row, extra ...any) (parley.Account, error) {
	var a parley.Account
	if err := row.Scan(append([]any{&a.ID, &a.Name, &a.PasswordHash, &a.Admin, &a.Disabled, &a.CreatedAt}, extra...)...); err != nil {
		return parley.Account{}, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// AccountByName returns the account named name, case-insensitively, or
// ENOTFOUND.
func (s *Store) AccountByName(ctx context.Context, name string) (parley.Account, error) {
	// "kind <> 'external'" lets the planner use the partial index users_name.
	a, err := s.account(ctx, `
		SELECT `+accountCols+` FROM users
		WHERE lower(name) = lower($1) AND kind <> 'external' AND kind = 'account'`, name)
	if err != nil {
		return parley.Account{}, fmt.Errorf("postgres: account by name: %w", err)
	}
	return a, nil
}

// AccountByID returns the account with id, or ENOTFOUND.
func (s *Store) AccountByID(ctx context.Context, id string) (parley.Account, error) {
	a, err := s.account(ctx, `SELECT `+accountCols+` FROM users WHERE id = $1 AND kind = 'account'`, id)
	if err != nil {
		return parley.Account{}, fmt.Errorf("postgres: account by id: %w", err)
	}
	return a, nil
}

func (s *Store) account(ctx context.Context, query string, arg any) (parley.Account, error) {
	if s.closed() {
		return parley.Account{}, errClosed
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, query, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.Account{}, errNoAccount
	}
	return a, s.fail(err)
}

var errNoAccount = parley.Errorf(parley.ENOTFOUND, "There is no such account.")

// Accounts lists every account by name, case-insensitively. COLLATE "C"
// makes the order bytewise on the folded names, as the SQLite store's
// NOCASE gives, whatever the database's locale.
func (s *Store) Accounts(ctx context.Context) ([]parley.Account, error) {
	if s.closed() {
		return nil, fmt.Errorf("postgres: accounts: %w", errClosed)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+accountCols+` FROM users WHERE kind = 'account'
		ORDER BY lower(name) COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts: %w", s.fail(err))
	}
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.Account, error) {
		return scanAccount(row)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts: %w", s.fail(err))
	}
	return as, nil
}

// SetPassword replaces an account's password hash and deletes its
// sessions, in one transaction.
func (s *Store) SetPassword(ctx context.Context, userID, passwordHash string) error {
	err := s.writeTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE users SET password_hash = $1 WHERE id = $2 AND kind = 'account'`, passwordHash, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoAccount
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: set password: %w", err)
	}
	return nil
}

// SetDisabled disables or enables an account; disabling deletes its
// sessions in the same transaction.
func (s *Store) SetDisabled(ctx context.Context, userID string, disabled bool) error {
	err := s.writeTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE users SET disabled = $1 WHERE id = $2 AND kind = 'account'`, disabled, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoAccount
		}
		if !disabled {
			return nil
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: set disabled: %w", err)
	}
	return nil
}
