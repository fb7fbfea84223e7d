package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley"
)

// FuzzVerify hands the Authenticator arbitrary credentials, as any request
// can (a header, ?token=, a cookie). Whatever the bytes, Verify must not
// panic, must refuse with unauthorized and nothing else, and must accept
// only what the server issued: a guest's token, an account's session, a
// JWT signed with its secret, each as its own user.
func FuzzVerify(f *testing.F) {
	ctx := context.Background()
	a, accounts := newAuthenticator(f)
	a.Accounts.Now = time.Now
	ann, err := accounts.Register(ctx, "ann", pw)
	if err != nil {
		f.Fatal(err)
	}
	_, bobToken, err := a.Guests.Create(ctx, "bob")
	if err != nil {
		f.Fatal(err)
	}
	signed := mint(f, jwt.SigningMethodHS256, jwtSecret, good())
	issued := map[string]parley.Principal{}
	for _, token := range []string{ann.Token, bobToken, signed} {
		p, err := a.Verify(ctx, token)
		if err != nil {
			f.Fatalf("an issued token fails: %v", err)
		}
		issued[p.ID] = p
		f.Add(token)
		f.Add(token[:len(token)-1])
		f.Add(token + "x")
	}
	unsigned := mint(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good())
	otherKey := mint(f, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), good())
	for _, s := range []string{"", "ps_", "pg_", "..", "a.b.c", unsigned, otherKey, "ps_\x00", "pg_\xff\xfe", strings.Repeat("A", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := a.Verify(ctx, token)
		if err != nil {
			if code := parley.ErrorCode(err); code != parley.EUNAUTHORIZED {
				t.Fatalf("Verify(%q) = %v (%s), want unauthorized", token, err, code)
			}
			return
		}
		want, ok := issued[p.ID]
		if !ok || p.Kind != want.Kind || p.Name != want.Name {
			t.Fatalf("Verify(%q) accepted %+v, which the server never issued", token, p)
		}
	})
}
