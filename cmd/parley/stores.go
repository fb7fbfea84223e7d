package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/postgres"
	"github.com/parleychat/parley/redisbroker"
	"github.com/parleychat/parley/sqlite"
)

// isPostgresURL tells a PostgreSQL --store from the embedded default.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// openStore opens --store (PostgreSQL) or, without it, the SQLite
// database in --data. Both apply their migrations.
func openStore(ctx context.Context, storeURL, dataDir string, log *slog.Logger) (parley.Store, error) {
	switch {
	case isPostgresURL(storeURL):
		s, err := postgres.Open(ctx, storeURL, postgres.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("opening the PostgreSQL store: %w", err)
		}
		return s, nil
	case storeURL != "":
		return nil, fmt.Errorf("%w: --store must be a postgres:// URL (or empty for SQLite in --data), not %q", errUsage, redact(storeURL))
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	s, err := sqlite.Open(dataPath(dataDir), sqlite.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening the database %s: %w", dataPath(dataDir), err)
	}
	return s, nil
}

// openBroker opens --broker, or returns nil for a single node.
func openBroker(url string, log *slog.Logger) (parley.Broker, error) {
	if url == "" {
		return nil, nil
	}
	if !strings.HasPrefix(url, "redis://") && !strings.HasPrefix(url, "rediss://") {
		return nil, fmt.Errorf("%w: --broker must be a redis:// URL, not %q", errUsage, redact(url))
	}
	return redisbroker.Open(url, log)
}

// redact hides what may be secret in a --store or --broker value, for
// messages and logs: a URL's password and password parameters, and the
// whole value when it is not a URL, since a key=value connection string can
// hold one. A URL that net/url can't read for sure (a raw '/' in the
// password, say) has everything up to its last '@' hidden instead: more
// than needed, never less.
func redact(s string) string {
	if s == "" {
		return ""
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "(not a URL, not shown)"
	}
	if u, err := url.Parse(s); err == nil && (u.User != nil || !strings.Contains(u.Host, "@") && !strings.Contains(u.Path, "@")) {
		u.RawQuery = passwordParam.ReplaceAllString(u.RawQuery, "${1}xxxxx")
		return u.Redacted()
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, _, _ := strings.Cut(rest[:at], ":")
		rest = user + ":xxxxx@" + rest[at+1:]
	}
	return scheme + "://" + passwordParam.ReplaceAllString(rest, "${1}xxxxx")
}

// passwordParam matches the value of a URL parameter named *password.
var passwordParam = regexp.MustCompile(`(?i)((?:^|[?&])[a-z_]*password=)[^&#]*`)

// migrateCommand runs "parley migrate": it applies the schema migrations
// that serve would apply at start.
func migrateCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("parley migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "", "PostgreSQL `URL` (postgres://...); empty for SQLite in --data")
	data := fs.String("data", "./parley-data", "data `directory` for SQLite")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: parley migrate [--store postgres://...] [--data DIR]\n\nApplies Parley's schema migrations; serve applies them too.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, getenv, false); err != nil {
		return err
	}
	if isPostgresURL(*store) {
		if err := postgres.Migrate(ctx, *store); err != nil {
			return fmt.Errorf("migrating %s: %w", redact(*store), err)
		}
		fmt.Fprintln(stdout, "PostgreSQL schema is up to date")
		return nil
	}
	s, err := openStore(ctx, *store, *data, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "SQLite schema in", dataPath(*data), "is up to date")
	return s.Close()
}
