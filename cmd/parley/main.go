// Command parley is the Parley chat server and its tools.
//
// Usage:
//
//	parley serve [flags]   run the server (parley serve --help lists the flags)
//	parley version         print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/parleychat/parley/bench"
)

const usage = `Parley is a self-hosted real-time chat server.

Usage:
  parley serve [flags]   run the server; every flag is also an environment
                         variable PARLEY_<NAME> (see parley serve --help)
  parley user ...        manage accounts (parley user help)
  parley token ...       print a JWT for testing (parley token --help)
  parley migrate         apply schema migrations (parley migrate --help)
  parley bench ...       load-test a server (parley bench --help)
  parley version         print the version
  parley help            print this help

Start with "parley serve" and open http://localhost:9502/.
`

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version or VCS revision is used.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "parley:", err)
		}
		stop()
		os.Exit(exitCode(err))
	}
}

// errUsage marks command-line mistakes, which exit with status 2.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage), errors.Is(err, bench.ErrUsage):
		return 2
	default:
		return 1
	}
}

// run runs the command args; stdin feeds the commands that read a password.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr, getenv)
	case "user":
		return userCommand(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "bench":
		return bench.Main(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrateCommand(ctx, args[1:], stdout, stderr, getenv)
	case "token":
		return tokenCommand(ctx, args[1:], stdout, stderr, getenv)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "parley", buildVersion())
		return nil
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}
