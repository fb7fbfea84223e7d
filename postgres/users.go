package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/parleychat/parley"
)

// CreateGuest creates a guest; see parley.UserStore. tokenHash must not be
// empty: a user nobody can sign in as is a bug.
func (s *Store) CreateGuest(ctx context.Context, name string, tokenHash []byte) (parley.User, error) {
	if len(tokenHash) == 0 {
		return parley.User{}, errors.New("postgres: create guest: empty token hash")
	}
	u, err := s.insertUser(ctx, parley.KindGuest, name, tokenHash, "", false)
	if err != nil {
		return parley.User{}, fmt.Errorf("postgres: create guest: %w", err)
	}
	return u, nil
}

// insertUser creates a guest or an account, or returns ECONFLICT when a
// guest or account has the name, case-insensitively.
//
// Writes other than appends don't go through the writer: they are rare,
// and one autocommit statement is already one round trip and one commit.
// The conflict target is the unique index on lower(name), so a taken name
// is ECONFLICT even when another node inserts it at the same moment, and
// any other violation stays an error.
func (s *Store) insertUser(ctx context.Context, kind parley.IdentityKind, name string,
	tokenHash []byte, passwordHash string, admin bool) (parley.User, error) {
	id, err := newUserID()
	if err != nil {
		return parley.User{}, err
	}
	wctx, cancel, err := s.writeCtx(ctx)
	if err != nil {
		return parley.User{}, err
	}
	defer cancel()
	// A nil token hash is NULL, which the UNIQUE on token_hash allows any
	// number of times.
	tag, err := s.pool.Exec(wctx, `
		INSERT INTO users (id, name, kind, token_hash, password_hash, admin, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT ((lower(name))) WHERE kind <> 'external' DO NOTHING`,
		id, name, string(kind), tokenHash, passwordHash, admin, millis(s.now()))
	if err != nil {
		return parley.User{}, s.fail(err)
	}
	if tag.RowsAffected() == 0 {
		return parley.User{}, parley.Errorf(parley.ECONFLICT, "The name %q is taken.", name)
	}
	return parley.User{ID: id, Name: name}, nil
}

// UserByTokenHash returns the guest whose token hashes to tokenHash, or
// ENOTFOUND.
func (s *Store) UserByTokenHash(ctx context.Context, tokenHash []byte) (parley.User, error) {
	if s.closed() {
		return parley.User{}, fmt.Errorf("postgres: user by token: %w", errClosed)
	}
	var u parley.User
	err := s.pool.QueryRow(ctx,
		`SELECT id, name FROM users WHERE token_hash = $1 AND kind = 'guest'`, tokenHash).Scan(&u.ID, &u.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.User{}, parley.Errorf(parley.ENOTFOUND, "No user has this token.")
	}
	if err != nil {
		return parley.User{}, fmt.Errorf("postgres: user by token: %w", s.fail(err))
	}
	return u, nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newUserID returns "u" and 16 base32 characters: 80 random bits, URL-safe,
// short enough to read in logs, with collisions out of reach. The same form
// as the sqlite store's, so ids look alike whichever store made them.
func newUserID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "u" + strings.ToLower(idEncoding.EncodeToString(b[:])), nil
}
