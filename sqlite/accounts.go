package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parleychat/parley"
)

var _ parley.AccountStore = (*Store)(nil)

// User returns any user, guest, account or external, by id, or ENOTFOUND.
func (s *Store) User(ctx context.Context, id string) (parley.User, parley.IdentityKind, error) {
	if s.closed() {
		return parley.User{}, "", fmt.Errorf("sqlite: user: %w", errClosed)
	}
	var u parley.User
	var kind parley.IdentityKind
	err := s.rdb.QueryRowContext(ctx, `SELECT id, name, kind FROM users WHERE id = ?`, id).Scan(&u.ID, &u.Name, &kind)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.User{}, "", parley.Errorf(parley.ENOTFOUND, "There is no user %s.", id)
	}
	if err != nil {
		return parley.User{}, "", fmt.Errorf("sqlite: user: %w", classify(err))
	}
	return u, kind, nil
}

// SaveExternalUser records an external user, or renames it, through the
// writer. Its id must start with parley.ExternalIDPrefix: that prefix is
// what keeps external ids from ever naming a guest or an account.
func (s *Store) SaveExternalUser(ctx context.Context, u parley.User) error {
	if !strings.HasPrefix(u.ID, parley.ExternalIDPrefix) || len(u.ID) == len(parley.ExternalIDPrefix) {
		return fmt.Errorf("sqlite: save external user: id %q lacks the %q prefix", u.ID, parley.ExternalIDPrefix)
	}
	err := s.submit(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.Background(), `
			INSERT INTO users (id, name, kind, created_at) VALUES (?, ?, 'external', ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name`,
			u.ID, u.Name, s.now().UnixMilli())
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: save external user: %w", err)
	}
	return nil
}

// CreateAccount creates an account through the writer; see
// parley.AccountStore. Accounts get ids of the same form as guests.
func (s *Store) CreateAccount(ctx context.Context, name, passwordHash string, admin bool) (parley.User, error) {
	id, err := newUserID()
	if err != nil {
		return parley.User{}, fmt.Errorf("sqlite: create account: %w", err)
	}
	err = s.submit(ctx, func(tx *sql.Tx) error {
		ctx := context.Background()
		if err := s.checkNameTx(tx, name); err != nil {
			return err
		}
		// A nil token hash is NULL, which the UNIQUE on token_hash allows
		// any number of times; an empty []byte would not be.
		if _, err := tx.StmtContext(ctx, s.stmts.insertUser).ExecContext(ctx,
			id, name, string(parley.KindAccount), nil, passwordHash, admin, s.now().UnixMilli()); err != nil {
			return fmt.Errorf("insert user: %w", classify(err))
		}
		return nil
	})
	if err != nil {
		return parley.User{}, fmt.Errorf("sqlite: create account: %w", err)
	}
	return parley.User{ID: id, Name: name}, nil
}

const accountCols = `id, name, password_hash, admin, disabled, created_at`

func scanAccount(row interface{ Scan(...any) error }, extra ...any) (parley.Account, error) {
	var a parley.Account
	var created int64
	if err := row.Scan(append([]any{&a.ID, &a.Name, &a.PasswordHash, &a.Admin, &a.Disabled, &created}, extra...)...); err != nil {
		return parley.Account{}, err
	}
	a.CreatedAt = time.UnixMilli(created).UTC()
	return a, nil
}

// AccountByName returns the account named name, case-insensitively, or
// ENOTFOUND.
func (s *Store) AccountByName(ctx context.Context, name string) (parley.Account, error) {
	// "kind <> 'external'" lets the planner use the partial index users_name.
	a, err := s.account(ctx, `
		SELECT `+accountCols+` FROM users
		WHERE name = ? AND kind <> 'external' AND kind = 'account'`, name)
	if err != nil {
		return parley.Account{}, fmt.Errorf("sqlite: account by name: %w", err)
	}
	return a, nil
}

// AccountByID returns the account with id, or ENOTFOUND.
func (s *Store) AccountByID(ctx context.Context, id string) (parley.Account, error) {
	a, err := s.account(ctx, `SELECT `+accountCols+` FROM users WHERE id = ? AND kind = 'account'`, id)
	if err != nil {
		return parley.Account{}, fmt.Errorf("sqlite: account by id: %w", err)
	}
	return a, nil
}

func (s *Store) account(ctx context.Context, query string, arg any) (parley.Account, error) {
	if s.closed() {
		return parley.Account{}, errClosed
	}
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, query, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return parley.Account{}, errNoAccount
	}
	return a, classify(err)
}

var errNoAccount = parley.Errorf(parley.ENOTFOUND, "There is no such account.")

// Accounts lists every account by name, case-insensitively (the order
// users.name's NOCASE collation gives).
func (s *Store) Accounts(ctx context.Context) ([]parley.Account, error) {
	if s.closed() {
		return nil, fmt.Errorf("sqlite: accounts: %w", errClosed)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+accountCols+` FROM users WHERE kind = 'account' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: accounts: %w", classify(err))
	}
	defer rows.Close()
	var as []parley.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: accounts: %w", classify(err))
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: accounts: %w", classify(err))
	}
	return as, nil
}

// SetPassword replaces an account's password hash and deletes its
// sessions, in one transaction, through the writer.
func (s *Store) SetPassword(ctx context.Context, userID, passwordHash string) error {
	err := s.submit(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(context.Background(),
			`UPDATE users SET password_hash = ? WHERE id = ? AND kind = 'account'`, passwordHash, userID)
		if err := mustAffect(res, err, errNoAccount); err != nil {
			return err
		}
		return deleteSessionsTx(tx, userID)
	})
	if err != nil {
		return fmt.Errorf("sqlite: set password: %w", err)
	}
	return nil
}

// SetDisabled disables or enables an account through the writer;
// disabling deletes its sessions in the same transaction.
func (s *Store) SetDisabled(ctx context.Context, userID string, disabled bool) error {
	err := s.submit(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(context.Background(),
			`UPDATE users SET disabled = ? WHERE id = ? AND kind = 'account'`, disabled, userID)
		if err := mustAffect(res, err, errNoAccount); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		return deleteSessionsTx(tx, userID)
	})
	if err != nil {
		return fmt.Errorf("sqlite: set disabled: %w", err)
	}
	return nil
}
