package postgres

import (
	"context"
	"embed"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/internal/migrations"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// migrationLock is the pg_advisory_lock key that serializes migrations, so
// nodes starting together apply each migration once. Advisory locks are
// per database, so databases on one server don't wait for each other.
const migrationLock = 0x7061726c6579 // "parley"

func loadMigrations() ([]migrations.Migration, error) {
	return migrations.Load(migrationsFS, "migrations")
}

// Migrate applies the migrations that the database at dsn lacks, as Open
// does, and returns. It is safe to run from several processes at once.
func Migrate(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migrate(ctx, cfg, discard); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// migrate applies the migrations not yet recorded in schema_migrations, in
// order, each in its own transaction so a failure leaves the schema at the
// last good version. It uses a connection of its own because the advisory
// lock belongs to a session; closing the connection releases the lock even
// when the unlock can't be sent.
func migrate(ctx context.Context, cfg *pgx.ConnConfig, log *slog.Logger) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return classify(err)
	}
	defer conn.Close(context.Background())

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return classify(err)
	}
	defer func() {
		// Bounded: this runs on the way out, maybe after ctx is done.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	}()

	// Under the lock: two nodes can't both create the table.
	if _, err := conn.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
		return classify(err)
	}
	rows, _ := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return classify(err)
	}
	// An older binary must not write to a schema it doesn't know.
	if newest, known := slices.Max(append(applied, 0)), ms[len(ms)-1].Version; newest > known {
		return fmt.Errorf("database schema version %d is newer than this program's %d", newest, known)
	}
	for _, m := range ms {
		if slices.Contains(applied, m.Version) {
			continue
		}
		if err := applyMigration(ctx, conn, m); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		log.Info("postgres: applied migration", "version", m.Version, "name", m.Name)
	}
	return nil
}

func applyMigration(ctx context.Context, conn *pgx.Conn, m migrations.Migration) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// No arguments: the simple protocol, which runs a file of several
		// statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
		return err
	})
	return classify(err)
}
