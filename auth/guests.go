package auth

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/parleychat/parley"
)

// nameAttempts bounds the search for a free name.
const nameAttempts = 20

// Guests signs in guests: anyone may pick a name, and gets a token that
// brings the same user back later.
type Guests struct {
	Users parley.UserStore
}

// ByToken returns the guest whose token this is. Returns EUNAUTHORIZED for
// an unknown token.
func (g Guests) ByToken(ctx context.Context, token string) (parley.User, error) {
	u, err := g.Users.UserByTokenHash(ctx, HashToken(token))
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return parley.User{}, parley.Errorf(parley.EUNAUTHORIZED, "The token is not valid; connect without it to get a new guest identity.")
	}
	if err != nil {
		return parley.User{}, fmt.Errorf("auth: finding a user by token: %w", err)
	}
	return u, nil
}

// Create makes a new guest named name or, when that is empty or taken
// (by a guest or an account), a free name near it, and returns its token.
// Returns EBADREQUEST for a name that is not valid.
func (g Guests) Create(ctx context.Context, name string) (parley.User, string, error) {
	if name != "" {
		if err := parley.ValidateUserName(name); err != nil {
			return parley.User{}, "", err
		}
	}
	token := NewToken()
	hash := HashToken(token)
	for i := range nameAttempts {
		candidate := candidateName(name, i)
		u, err := g.Users.CreateGuest(ctx, candidate, hash)
		if parley.ErrorCode(err) == parley.ECONFLICT {
			continue
		}
		if err != nil {
			return parley.User{}, "", fmt.Errorf("auth: creating guest %q: %w", candidate, err)
		}
		return u, token, nil
	}
	return parley.User{}, "", parley.Errorf(parley.ECONFLICT, "No free name near %q was found; pick another name.", name)
}

// candidateName is the i-th name to try: the requested one, then name-2 to
// name-5, then name-NNNN with random digits; without a request,
// guest-NNNN.
func candidateName(name string, i int) string {
	switch {
	case name == "":
		return fmt.Sprintf("guest-%04d", rand.IntN(10000))
	case i == 0:
		return name
	case i < 5:
		return parley.AlternativeName(name, i+1)
	default:
		return parley.AlternativeName(name, 1000+rand.IntN(9000))
	}
}
