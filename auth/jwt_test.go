package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley"
)

var jwtSecret = []byte("0123456789abcdef0123456789abcdef")

// t0 is the tests' "now": fixed for the run, near the real time because the
// store expires sessions by its own clock.
var t0 = time.Now().UTC().Truncate(time.Second)

func fixedNow() time.Time { return t0 }

// mint signs claims with method and key; claims is a map so tests can
// leave out or mangle any field.
func mint(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// good returns valid claims for user 42, expiring an hour after t0.
func good() jwt.MapClaims {
	return jwt.MapClaims{"sub": "42", "name": "Ann", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()}
}

func newVerifier(tb testing.TB, secret []byte, keys ...crypto.PublicKey) *JWTVerifier {
	tb.Helper()
	v, err := NewJWTVerifier(secret, keys, fixedNow)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// writePublicKey writes pub as a PKIX PEM file and returns its path.
func writePublicKey(tb testing.TB, pub any) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func loadKey(tb testing.TB, pub any) crypto.PublicKey {
	tb.Helper()
	k, err := LoadPublicKey(writePublicKey(tb, pub))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// refused checks that token is refused with EUNAUTHORIZED and a message
// that does not echo it, and returns the message.
func refused(tb testing.TB, v *JWTVerifier, token, what string) string {
	tb.Helper()
	p, err := v.Verify(token)
	if err == nil {
		tb.Errorf("%s: accepted as %+v", what, p)
		return ""
	}
	if parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		tb.Errorf("%s: %v, want unauthorized", what, err)
	}
	msg := parley.ErrorMessage(err)
	if strings.Contains(msg, token) || (len(token) > 20 && strings.Contains(msg, token[len(token)-20:])) {
		tb.Errorf("%s: the message %q echoes the token", what, msg)
	}
	return msg
}

func TestJWTHS256(t *testing.T) {
	v := newVerifier(t, jwtSecret)
	p, err := v.Verify(mint(t, jwt.SigningMethodHS256, jwtSecret, good()))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "ext:42" || p.Name != "Ann" || p.Kind != parley.KindExternal || p.Admin || p.Rooms != nil {
		t.Errorf("principal %+v, want ext:42 Ann, external, not admin, no room limit", p)
	}
	if !p.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("expires %v, want %v", p.Expires, t0.Add(time.Hour))
	}

	refused(t, v, mint(t, jwt.SigningMethodHS256, []byte("another secret, just as long as it"), good()), "wrong secret")
	refused(t, v, mint(t, jwt.SigningMethodHS384, jwtSecret, good()), "HS384")
	refused(t, v, mint(t, jwt.SigningMethodHS512, jwtSecret, good()), "HS512")
	none := mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good())
	refused(t, v, none, "alg none")
	// alg none with the signature of a real token left in place.
	real := mint(t, jwt.SigningMethodHS256, jwtSecret, good())
	refused(t, v, none[:strings.LastIndex(none, ".")]+real[strings.LastIndex(real, "."):], "alg none with a signature")
	refused(t, v, "a.b.c", "garbage")
	// Change a character inside the signature: the last one carries padding
	// bits, and replacing it can leave the decoded signature as it was.
	i := len(real) - 5
	bad := "A"
	if real[i] == 'A' {
		bad = "B"
	}
	refused(t, v, real[:i]+bad+real[i+1:], "bad signature")
	// A changed payload under the original signature.
	parts := strings.Split(real, ".")
	forged := strings.Split(mint(t, jwt.SigningMethodHS256, []byte("x"), jwt.MapClaims{"sub": "1", "name": "Root", "exp": t0.Add(time.Hour).Unix()}), ".")
	refused(t, v, parts[0]+"."+forged[1]+"."+parts[2], "payload swapped")
}

func TestJWTSignRoundTrip(t *testing.T) {
	v := newVerifier(t, jwtSecret)
	for _, rooms := range [][]string{nil, {}, {"dev", "ops"}} {
		tok, err := v.Sign("42", "Ann", rooms, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(tok)
		if err != nil {
			t.Fatalf("rooms %#v: %v", rooms, err)
		}
		if (rooms == nil) != (p.Rooms == nil) || len(rooms) != len(p.Rooms) {
			t.Errorf("Sign with rooms %#v verified as %#v: a room list must survive signing, an empty one too", rooms, p.Rooms)
		}
		if p.ID != "ext:42" || p.Name != "Ann" || !p.Expires.Equal(t0.Add(time.Hour)) {
			t.Errorf("signed token verified as %+v", p)
		}
	}
	if _, err := newVerifier(t, nil, loadKey(t, ed25519Pub(t))).Sign("1", "x", nil, time.Hour); err == nil {
		t.Error("Sign without a secret succeeded")
	}
	if _, err := NewJWTVerifier(nil, nil, nil); err == nil {
		t.Error("a verifier without secret or keys was made")
	}
}

func ed25519Pub(tb testing.TB) ed25519.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return pub
}

func TestJWTPublicKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)

	rsaTok := mint(t, jwt.SigningMethodRS256, rsaKey, good())
	edTok := mint(t, jwt.SigningMethodEdDSA, edKey, good())

	onlyRSA := newVerifier(t, nil, loadKey(t, &rsaKey.PublicKey))
	onlyEd := newVerifier(t, nil, loadKey(t, edPub))
	both := newVerifier(t, nil, loadKey(t, &rsaKey.PublicKey), loadKey(t, edPub))

	for name, tc := range map[string]struct {
		v   *JWTVerifier
		tok string
	}{
		"RS256 with its key":   {onlyRSA, rsaTok},
		"EdDSA with its key":   {onlyEd, edTok},
		"RS256 with both keys": {both, rsaTok},
		"EdDSA with both keys": {both, edTok},
	} {
		p, err := tc.v.Verify(tc.tok)
		if err != nil || p.ID != "ext:42" || p.Name != "Ann" {
			t.Errorf("%s: %+v, %v", name, p, err)
		}
	}

	refused(t, onlyRSA, edTok, "EdDSA token, only an RSA key")
	refused(t, onlyEd, rsaTok, "RS256 token, only an Ed25519 key")
	refused(t, both, mint(t, jwt.SigningMethodRS256, otherRSA, good()), "RS256 by another key")
	refused(t, both, mint(t, jwt.SigningMethodEdDSA, otherEd, good()), "EdDSA by another key")
	refused(t, both, mint(t, jwt.SigningMethodPS256, rsaKey, good()), "PS256 by the right key")

	// Algorithm confusion: an HS256 token whose HMAC key is the public key
	// (as PEM, as DER, as the verifier might hold it) must not pass when
	// only public keys are configured.
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	for name, key := range map[string][]byte{
		"RSA PEM": pemBytes,
		"RSA DER": der,
		"RSA N":   rsaKey.PublicKey.N.Bytes(),
		"Ed25519": []byte(edPub),
		"Ed DER":  edDER,
		"empty":   {},
	} {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, good()).SignedString(key)
		if err != nil {
			// The library refuses an empty HMAC key; build that one by hand.
			continue
		}
		refused(t, both, tok, "HS256 keyed with the "+name+" public key")
	}
	if _, err := both.Sign("1", "x", nil, time.Hour); err == nil {
		t.Error("a verifier with only public keys signed an HS256 token")
	}

	// A secret and keys together: each algorithm uses its own.
	mixed := newVerifier(t, jwtSecret, loadKey(t, &rsaKey.PublicKey))
	if _, err := mixed.Verify(mint(t, jwt.SigningMethodHS256, jwtSecret, good())); err != nil {
		t.Errorf("HS256 with a secret and a key: %v", err)
	}
	if _, err := mixed.Verify(rsaTok); err != nil {
		t.Errorf("RS256 with a secret and a key: %v", err)
	}
	refused(t, mixed, mint(t, jwt.SigningMethodHS256, pemBytes, good()), "HS256 keyed with the PEM, a secret configured")
}

func TestLoadPublicKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	for name, path := range map[string]string{
		"missing":     filepath.Join(dir, "nope.pem"),
		"not PEM":     write("junk", []byte("hello")),
		"bad DER":     write("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})),
		"ECDSA":       write("ec.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})),
		"private key": write("priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})),
	} {
		if k, err := LoadPublicKey(path); err == nil {
			t.Errorf("%s: loaded %T", name, k)
		}
	}
	k, err := LoadPublicKey(writePublicKey(t, edPub))
	if err != nil {
		t.Fatal(err)
	}
	if !edPub.Equal(k) {
		t.Error("the loaded Ed25519 key differs")
	}
}

func TestJWTClaims(t *testing.T) {
	v := newVerifier(t, jwtSecret)
	sign := func(edit func(jwt.MapClaims)) string {
		c := good()
		edit(c)
		return mint(t, jwt.SigningMethodHS256, jwtSecret, c)
	}

	if msg := refused(t, v, sign(func(c jwt.MapClaims) { delete(c, "exp") }), "no exp"); !strings.Contains(msg, "exp") {
		t.Errorf("no exp: message %q does not name exp", msg)
	}
	expired := sign(func(c jwt.MapClaims) { c["exp"] = t0.Add(-time.Minute).Unix() })
	if msg := refused(t, v, expired, "expired"); !strings.Contains(msg, "expired") {
		t.Errorf("expired: message %q does not say so", msg)
	}
	// The same token is good before its exp, by the verifier's clock.
	early := newVerifier(t, jwtSecret)
	early.now = func() time.Time { return t0.Add(-2 * time.Minute) }
	if _, err := early.Verify(expired); err != nil {
		t.Errorf("before exp: %v", err)
	}
	// No leeway: a token is good until its exp and refused from then on,
	// the moment a connection using it is closed.
	late := newVerifier(t, jwtSecret)
	tok := mint(t, jwt.SigningMethodHS256, jwtSecret, good())
	late.now = func() time.Time { return t0.Add(time.Hour - time.Second) }
	if _, err := late.Verify(tok); err != nil {
		t.Errorf("a second before exp: %v", err)
	}
	late.now = func() time.Time { return t0.Add(time.Hour) }
	refused(t, late, tok, "at exp")
	late.now = func() time.Time { return t0.Add(time.Hour + time.Second) }
	refused(t, late, tok, "a second past exp")
	refused(t, v, sign(func(c jwt.MapClaims) { c["nbf"] = t0.Add(time.Hour).Unix() }), "not valid yet")
	refused(t, v, sign(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), "exp not a number")

	for name, sub := range map[string]any{"absent": nil, "empty": "", "too long": strings.Repeat("1", 121), "NUL": "u\x00", "newline": "u\n1"} {
		tok := sign(func(c jwt.MapClaims) {
			if sub == nil {
				delete(c, "sub")
			} else {
				c["sub"] = sub
			}
		})
		refused(t, v, tok, "sub "+name)
	}
	if p, err := v.Verify(sign(func(c jwt.MapClaims) { c["sub"] = strings.Repeat("1", 120) })); err != nil || p.ID != "ext:"+strings.Repeat("1", 120) {
		t.Errorf("120-byte sub: %+v %v", p, err)
	}
	// An id from the token can't pose as a local user: it is always ext:.
	if p, err := v.Verify(sign(func(c jwt.MapClaims) { c["sub"] = "u_7f3a" })); err != nil || p.ID != "ext:u_7f3a" {
		t.Errorf("sub u_7f3a: %+v %v", p, err)
	}

	for name, n := range map[string]any{
		"absent":        nil,
		"empty":         "",
		"65 chars":      strings.Repeat("é", 65),
		"newline":       "Ann\nAdmin",
		"NUL":           "Ann\x00",
		"DEL":           "Ann\x7f",
		"C1 control":    "Ann\u0085",
		"bidi override": "Ann\u202eelA",
		"zero width":    "An\u200bn",
		"not string":    42,
	} {
		tok := sign(func(c jwt.MapClaims) {
			if n == nil {
				delete(c, "name")
			} else {
				c["name"] = n
			}
		})
		refused(t, v, tok, "name "+name)
	}
	for _, n := range []string{strings.Repeat("é", 64), "Ann Lee", "<b>Ann</b>", "安", "山田\u3000太郎", "Jean\u00a0Dupont"} {
		if p, err := v.Verify(sign(func(c jwt.MapClaims) { c["name"] = n })); err != nil || p.Name != n {
			t.Errorf("name %q: %+v %v", n, p, err)
		}
	}
}

func TestJWTRoomsClaim(t *testing.T) {
	v := newVerifier(t, jwtSecret)
	verify := func(rooms any) (parley.Principal, error) {
		c := good()
		if rooms != nil {
			c["rooms"] = rooms
		}
		return v.Verify(mint(t, jwt.SigningMethodHS256, jwtSecret, c))
	}
	p, err := verify(nil)
	if err != nil || p.Rooms != nil || !p.MayUseRoom("anything") {
		t.Errorf("no rooms claim: %#v %v, want nil (no limit)", p.Rooms, err)
	}
	p, err = verify([]string{})
	if err != nil || p.Rooms == nil || len(p.Rooms) != 0 || p.MayUseRoom("lobby") {
		t.Errorf("rooms []: %#v %v, want empty and non-nil (no room at all)", p.Rooms, err)
	}
	p, err = verify([]string{"dev", "ops"})
	if err != nil || !p.MayUseRoom("dev") || !p.MayUseRoom("ops") || p.MayUseRoom("lobby") || p.MayUseRoom("Dev") {
		t.Errorf("rooms [dev ops]: %#v %v", p.Rooms, err)
	}
	for _, bad := range []any{[]string{"Dev"}, []string{"a b"}, []string{""}, "dev", []any{1}, map[string]any{"dev": true}} {
		if _, err := verify(bad); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Errorf("rooms %#v: %v, want unauthorized", bad, err)
		}
	}
}
