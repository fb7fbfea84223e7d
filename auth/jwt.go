package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley"
)

// maxExternalNameLen bounds a JWT's display name.
const maxExternalNameLen = 64

// JWTVerifier checks tokens minted by the application Parley is embedded
// in: HS256 with a shared secret, or RS256 / EdDSA with its public keys.
// It is safe for concurrent use.
type JWTVerifier struct {
	secret []byte
	keys   []crypto.PublicKey
	now    func() time.Time
}

// NewJWTVerifier returns a verifier for the secret (may be empty) and the
// public keys (may be none); at least one must be given.
func NewJWTVerifier(secret []byte, keys []crypto.PublicKey, now func() time.Time) (*JWTVerifier, error) {
	if len(secret) == 0 && len(keys) == 0 {
		return nil, errors.New("auth: a JWT verifier needs a secret or a public key")
	}
	if now == nil {
		now = time.Now
	}
	return &JWTVerifier{secret: secret, keys: keys, now: now}, nil
}

// LoadPublicKey reads an RSA or Ed25519 public key from a PEM file
// (PKIX "PUBLIC KEY" block).
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the JWT key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("the JWT key %s is not PEM", path)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the JWT key %s: %w", path, err)
	}
	switch key.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("the JWT key %s is a %T; use an RSA or Ed25519 public key", path, key)
}

// claims are the token fields Parley reads.
type claims struct {
	Name  string   `json:"name"`
	Rooms []string `json:"rooms"`
	jwt.RegisteredClaims
}

// Verify checks token and returns its principal. Every failure is
// EUNAUTHORIZED with a reason that never echoes the token.
func (v *JWTVerifier) Verify(token string) (parley.Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, v.key,
		jwt.WithValidMethods([]string{"HS256", "RS256", "EdDSA"}),
		jwt.WithExpirationRequired(),
		// No leeway: a connection is closed at the token's exp, so the
		// upgrade must refuse it from that moment too.
		jwt.WithTimeFunc(v.now),
	)
	if err != nil {
		reason := "its signature or format is wrong"
		if errors.Is(err, jwt.ErrTokenExpired) {
			reason = "it has expired"
		} else if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
			reason = "it has no exp claim"
		}
		return parley.Principal{}, parley.Errorf(parley.EUNAUTHORIZED, "The token is not valid: %s.", reason)
	}
	// The user's id is "ext:" and sub, and must be a valid user id.
	if c.Subject == "" || len(c.Subject) > 120 || parley.ValidateUserID(parley.ExternalIDPrefix+c.Subject) != nil {
		return parley.Principal{}, parley.Errorf(parley.EUNAUTHORIZED, "The token is not valid: sub must name the user (1-120 bytes of UTF-8, no control characters).")
	}
	if err := validateDisplayName(c.Name); err != nil {
		return parley.Principal{}, err
	}
	for _, r := range c.Rooms {
		if err := parley.ValidateRoomName(r); err != nil {
			return parley.Principal{}, parley.Errorf(parley.EUNAUTHORIZED, "The token is not valid: its rooms claim names %q, which is not a room name.", r)
		}
	}
	p := parley.Principal{
		User: parley.User{ID: parley.ExternalIDPrefix + c.Subject, Name: c.Name},
		Kind: parley.KindExternal,
		// JSON [] decodes to an empty, non-nil list: a present but empty
		// rooms claim allows no room at all.
		Rooms:   c.Rooms,
		Expires: c.ExpiresAt.Time,
	}
	return p, nil
}

func (v *JWTVerifier) key(t *jwt.Token) (any, error) {
	switch t.Method.Alg() {
	case "HS256":
		if len(v.secret) == 0 {
			return nil, errors.New("no HMAC secret configured")
		}
		return v.secret, nil
	case "RS256", "EdDSA":
		var keys []jwt.VerificationKey
		for _, k := range v.keys {
			switch k.(type) {
			case *rsa.PublicKey:
				if t.Method.Alg() == "RS256" {
					keys = append(keys, k)
				}
			case ed25519.PublicKey:
				if t.Method.Alg() == "EdDSA" {
					keys = append(keys, k)
				}
			}
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("no %s key configured", t.Method.Alg())
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	}
	return nil, fmt.Errorf("algorithm %s not accepted", t.Method.Alg())
}

// Sign mints an HS256 token, for `parley token` and tests.
func (v *JWTVerifier) Sign(userID, name string, rooms []string, ttl time.Duration) (string, error) {
	if len(v.secret) == 0 {
		return "", errors.New("signing needs --jwt-secret")
	}
	now := v.now()
	c := jwt.MapClaims{"sub": userID, "name": name, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	// An empty list must go into the token as [] (no room at all); left
	// out, as omitempty would, it would mean every room.
	if rooms != nil {
		c["rooms"] = rooms
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(v.secret)
}

func validateDisplayName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > maxExternalNameLen || !utf8.ValidString(name) {
		return parley.Errorf(parley.EUNAUTHORIZED, "The token is not valid: name must be 1-%d characters.", maxExternalNameLen)
	}
	// Visible characters and spaces only (IsGraphic: "山田\u3000太郎" is a
	// name): besides control characters this keeps out format characters
	// such as U+202E, which would make a name display as another.
	for _, r := range name {
		if !unicode.IsGraphic(r) {
			return parley.Errorf(parley.EUNAUTHORIZED, "The token is not valid: name has a control or format character (%U).", r)
		}
	}
	return nil
}
