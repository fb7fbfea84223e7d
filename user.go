package parley

import (
	"fmt"
	"regexp"
)

// User is an identity as every frame names it. ID is stable for the life of
// the user and never reused; Name is unique among users, case-insensitively.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// MaxNameLen is the longest user name, in bytes (names are ASCII).
const MaxNameLen = 32

var userNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// ValidateUserName returns an EBADREQUEST error saying why name is not a
// valid user name, or nil.
func ValidateUserName(name string) error {
	if name == "" {
		return Errorf(EBADREQUEST, "The name is empty; use 1-%d letters, digits, '_', '-' or '.'.", MaxNameLen)
	}
	if len(name) > MaxNameLen {
		return Errorf(EBADREQUEST, "The name is %d characters long; use at most %d.", len(name), MaxNameLen)
	}
	if !userNameRE.MatchString(name) {
		return Errorf(EBADREQUEST, "The name %q has characters that are not allowed; use letters, digits, '_', '-' or '.'.", name)
	}
	return nil
}

// AlternativeName returns the n-th fallback for a name that is taken
// ("alice" → "alice-2"), trimmed so the result stays a valid name.
func AlternativeName(name string, n int) string {
	suffix := fmt.Sprintf("-%d", n)
	if len(name)+len(suffix) > MaxNameLen {
		name = name[:MaxNameLen-len(suffix)]
	}
	return name + suffix
}
