package sqlite

import (
	"context"
	"embed"
	"fmt"

	"github.com/parleychat/parley/internal/migrations"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

func loadMigrations() ([]migrations.Migration, error) {
	return migrations.Load(migrationsFS, "migrations")
}

// migrate applies the migrations not yet recorded in schema_migrations, in
// order, each in its own transaction so a failure leaves the schema at the
// last good version. It runs on the writer connection before the writer
// goroutine starts.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := s.wdb.ExecContext(ctx, `
		CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", classify(err))
	}
	var newest int
	if err := s.wdb.QueryRowContext(ctx,
		`SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("migrate: %w", classify(err))
	}
	// An older binary must not write to a schema it doesn't know.
	if known := ms[len(ms)-1].Version; newest > known {
		return fmt.Errorf("migrate: database schema version %d is newer than this program's %d", newest, known)
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m migrations.Migration) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback() // no-op after Commit
	// Checked inside the (immediate) transaction, so two processes opening
	// the same new file don't both apply it.
	var done bool
	if err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.Version).Scan(&done); err != nil {
		return classify(err)
	}
	if done {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return classify(err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, s.now().UnixMilli()); err != nil {
		return classify(err)
	}
	if err := tx.Commit(); err != nil {
		return classify(err)
	}
	s.log.Info("sqlite: applied migration", "version", m.Version, "name", m.Name)
	return nil
}
