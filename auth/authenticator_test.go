package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley"
)

// request builds a /ws request carrying the given credentials; empty ones
// are left out.
func request(header, query, cookie string) *http.Request {
	u := "/ws"
	if query != "" {
		u += "?token=" + url.QueryEscape(query)
	}
	r := httptest.NewRequest("GET", u, nil)
	if header != "" {
		r.Header.Set("Authorization", "Bearer "+header)
	}
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	}
	return r
}

func newAuthenticator(tb testing.TB) (*Authenticator, *Accounts) {
	tb.Helper()
	accounts, _ := newAccounts(tb)
	store := openStoreOf(accounts)
	jwtv := newVerifier(tb, jwtSecret)
	jwtv.now = time.Now
	return &Authenticator{Guests: Guests{Users: store}, Accounts: accounts, JWT: jwtv, AllowGuests: true}, accounts
}

func openStoreOf(a *Accounts) parley.UserStore { return a.Store.(parley.UserStore) }

func TestAuthenticatorPrecedence(t *testing.T) {
	ctx := context.Background()
	a, accounts := newAuthenticator(t)
	a.Accounts.Now = time.Now
	ann, err := accounts.Register(ctx, "ann", pw)
	if err != nil {
		t.Fatal(err)
	}
	bob, bobToken, err := a.Guests.Create(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	carol, err := accounts.Register(ctx, "carol", pw)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name                  string
		header, query, cookie string
		want                  string
	}{
		{"header wins over query and cookie", ann.Token, bobToken, carol.Token, "ann"},
		{"query wins over cookie", "", bobToken, carol.Token, "bob"},
		{"cookie alone", "", "", carol.Token, "carol"},
		{"header alone", ann.Token, "", "", "ann"},
		{"query alone", "", bobToken, "", "bob"},
	} {
		id, err := a.Authenticate(ctx, request(tc.header, tc.query, tc.cookie))
		if err != nil || id.Principal.Name != tc.want || id.Token != "" {
			t.Errorf("%s: %+v %v, want %s and no new token", tc.name, id, err, tc.want)
		}
	}
	if id, _ := a.Authenticate(ctx, request("", bobToken, "")); id.Principal.ID != bob.ID || id.Principal.Kind != parley.KindGuest {
		t.Errorf("guest token: %+v, want bob as a guest", id.Principal)
	}

	// A bad credential fails; the server does not fall back to the next one.
	if _, err := a.Authenticate(ctx, request("ps_bogus", bobToken, carol.Token)); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("bad header token with good others: %v, want unauthorized", err)
	}
	// Only Bearer counts in the header.
	r := request("", bobToken, "")
	r.Header.Set("Authorization", "Basic "+ann.Token)
	if id, err := a.Authenticate(ctx, r); err != nil || id.Principal.Name != "bob" {
		t.Errorf("Basic header: %+v %v, want it ignored", id.Principal, err)
	}
}

func TestAuthenticatorGuests(t *testing.T) {
	ctx := context.Background()
	a, _ := newAuthenticator(t)

	r := httptest.NewRequest("GET", "/ws?name=dora", nil)
	id, err := a.Authenticate(ctx, r)
	if err != nil || id.Principal.Name != "dora" || id.Principal.Kind != parley.KindGuest || !strings.HasPrefix(id.Token, guestPrefix) {
		t.Fatalf("new guest: %+v %v", id, err)
	}
	if _, err := a.Authenticate(ctx, httptest.NewRequest("GET", "/ws?name=a+b", nil)); parley.ErrorCode(err) != parley.EBADREQUEST {
		t.Errorf("bad guest name: %v, want bad_request", err)
	}
	if _, err := a.Authenticate(ctx, request("", "pg_unknown", "")); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("unknown guest token: %v, want unauthorized", err)
	}

	// With guests off, neither a new guest nor an old guest token gets in.
	a.AllowGuests = false
	if _, err := a.Authenticate(ctx, httptest.NewRequest("GET", "/ws?name=eve", nil)); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("new guest, guests off: %v, want unauthorized", err)
	}
	if _, err := a.Authenticate(ctx, request("", id.Token, "")); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("guest token, guests off: %v, want unauthorized", err)
	}
	if _, err := a.Verify(ctx, id.Token); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("Verify of a guest token, guests off: %v, want unauthorized", err)
	}
	a.AllowGuests = true
	if p, err := a.Verify(ctx, id.Token); err != nil || p.Name != "dora" {
		t.Errorf("guest token, guests on again: %+v %v", p, err)
	}
}

func TestAuthenticatorJWT(t *testing.T) {
	ctx := context.Background()
	a, _ := newAuthenticator(t)
	c := jwt.MapClaims{"sub": "42", "name": "Ann", "exp": time.Now().Add(time.Hour).Unix()}
	tok := mint(t, jwt.SigningMethodHS256, jwtSecret, c)

	for _, r := range []*http.Request{request(tok, "", ""), request("", tok, ""), request("", "", tok)} {
		id, err := a.Authenticate(ctx, r)
		if err != nil || id.Principal.ID != "ext:42" || id.Principal.Kind != parley.KindExternal || id.Token != "" {
			t.Errorf("JWT: %+v %v", id, err)
		}
	}
	a.JWT = nil
	if _, err := a.Authenticate(ctx, request(tok, "", "")); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Errorf("JWT without a verifier: %v, want unauthorized", err)
	}
	// Not even with guests allowed does a JWT fall through to a guest.
	a.AllowGuests = true
	if id, err := a.Authenticate(ctx, request("", tok, "")); err == nil {
		t.Errorf("JWT without a verifier got in as %+v", id.Principal)
	}
}

func TestRemoteIP(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8::1]:5555"
	r.Header.Set("X-Forwarded-For", "10.0.0.1")
	if got := RemoteIP(r, nil); got != "2001:db8::1" {
		t.Errorf("RemoteIP = %q; without trusted proxies it must come from the connection, not a header", got)
	}
	r.RemoteAddr = "weird"
	if got := RemoteIP(r, nil); got != "weird" {
		t.Errorf("RemoteIP without a port = %q", got)
	}

	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	r.RemoteAddr = "127.0.0.1:4000"
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7")
	if got := RemoteIP(r, proxies); got != "203.0.113.7" {
		t.Errorf("behind a trusted proxy: %q, want the hop the proxy appended (203.0.113.7)", got)
	}
	r.RemoteAddr = "198.51.100.1:4000"
	if got := RemoteIP(r, proxies); got != "198.51.100.1" {
		t.Errorf("from an untrusted peer: %q, want the peer; its header is forgeable", got)
	}
	r.RemoteAddr = "127.0.0.1:4000"
	r.Header.Set("X-Forwarded-For", "garbage")
	if got := RemoteIP(r, proxies); got != "127.0.0.1" {
		t.Errorf("unparsable header: %q, want the peer", got)
	}
}
