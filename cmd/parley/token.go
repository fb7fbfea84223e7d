package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/auth"
)

// tokenCommand runs "parley token": it prints a JWT signed with the
// server's --jwt-secret, as the embedding application would mint one.
func tokenCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("parley token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "the user's `id` in your application (the sub claim; Parley shows it as ext:ID)")
	name := fs.String("name", "", "the user's display `name`")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	rooms := fs.String("rooms", "", "comma-separated `rooms` the token may use (default: any)")
	secret := fs.String("jwt-secret", "", "the HMAC `secret` the server verifies with (better PARLEY_JWT_SECRET)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: parley token --user ID --name NAME [--ttl 1h] [--rooms a,b]\n\nPrints an HS256 JWT for testing, signed with --jwt-secret / PARLEY_JWT_SECRET.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, getenv, false); err != nil {
		return usageError(err)
	}
	switch {
	case *user == "" || *name == "":
		return fmt.Errorf("%w: --user and --name are required", errUsage)
	case *secret == "":
		return fmt.Errorf("%w: --jwt-secret (or PARLEY_JWT_SECRET) is required", errUsage)
	case *ttl <= 0:
		return fmt.Errorf("%w: --ttl must be positive", errUsage)
	}
	var roomList []string
	if *rooms != "" {
		roomList = splitList(*rooms)
		if len(roomList) == 0 {
			// Without this, --rooms "," would mint a token for every room.
			return fmt.Errorf("%w: --rooms names no room", errUsage)
		}
		for _, r := range roomList {
			if err := parley.ValidateRoomName(r); err != nil {
				return fmt.Errorf("%w: --rooms: %s", errUsage, parley.ErrorMessage(err))
			}
		}
	}
	v, err := auth.NewJWTVerifier([]byte(*secret), nil, nil)
	if err != nil {
		return err
	}
	tok, err := v.Sign(*user, *name, roomList, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
