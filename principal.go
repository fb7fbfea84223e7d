package parley

import "time"

// IdentityKind says how a user proved who they are.
type IdentityKind string

const (
	// KindGuest is anyone with a chosen name and the token they were given.
	KindGuest IdentityKind = "guest"
	// KindAccount signed in with a name and password.
	KindAccount IdentityKind = "account"
	// KindExternal presented a JWT from the application Parley is embedded
	// in; its user id is "ext:" + the token's sub, so it can never collide
	// with a local user.
	KindExternal IdentityKind = "external"
)

// ExternalIDPrefix starts every external user's id.
const ExternalIDPrefix = "ext:"

// Principal is a connection's or request's identity, decided by the server
// from its credentials; nothing a client puts in a frame changes it.
type Principal struct {
	User
	Kind  IdentityKind
	Admin bool // the site role admin: accounts only
	// Rooms limits the rooms a JWT may use; nil means no limit.
	Rooms []string
	// Expires is when the credential stops being valid; zero means never.
	// A connection is closed with 4001 at that moment.
	Expires time.Time
}

// MayUseRoom reports whether the credential's room list allows room.
func (p Principal) MayUseRoom(room string) bool {
	if p.Rooms == nil {
		return true
	}
	for _, r := range p.Rooms {
		if r == room {
			return true
		}
	}
	return false
}
