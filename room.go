package parley

import "regexp"

// Lobby is the room that always exists; text-mode clients live in it.
const Lobby = "lobby"

// MaxRoomNameLen is the longest room name.
const MaxRoomNameLen = 64

var roomNameRE = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// ValidateRoomName returns an EBADREQUEST error saying why name is not a
// valid room name, or nil.
func ValidateRoomName(name string) error {
	if !roomNameRE.MatchString(name) {
		return Errorf(EBADREQUEST, "The room name %q is not valid; use 1-%d characters a-z, 0-9, '_' or '-'.", name, MaxRoomNameLen)
	}
	return nil
}
