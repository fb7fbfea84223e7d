package auth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
	"github.com/parleychat/parley/sqlite"
)

func openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func newAccounts(tb testing.TB) (*Accounts, *clock) {
	tb.Helper()
	c := newClock()
	return &Accounts{Store: openStore(tb), SessionTTL: 24 * time.Hour, Throttle: NewThrottle(c.Now), Now: c.Now}, c
}

const pw = "correct horse battery"

func TestAccountsRegisterLoginLogout(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)

	s, err := a.Register(ctx, "ann", pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Token, sessionPrefix) || len(s.Token) < 32 || s.User.Name != "ann" || s.User.ID == "" || s.Admin {
		t.Errorf("session %+v", s)
	}
	if !s.Expires.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("expires %v, want a day after now", s.Expires)
	}
	p, err := a.Principal(ctx, s.Token)
	if err != nil || p.ID != s.User.ID || p.Name != "ann" || p.Kind != parley.KindAccount || !p.Expires.Equal(s.Expires) {
		t.Fatalf("principal %+v %v", p, err)
	}

	// Names are case-insensitive; the login finds "ann" as "ANN".
	s2, err := a.Login(ctx, "ANN", pw, "10.0.0.1")
	if err != nil || s2.User.ID != s.User.ID || s2.Token == s.Token {
		t.Fatalf("login: %+v %v", s2, err)
	}
	if err := a.Logout(ctx, s2.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Principal(ctx, s2.Token); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("after logout: %v, want unauthorized", err)
	}
	if _, err := a.Principal(ctx, s.Token); err != nil {
		t.Errorf("logging one session out ended another: %v", err)
	}
	if err := a.Logout(ctx, "ps_unknown"); err != nil {
		t.Errorf("logout of an unknown token: %v", err)
	}
	for _, tok := range []string{"", "ps_", s.Token + "x", strings.TrimPrefix(s.Token, sessionPrefix)} {
		if _, err := a.Principal(ctx, tok); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Errorf("token %q: %v, want unauthorized", tok, err)
		}
	}

	admin, err := a.Create(ctx, "root", pw, true)
	if err != nil {
		t.Fatal(err)
	}
	s3, err := a.Login(ctx, "root", pw, "10.0.0.1")
	if err != nil || !s3.Admin || s3.User != admin {
		t.Errorf("admin login: %+v %v", s3, err)
	}
	if p, _ := a.Principal(ctx, s3.Token); !p.Admin {
		t.Error("the admin's principal is not admin")
	}
}

func TestAccountsCreateRules(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)
	if _, err := a.Create(ctx, "ann", pw, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, pw, code string }{
		{"ANN", pw, parley.ECONFLICT},
		{"guest-1", pw, parley.EBADREQUEST},
		{"Guest-x", pw, parley.EBADREQUEST},
		{"a b", pw, parley.EBADREQUEST},
		{"", pw, parley.EBADREQUEST},
		{strings.Repeat("n", 33), pw, parley.EBADREQUEST},
		{"bob", "short", parley.EBADREQUEST},
		{"bob", strings.Repeat("p", MaxPasswordLen+1), parley.EBADREQUEST},
	} {
		_, err := a.Create(ctx, tc.name, tc.pw, false)
		if parley.ErrorCode(err) != tc.code || parley.ErrorMessage(err) == "" {
			t.Errorf("Create(%.20q, %d-byte password) = %v, want %s", tc.name, len(tc.pw), err, tc.code)
		}
	}
	// Guests and accounts share one namespace.
	if _, _, err := (Guests{Users: a.Store.(*sqlite.Store)}).Create(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Register(ctx, "Carol", pw); parley.ErrorCode(err) != parley.ECONFLICT {
		t.Errorf("account named like a guest: %v, want conflict", err)
	}
}

func TestAccountsLoginFailuresLookAlike(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)
	a.Throttle = nil // here only the answers matter
	if _, err := a.Create(ctx, "ann", pw, false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, "dan", pw, false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Disable(ctx, "dan"); err != nil {
		t.Fatal(err)
	}
	var first *parley.Error
	for what, try := range map[string][2]string{
		"unknown name":             {"nobody", pw},
		"wrong password":           {"ann", pw + "!"},
		"disabled, right password": {"dan", pw},
		"disabled, wrong password": {"dan", "nope nope nope"},
		"empty password":           {"ann", ""},
		"password over the max":    {"ann", strings.Repeat("x", MaxPasswordLen+1)},
	} {
		_, err := a.Login(ctx, try[0], try[1], "10.0.0.1")
		var e *parley.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %v, want a parley error", what, err)
		}
		if e.Code != parley.EUNAUTHORIZED {
			t.Errorf("%s: code %s, want unauthorized", what, e.Code)
		}
		if first == nil {
			first = e
		} else if *e != *first {
			t.Errorf("%s: %q, but another failure said %q; a login must not reveal which part was wrong", what, e.Message, first.Message)
		}
	}
}

