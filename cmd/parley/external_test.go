package main

import (
	"testing"
	"time"

	"github.com/parleychat/parley/auth"
)

// TestExternalUsersCanBeModerated: a JWT user, once connected, is known to
// the server, so a room owner can invite them to a private room and they
// can join it.
func TestExternalUsersCanBeModerated(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.JWTSecret = jwtTestSecret })
	v, err := auth.NewJWTVerifier([]byte(jwtTestSecret), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Sign("42", "Ann from the app", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ann := dial(t, s, "token="+tok)
	annID, _ := ann.user()
	owner := dial(t, s, "token="+register(t, s, "owner"))
	if f := owner.request(map[string]any{"type": "create_room", "room": "team", "kind": "private"}); f.str("type") != "room" {
		t.Fatalf("create_room: %v", f)
	}
	if f := owner.request(map[string]any{"type": "invite", "room": "team", "user": annID}); f.str("type") != "ok" {
		t.Fatalf("inviting the external user %s: %v", annID, f)
	}
	if joined, _ := ann.join("team", nil); joined.str("room") != "team" {
		t.Fatalf("the invited external user could not join: %v", joined)
	}
}
