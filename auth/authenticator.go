package auth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/parleychat/parley"
)

// SessionCookie carries a browser's session token.
const SessionCookie = "parley_session"

// Identity is who a request speaks for.
type Identity struct {
	Principal parley.Principal
	// Token is set for a guest created by this request; the client keeps it
	// to come back as the same user.
	Token string
	// Credential is the session token an account signed in with, for
	// rechecking later that the session still stands; empty otherwise.
	Credential string
}

// Authenticator turns a request's credentials into an Identity: a session
// token or JWT in the Authorization header, ?token=, or the session cookie
// (in that order); otherwise a new guest named by ?name= when guests are
// allowed. It is safe for concurrent use.
type Authenticator struct {
	Guests   Guests
	Accounts *Accounts
	JWT      *JWTVerifier // nil refuses JWTs
	// AllowGuests lets requests without credentials in as new guests.
	AllowGuests bool
	// External records JWT users, so others can invite, moderate and write
	// to them by id; nil records nothing.
	External ExternalUsers

	// saved remembers the external users recorded, by id, with the name
	// recorded, so a token seen again costs no write.
	saved sync.Map
}

// ExternalUsers records users whose identity comes from JWTs.
type ExternalUsers interface {
	SaveExternalUser(ctx context.Context, u parley.User) error
}

// Authenticate returns the request's identity. Bad, expired or revoked
// credentials are EUNAUTHORIZED, and so is a request without credentials
// when guests are not allowed.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Identity, error) {
	if token := Credential(r); token != "" {
		p, err := a.Verify(ctx, token)
		id := Identity{Principal: p}
		if p.Kind == parley.KindAccount {
			id.Credential = token
		}
		return id, err
	}
	if !a.AllowGuests {
		return Identity{}, parley.Errorf(parley.EUNAUTHORIZED, "Sign in first: this server does not allow guests.")
	}
	u, token, err := a.Guests.Create(ctx, r.URL.Query().Get("name"))
	return Identity{Principal: parley.Principal{User: u, Kind: parley.KindGuest}, Token: token}, err
}

// Revalidate reports whether a session token still stands: EUNAUTHORIZED
// when it was revoked or expired or its account disabled.
func (a *Authenticator) Revalidate(ctx context.Context, token string) error {
	_, err := a.Verify(ctx, token)
	return err
}

// Verify returns the principal of any kind of token.
func (a *Authenticator) Verify(ctx context.Context, token string) (parley.Principal, error) {
	switch {
	case isJWT(token):
		if a.JWT == nil {
			return parley.Principal{}, parley.Errorf(parley.EUNAUTHORIZED, "This server does not accept JWTs; its operator can set --jwt-secret or --jwt-key.")
		}
		p, err := a.JWT.Verify(token)
		if err != nil {
			return p, err
		}
		return p, a.recordExternal(ctx, p.User)
	case strings.HasPrefix(token, sessionPrefix):
		return a.Accounts.Principal(ctx, token)
	default:
		if !a.AllowGuests {
			return parley.Principal{}, parley.Errorf(parley.EUNAUTHORIZED, "Sign in first: this server does not allow guests.")
		}
		u, err := a.Guests.ByToken(ctx, token)
		return parley.Principal{User: u, Kind: parley.KindGuest}, err
	}
}

func (a *Authenticator) recordExternal(ctx context.Context, u parley.User) error {
	if a.External == nil {
		return nil
	}
	if name, ok := a.saved.Load(u.ID); ok && name == u.Name {
		return nil
	}
	if err := a.External.SaveExternalUser(ctx, u); err != nil {
		return fmt.Errorf("auth: recording external user %s: %w", u.ID, err)
	}
	a.saved.Store(u.ID, u.Name)
	return nil
}

// Credential returns the token a request presents, or "".
func Credential(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if token, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(token)
		}
	}
	if token := r.URL.Query().Get("token"); token != "" {
		return token
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// RemoteIP is the address login throttling counts against: the peer's,
// or, when the peer is one of the trusted proxies, the address the proxy
// appended last to X-Forwarded-For (earlier entries are the client's to
// forge).
func RemoteIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !trustedPeer(peer, trusted) {
		return host
	}
	fwd := r.Header.Values("X-Forwarded-For")
	if len(fwd) == 0 {
		return host
	}
	hops := strings.Split(fwd[len(fwd)-1], ",")
	if last, err := netip.ParseAddr(strings.TrimSpace(hops[len(hops)-1])); err == nil {
		return last.String()
	}
	return host
}

func trustedPeer(peer netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(peer.Unmap()) {
			return true
		}
	}
	return false
}