func TestAccountsLoginThrottle(t *testing.T) {
	ctx := context.Background()
	a, c := newAccounts(t)
	for _, n := range []string{"ann", "bob"} {
		if _, err := a.Create(ctx, n, pw, false); err != nil {
			t.Fatal(err)
		}
	}
	isRateLimited := func(err error) bool {
		var rl *protocol.RateLimitError
		return parley.ErrorCode(err) == parley.ERATELIMITED && errors.As(err, &rl) && rl.RetryAfter > 0
	}

	// Five wrong passwords for ann from one address...
	for i := range freeFailures {
		if _, err := a.Login(ctx, "ann", "wrong password", "10.0.0.1"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// ...lock the name from anywhere, even with the right password,
	if _, err := a.Login(ctx, "ANN", pw, "10.9.9.9"); !isRateLimited(err) {
		t.Errorf("ann from another address: %v, want rate_limited", err)
	}
	// ...and the address for any name.
	if _, err := a.Login(ctx, "bob", pw, "10.0.0.1"); !isRateLimited(err) {
		t.Errorf("bob from the locked address: %v, want rate_limited", err)
	}
	// Others are unaffected.
	if _, err := a.Login(ctx, "bob", pw, "10.0.0.2"); err != nil {
		t.Errorf("bob from another address: %v", err)
	}
	// Refused attempts don't extend the lockout; once it passes, the right
	// password works and clears the count.
	c.Add(time.Second)
	if _, err := a.Login(ctx, "ann", pw, "10.0.0.1"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	// The success cleared ann's name, not the address: a right password
	// for one name says nothing of the other names tried from it.
	if _, err := a.Login(ctx, "ann", "wrong password", "10.0.0.2"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("ann's name after a success: %v, want unauthorized (not locked)", err)
	}
	if _, err := a.Login(ctx, "cid", "wrong password", "10.0.0.1"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("the address after a success: %v, want unauthorized (its lockout passed)", err)
	}
	if _, err := a.Login(ctx, "dan", "wrong password", "10.0.0.1"); !isRateLimited(err) {
		t.Errorf("the address after a success and a sixth failure: %v, want rate_limited", err)
	}

	// A name no account can have is refused without being counted, so
	// arbitrary strings never fill the throttle's table.
	long := strings.Repeat("x", 60<<10)
	for range 2 * freeFailures {
		if _, err := a.Login(ctx, long, "wrong password", "10.0.0.3"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Fatalf("an invalid name: %v, want unauthorized", err)
		}
	}
	if _, err := a.Login(ctx, "bob", pw, "10.0.0.3"); err != nil {
		t.Errorf("bob after invalid names from his address: %v", err)
	}
}

func TestAccountsSessionsEnd(t *testing.T) {
	ctx := context.Background()
	a, c := newAccounts(t)
	s, err := a.Register(ctx, "ann", pw)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(24*time.Hour - time.Second)
	if _, err := a.Principal(ctx, s.Token); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	c.Add(time.Second)
	if _, err := a.Principal(ctx, s.Token); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("at expiry: %v, want unauthorized", err)
	}

	// A new password ends every session; the old password stops working.
	s1, _ := a.Login(ctx, "ann", pw, "10.0.0.1")
	s2, _ := a.Login(ctx, "ann", pw, "10.0.0.2")
	if err := a.SetPassword(ctx, "Ann", "short"); parley.ErrorCode(err) != parley.EBADREQUEST {
		t.Errorf("a short new password: %v", err)
	}
	if _, err := a.Principal(ctx, s1.Token); err != nil {
		t.Fatalf("a refused SetPassword ended a session: %v", err)
	}
	const pw2 = "another good password"
	if err := a.SetPassword(ctx, "Ann", pw2); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{s1.Token, s2.Token} {
		if _, err := a.Principal(ctx, tok); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Errorf("a session after SetPassword: %v, want unauthorized", err)
		}
	}
	if _, err := a.Login(ctx, "ann", pw, "10.0.0.3"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("the old password: %v", err)
	}
	s3, err := a.Login(ctx, "ann", pw2, "10.0.0.3")
	if err != nil {
		t.Fatal(err)
	}

	// Disabling ends sessions and refuses logins.
	u, err := a.Disable(ctx, "ann")
	if err != nil || u.ID != s.User.ID {
		t.Fatalf("disable: %+v %v", u, err)
	}
	if _, err := a.Principal(ctx, s3.Token); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("a session after Disable: %v, want unauthorized", err)
	}
	if _, err := a.Login(ctx, "ann", pw2, "10.0.0.4"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("login after Disable: %v, want unauthorized", err)
	}

	if err := a.SetPassword(ctx, "ghost", pw2); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("SetPassword of an unknown name: %v, want not_found", err)
	}
	if _, err := a.Disable(ctx, "ghost"); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("Disable of an unknown name: %v, want not_found", err)
	}
}

// TestAccountsThrottleIPv6ByPrefix: addresses of one IPv6 /64 share a
// count, so a client can't take a fresh address for every guess.
func TestAccountsThrottleIPv6ByPrefix(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)
	if _, err := a.Create(ctx, "ann", pw, false); err != nil {
		t.Fatal(err)
	}
	for i := range freeFailures {
		name := fmt.Sprintf("nobody%d", i) // other names: only the address counts
		if _, err := a.Login(ctx, name, "wrong password", fmt.Sprintf("2001:db8:1:2::%x", i+1)); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	if _, err := a.Login(ctx, "ann", pw, "2001:db8:1:2:ffff::9"); parley.ErrorCode(err) != parley.ERATELIMITED {
		t.Errorf("another address of the same /64: %v, want rate_limited", err)
	}
	if _, err := a.Login(ctx, "ann", pw, "2001:db8:1:3::1"); err != nil {
		t.Errorf("an address of another /64: %v", err)
	}
	for _, whole := range []string{"::ffff:10.0.0.1", "fe80::1%eth0", "64:ff9b::a00:1", "10.0.0.1"} {
		if got := addressKey(whole); got != whole {
			t.Errorf("%s keyed as %q; want it whole", whole, got)
		}
	}
}
