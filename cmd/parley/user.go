package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/auth"
)

const userUsage = `Usage:
  parley user add NAME [--admin]   create an account (the first admin is made this way)
  parley user list                 list accounts
  parley user passwd NAME          set a new password; ends the account's sessions
  parley user disable NAME         disable an account; ends its sessions

The password is read from the terminal without echo, or from the first line
of standard input when that is not a terminal. Every subcommand takes the
server's store: --data DIR (default ./parley-data, or PARLEY_DATA), its
SQLite data directory, or --store postgres://... (or PARLEY_STORE) in
cluster mode. It works while the server runs.
`

// userCommand runs "parley user ...".
func userCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stderr, userUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: parley user needs a subcommand", errUsage)
		}
		return flag.ErrHelp
	}
	sub := args[0]
	fs := flag.NewFlagSet("parley user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, userUsage) }
	data := fs.String("data", "./parley-data", "data `directory` of the server")
	storeURL := fs.String("store", "", "PostgreSQL `URL` of the server's store in cluster mode; empty for SQLite in --data")
	admin := fs.Bool("admin", false, "make the account a site admin (user add)")
	need := map[string]int{"add": 1, "list": 0, "passwd": 1, "disable": 1}
	n, known := need[sub]
	if !known {
		fmt.Fprint(stderr, userUsage)
		return fmt.Errorf("%w: unknown subcommand %q", errUsage, sub)
	}
	pos, err := parseInterspersed(fs, args[1:], getenv)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != n {
		return fmt.Errorf("%w: parley user %s takes %d argument(s), got %d", errUsage, sub, n, len(pos))
	}
	if *storeURL == "" && sub != "add" {
		// Only add may create the database: a mistyped --data would
		// otherwise make an empty one and find no accounts in it.
		if _, err := os.Stat(dataPath(*data)); err != nil {
			return fmt.Errorf("%w: no database in --data %s (%v); point --data at the server's data directory", errUsage, *data, err)
		}
	}
	store, err := openStore(ctx, *storeURL, *data, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	accounts := &auth.Accounts{Store: store}
	var name string
	if n == 1 {
		name = pos[0]
	}

	switch sub {
	case "add":
		pw, err := readPassword(stdin, stderr, "Password for "+name+": ")
		if err != nil {
			return err
		}
		u, err := accounts.Create(ctx, name, pw, *admin)
		if err != nil {
			return fmt.Errorf("adding %s: %s", name, parley.ErrorMessage(err))
		}
		role := "account"
		if *admin {
			role = "admin account"
		}
		fmt.Fprintf(stdout, "created %s %s (id %s)\n", role, u.Name, u.ID)
	case "list":
		list, err := store.Accounts(ctx)
		if err != nil {
			return fmt.Errorf("listing accounts: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tADMIN\tDISABLED\tCREATED")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\n", a.Name, a.ID, a.Admin, a.Disabled, a.CreatedAt.UTC().Format("2006-01-02"))
		}
		return tw.Flush()
	case "passwd":
		pw, err := readPassword(stdin, stderr, "New password for "+name+": ")
		if err != nil {
			return err
		}
		if err := accounts.SetPassword(ctx, name, pw); err != nil {
			return fmt.Errorf("setting the password of %s: %s", name, parley.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "password of %s changed; its sessions are ended\n", name)
	case "disable":
		if _, err := accounts.Disable(ctx, name); err != nil {
			return fmt.Errorf("disabling %s: %s", name, parley.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "%s is disabled; its sessions are ended\n", name)
	}
	return nil
}

// parseInterspersed parses args allowing flags after positional arguments,
// as in "parley user add ann --admin" (the flag package alone stops at
// "ann"), then fills unset flags from the environment. It returns the
// positional arguments; those after "--" are never read as flags.
func parseInterspersed(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return pos, parseFlags(fs, nil, getenv, false)
}

// usageError marks a flag-parsing error as a usage mistake (exit status 2);
// the flag package returns them unmarked. --help stays flag.ErrHelp.
func usageError(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return err
	}
	return fmt.Errorf("%w: %v", errUsage, err)
}

// readPassword reads a password from the terminal without echo, or the
// first line of a non-terminal stdin.
func readPassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(pw), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%w: no password on stdin", errUsage)
	}
	return pw, nil
}
