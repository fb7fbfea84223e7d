package auth

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// Accounts registers users, checks passwords and keeps sessions.
// It is safe for concurrent use.
type Accounts struct {
	Store parley.AccountStore
	// SessionTTL is how long a login lasts (30 days if zero).
	SessionTTL time.Duration
	Throttle   *Throttle
	Now        func() time.Time
}

// Session is a signed-in account's credential.
type Session struct {
	Token   string
	Expires time.Time
	User    parley.User
	Admin   bool
}

// errBadLogin is the one answer for an unknown name, a wrong password and a
// disabled account, so a login reveals nothing about which it was.
var errBadLogin = parley.Errorf(parley.EUNAUTHORIZED, "The name or password is wrong.")

func (a *Accounts) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func (a *Accounts) ttl() time.Duration {
	if a.SessionTTL <= 0 {
		return 30 * 24 * time.Hour
	}
	return a.SessionTTL
}

// Create makes an account after checking the name and password rules.
// Returns ECONFLICT when the name is taken.
func (a *Accounts) Create(ctx context.Context, name, password string, admin bool) (parley.User, error) {
	if err := parley.ValidateUserName(name); err != nil {
		return parley.User{}, err
	}
	if strings.HasPrefix(strings.ToLower(name), "guest-") {
		return parley.User{}, parley.Errorf(parley.EBADREQUEST, "Names starting with guest- are kept for guests; pick another.")
	}
	if err := ValidatePassword(password); err != nil {
		return parley.User{}, err
	}
	u, err := a.Store.CreateAccount(ctx, name, HashPassword(password), admin)
	if parley.ErrorCode(err) == parley.ECONFLICT {
		return parley.User{}, parley.Errorf(parley.ECONFLICT, "The name %s is taken; pick another.", name)
	}
	if err != nil {
		return parley.User{}, fmt.Errorf("auth: creating account %q: %w", name, err)
	}
	return u, nil
}

// Login checks name and password and starts a session. Attempts are
// throttled per remote address and per name (see Throttle).
func (a *Accounts) Login(ctx context.Context, name, password, remoteIP string) (Session, error) {
	// No account has a name that ValidateUserName refuses, so there is
	// nothing to check or throttle, and an arbitrary string never becomes a
	// key of the throttle's table.
	if parley.ValidateUserName(name) != nil {
		return Session{}, errBadLogin
	}
	ipKey, nameKey := "ip:"+addressKey(remoteIP), "name:"+strings.ToLower(name)
	var ticket *Ticket
	if a.Throttle != nil {
		var wait time.Duration
		if ticket, wait = a.Throttle.Attempt(ipKey, nameKey); wait > 0 {
			return Session{}, &protocol.RateLimitError{RetryAfter: wait}
		}
	}
	acct, err := a.Store.AccountByName(ctx, name)
	switch {
	case parley.ErrorCode(err) == parley.ENOTFOUND:
		VerifyPassword(dummyHash(), password) // take as long as a wrong password
		return Session{}, errBadLogin
	case err != nil:
		if ticket != nil {
			a.Throttle.Refund(ticket) // the store failed, not the client
		}
		return Session{}, fmt.Errorf("auth: finding account %q: %w", name, err)
	case !VerifyPassword(acct.PasswordHash, password) || acct.Disabled:
		return Session{}, errBadLogin
	}
	if ticket != nil {
		a.Throttle.Refund(ticket)
		a.Throttle.Clear(nameKey)
	}
	return a.startSession(ctx, acct)
}

// addressKey is what the throttle counts an address's attempts under: an
// IPv6 address by its /64, since one subscriber commonly holds a whole /64
// and could otherwise take a fresh address for every guess. Link-local and
// NAT64 addresses stay whole: their /64 holds everyone on a link, or the
// whole IPv4 internet.
func addressKey(remoteIP string) string {
	addr, err := netip.ParseAddr(remoteIP)
	if err != nil || !addr.Is6() || addr.Is4In6() || addr.IsLinkLocalUnicast() || nat64.Contains(addr) {
		return remoteIP
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// nat64 is the well-known NAT64 prefix (RFC 6052).
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

func (a *Accounts) startSession(ctx context.Context, acct parley.Account) (Session, error) {
	token := newToken(sessionPrefix)
	expires := a.now().Add(a.ttl()).UTC().Truncate(time.Millisecond)
	if err := a.Store.CreateSession(ctx, acct.ID, HashToken(token), expires); err != nil {
		return Session{}, fmt.Errorf("auth: starting a session: %w", err)
	}
	return Session{Token: token, Expires: expires, User: acct.User, Admin: acct.Admin}, nil
}

// Register creates an account and signs it in.
func (a *Accounts) Register(ctx context.Context, name, password string) (Session, error) {
	u, err := a.Create(ctx, name, password, false)
	if err != nil {
		return Session{}, err
	}
	return a.startSession(ctx, parley.Account{User: u})
}

// Logout ends the session of token; an unknown token is not an error.
func (a *Accounts) Logout(ctx context.Context, token string) error {
	if err := a.Store.DeleteSession(ctx, HashToken(token)); err != nil {
		return fmt.Errorf("auth: ending a session: %w", err)
	}
	return nil
}

// Principal returns the account behind a session token. Returns
// EUNAUTHORIZED for an unknown, expired or revoked session.
func (a *Accounts) Principal(ctx context.Context, token string) (parley.Principal, error) {
	acct, expires, err := a.Store.SessionAccount(ctx, HashToken(token), a.now())
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return parley.Principal{}, parley.Errorf(parley.EUNAUTHORIZED, "The session has ended; sign in again.")
	}
	if err != nil {
		return parley.Principal{}, fmt.Errorf("auth: finding a session: %w", err)
	}
	return parley.Principal{User: acct.User, Kind: parley.KindAccount, Admin: acct.Admin, Expires: expires}, nil
}

// SetPassword changes name's password, which ends all its sessions.
func (a *Accounts) SetPassword(ctx context.Context, name, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	acct, err := a.Store.AccountByName(ctx, name)
	if err != nil {
		return err
	}
	return a.Store.SetPassword(ctx, acct.ID, HashPassword(password))
}

// Disable disables name's account and ends its sessions; it returns the
// user so live connections can be closed too.
func (a *Accounts) Disable(ctx context.Context, name string) (parley.User, error) {
	acct, err := a.Store.AccountByName(ctx, name)
	if err != nil {
		return parley.User{}, err
	}
	return acct.User, a.Store.SetDisabled(ctx, acct.ID, true)
}
