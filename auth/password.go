package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/parleychat/parley"
)

// Password rules.
const (
	MinPasswordLen = 8
	// MaxPasswordLen bounds the work one login can cause.
	MaxPasswordLen = 1024
)

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, one
// lane), which keeps a login near 30 ms on a small machine.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// ValidatePassword says why a new password is not acceptable, or nil.
func ValidatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return parley.Errorf(parley.EBADREQUEST, "The password is too short; use at least %d characters.", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return parley.Errorf(parley.EBADREQUEST, "The password is too long; use at most %d bytes.", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns pw's argon2id hash with a fresh random salt, in the
// PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
func HashPassword(pw string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether pw matches hash, in time independent of
// where they differ. A malformed hash never matches.
func VerifyPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || len(pw) > MaxPasswordLen {
		return false
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	// Sscanf ignores what follows the last verb, so the parameters must
	// also read back exactly: "p=1junk" or "m=+19456" is not a hash.
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", memory, time, threads) ||
		memory == 0 || memory > 1<<20 || time == 0 || time > 16 || threads == 0 {
		return false
	}
	// The decoder skips newlines and ignores the unused low bits of the
	// last character, so salt and key must also encode back exactly: each
	// hash has one spelling.
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || b64.EncodeToString(salt) != parts[4] || b64.EncodeToString(want) != parts[5] ||
		len(salt) < 8 || len(want) < 16 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is verified against when a login names no account, so an
// unknown name takes as long as a wrong password. It is made on first use:
// a hash takes argon2's 19 MiB, which every process (parley bench, parley
// token) would otherwise carry from its start.
var dummyHash = sync.OnceValue(func() string { return HashPassword("parley-dummy-password") })
