package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// tokenBytes is the entropy of a token: 192 bits, well past guessing.
const tokenBytes = 24

// Token prefixes say what a token is at a glance (and to secret scanners);
// a JWT is told apart by its two dots.
const (
	guestPrefix   = "pg_"
	sessionPrefix = "ps_"
)

// newToken returns a fresh random token with prefix, URL-safe so it fits
// in ?token=.
func newToken(prefix string) string {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails (crypto/rand)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// NewToken returns a fresh guest token.
func NewToken() string { return newToken(guestPrefix) }

// HashToken is what the store keeps instead of the token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func isJWT(token string) bool { return strings.Count(token, ".") == 2 }
