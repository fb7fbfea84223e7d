package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/parleychat/parley"
)

// CreateGuest creates a guest through the writer; see parley.UserStore.
// tokenHash must not be empty: a user nobody can sign in as is a bug.
func (s *Store) CreateGuest(ctx context.Context, name string, tokenHash []byte) (parley.User, error) {
	if len(tokenHash) == 0 {
		return parley.User{}, errors.New("sqlite: create guest: empty token hash")
	}
	id, err := newUserID()
	if err != nil {
		return parley.User{}, fmt.Errorf("sqlite: create guest: %w", err)
	}
	// The request may wait for the writer; the caller keeps its slice.
	tokenHash = bytes.Clone(tokenHash)
	err = s.submit(ctx, func(tx *sql.Tx) error {
		return s.createGuestTx(tx, id, name, tokenHash)
	})
	if err != nil {
		return parley.User{}, fmt.Errorf("sqlite: create guest: %w", err)
	}
	return parley.User{ID: id, Name: name}, nil
}

// createGuestTx runs on the writer goroutine.
func (s *Store) createGuestTx(tx *sql.Tx, id, name string, tokenHash []byte) error {
	ctx := context.Background()
	if err := s.checkNameTx(tx, name); err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, s.stmts.insertUser).ExecContext(ctx,
		id, name, string(parley.KindGuest), tokenHash, "", false, s.now().UnixMilli()); err != nil {
		return fmt.Errorf("insert user: %w", classify(err))
	}
	return nil
}

// checkNameTx returns ECONFLICT when a guest or account has name,
// case-insensitively. Checking first rather than mapping the unique-index
// error keeps ECONFLICT about the name only; the single writer makes the
// check race-free.
func (s *Store) checkNameTx(tx *sql.Tx, name string) error {
	ctx := context.Background()
	var taken bool
	if err := tx.StmtContext(ctx, s.stmts.nameTaken).QueryRowContext(ctx, name).Scan(&taken); err != nil {
		return fmt.Errorf("check name: %w", classify(err))
	}
	if taken {
		return parley.Errorf(parley.ECONFLICT, "The name %q is taken.", name)
	}
	return nil
}

// UserByTokenHash returns the guest whose token hashes to tokenHash, or
// ENOTFOUND.
func (s *Store) UserByTokenHash(ctx context.Context, tokenHash []byte) (parley.User, error) {
	if s.closed() {
		return parley.User{}, fmt.Errorf("sqlite: user by token: %w", errClosed)
	}
	var u parley.User
	err := s.rdb.QueryRowContext(ctx,
		`SELECT id, name FROM users WHERE token_hash = ? AND kind = 'guest'`, tokenHash).Scan(&u.ID, &u.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.User{}, parley.Errorf(parley.ENOTFOUND, "No user has this token.")
	}
	if err != nil {
		return parley.User{}, fmt.Errorf("sqlite: user by token: %w", classify(err))
	}
	return u, nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newUserID returns "u" and 16 base32 characters: 80 random bits, URL-safe,
// short enough to read in logs, with collisions out of reach.
func newUserID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "u" + strings.ToLower(idEncoding.EncodeToString(b[:])), nil
}
