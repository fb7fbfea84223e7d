package auth

import (
	"strings"
	"testing"

	"github.com/parleychat/parley"
)

func TestPasswordRoundTrip(t *testing.T) {
	for _, pw := range []string{"correct horse battery", "пароль-пароль", strings.Repeat("x", MaxPasswordLen)} {
		h := HashPassword(pw)
		if !VerifyPassword(h, pw) {
			t.Errorf("%.20q does not verify against its own hash", pw)
		}
		if VerifyPassword(h, pw+"x") || VerifyPassword(h, strings.ToUpper(pw)) || VerifyPassword(h, "") {
			t.Errorf("%.20q: a wrong password verified", pw)
		}
	}
}

func TestPasswordHashFormat(t *testing.T) {
	h1, h2 := HashPassword("same password"), HashPassword("same password")
	if h1 == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	parts := strings.Split(h1, "$")
	// "", argon2id, v=19, params, salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" ||
		parts[3] != "m=19456,t=2,p=1" || len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Errorf("hash %q is not $argon2id$v=19$m=19456,t=2,p=1$<16-byte salt>$<32-byte key>", h1)
	}
	if strings.Contains(h1, "same password") {
		t.Error("the hash contains the password")
	}
}

func TestPasswordTamperedNeverMatches(t *testing.T) {
	const pw = "correct horse battery"
	h := HashPassword(pw)
	parts := strings.Split(h, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	lastChars := func(s string) []string {
		// Every other spelling of the last character: with non-strict
		// base64 three of them decode to the same bytes.
		var out []string
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		for _, c := range alphabet {
			if byte(c) != s[len(s)-1] {
				out = append(out, s[:len(s)-1]+string(c))
			}
		}
		return out
	}
	bad := map[string]string{
		"empty":            "",
		"not PHC":          "hunter2",
		"argon2i":          with(1, "argon2i"),
		"bcrypt":           "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"version 16":       with(2, "v=16"),
		"version junk":     with(2, "v=19x"),
		"params junk":      with(3, "m=19456,t=2,p=1junk"),
		"params plus":      with(3, "m=+19456,t=2,p=1"),
		"params changed":   with(3, "m=19456,t=3,p=1"),
		"memory zero":      with(3, "m=0,t=2,p=1"),
		"memory too big":   with(3, "m=4194304,t=2,p=1"),
		"time too big":     with(3, "m=19456,t=100,p=1"),
		"threads zero":     with(3, "m=19456,t=2,p=0"),
		"salt changed":     with(4, flip(parts[4], 0)),
		"salt empty":       with(4, ""),
		"salt not base64":  with(4, "!!!!"),
		"key changed":      with(5, flip(parts[5], 3)),
		"key truncated":    with(5, parts[5][:20]),
		"key empty":        with(5, ""),
		"key padded":       with(5, parts[5]+"="),
		"missing part":     strings.Join(parts[:5], "$"),
		"extra part":       h + "$x",
		"trailing newline": h + "\n",
	}
	for i, s := range lastChars(parts[5]) {
		bad["key last char "+string(rune('a'+i%26))+string(rune('0'+i/26))] = with(5, s)
	}
	for i, s := range lastChars(parts[4]) {
		bad["salt last char "+string(rune('a'+i%26))+string(rune('0'+i/26))] = with(4, s)
	}
	for name, tampered := range bad {
		if VerifyPassword(tampered, pw) {
			t.Errorf("%s: %q matched the password", name, tampered)
		}
	}
	if VerifyPassword(h, strings.Repeat("x", MaxPasswordLen+1)) {
		t.Error("a password over MaxPasswordLen matched")
	}
	if !VerifyPassword(h, pw) {
		t.Fatal("the untampered hash no longer verifies")
	}
}

func TestValidatePassword(t *testing.T) {
	for pw, want := range map[string]string{
		"":                                      parley.EBADREQUEST,
		"1234567":                               parley.EBADREQUEST,
		"12345678":                              "",
		"ééééééé":                               parley.EBADREQUEST, // 7 characters, 14 bytes
		"éééééééé":                              "",
		strings.Repeat("a", MaxPasswordLen):     "",
		strings.Repeat("a", MaxPasswordLen+1):   parley.EBADREQUEST,
		strings.Repeat("é", MaxPasswordLen/2+1): parley.EBADREQUEST, // the upper bound is in bytes
		strings.Repeat("é", MaxPasswordLen/2):   "",
		"        ":                              "",
	} {
		err := ValidatePassword(pw)
		if got := parley.ErrorCode(err); got != want {
			t.Errorf("ValidatePassword(%.20q, %d bytes) = %v, want code %q", pw, len(pw), err, want)
		}
		if err != nil && parley.ErrorMessage(err) == "" {
			t.Errorf("%.20q: no message", pw)
		}
	}
}
