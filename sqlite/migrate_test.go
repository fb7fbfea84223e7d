package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley"
)

// TestMigrate0002KeepsData opens a database left at version 1 with data in
// it, as a release before 0002 would have, and checks that the upgrade
// keeps every row and applies the new rules to them.
func TestMigrate0002KeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, time.Second, "_pragma=journal_mode(WAL)"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		ms[0].SQL,
		`INSERT INTO schema_migrations VALUES (1, '` + ms[0].Name + `', 0)`,
		`INSERT INTO users (id, name, kind, token_hash, created_at) VALUES ('u1', 'Alice', 'guest', x'01', 1000)`,
		`INSERT INTO users (id, name, kind, token_hash, created_at) VALUES ('u2', 'bob', 'guest', x'02', 2000)`,
		`INSERT INTO rooms (name, head, created_at) VALUES ('r', 2, 3000)`,
		`INSERT INTO messages VALUES ('r', 1, 'u1', 'Alice', 'one', 3000, 'n1')`,
		`INSERT INTO messages VALUES ('r', 2, 'u2', 'bob', 'two', 4000, '')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	defer s.Close()
	var version int
	if err := s.rdb.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil || version != len(ms) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(ms))
	}
	if u, err := s.UserByTokenHash(ctx, []byte{1}); err != nil || u != (parley.User{ID: "u1", Name: "Alice"}) {
		t.Errorf("guest after migration = %+v, %v", u, err)
	}
	if u, kind, err := s.User(ctx, "u2"); err != nil || u.Name != "bob" || kind != parley.KindGuest {
		t.Errorf("User(u2) after migration = %+v, %q, %v; want the guest bob", u, kind, err)
	}
	// The old guests still hold their names, case-insensitively.
	if _, err := s.CreateAccount(ctx, "ALICE", "h", false); parley.ErrorCode(err) != parley.ECONFLICT {
		t.Errorf("CreateAccount(ALICE) after migration: %v, want %s", err, parley.ECONFLICT)
	}
	if _, err := s.CreateGuest(ctx, "Bob", []byte{3}); parley.ErrorCode(err) != parley.ECONFLICT {
		t.Errorf("CreateGuest(Bob) after migration: %v, want %s", err, parley.ECONFLICT)
	}
	r, err := s.Room(ctx, "r")
	if err != nil || r.Kind != parley.RoomPublic || r.Topic != "" || r.CreatedAt.UnixMilli() != 3000 {
		t.Errorf("Room(r) after migration = %+v, %v; want public, created at 3000 ms", r, err)
	}
	msgs, err := s.Messages(ctx, "r", 0, 10, 10)
	if err != nil || len(msgs) != 2 || msgs[0].Text != "one" || msgs[1].Text != "two" ||
		msgs[0].Deleted || !msgs[0].EditedAt.IsZero() {
		t.Errorf("Messages after migration = %+v, %v", msgs, err)
	}
	if m, dup, err := s.Append(ctx, parley.Message{Room: "r", From: parley.User{ID: "u1", Name: "Alice"}, Text: "x", Nonce: "n1"}); err != nil || !dup || m.Seq != 1 {
		t.Errorf("nonce retry after migration: %+v, dup %v, %v; want seq 1, dup", m, dup, err)
	}
	if m, _, err := s.Append(ctx, parley.Message{Room: "r", Text: "three"}); err != nil || m.Seq != 3 {
		t.Errorf("Append after migration: %+v, %v; want seq 3", m, err)
	}
	if err := s.rdb.QueryRow(`PRAGMA foreign_key_check`).Scan(); err != sql.ErrNoRows {
		t.Errorf("foreign_key_check after migration: %v, want no violations", err)
	}
	var ok string
	if err := s.rdb.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check after migration: %q, %v", ok, err)
	}
}

// TestPartialIndexesUsed checks that the queries which must find a row by
// name or member use the partial indexes, whose WHERE clause each query
// has to repeat.
func TestPartialIndexesUsed(t *testing.T) {
	s := openTest(t)
	for _, tc := range []struct {
		query string
		args  []any
		index string
	}{
		{`SELECT EXISTS (SELECT 1 FROM users WHERE name = ? AND kind <> 'external')`, []any{"a"}, "users_name"},
		{`SELECT ` + accountCols + ` FROM users WHERE name = ? AND kind <> 'external' AND kind = 'account'`, []any{"a"}, "users_name"},
		{`SELECT r.name FROM room_members m JOIN rooms r ON r.name = m.room
			WHERE m.user_id = ? AND m.role <> '' ORDER BY r.name`, []any{"u"}, "room_members_user"},
	} {
		if plan := queryPlan(t, s.rdb, tc.query, tc.args...); !strings.Contains(plan, tc.index) {
			t.Errorf("query plan %q does not use %s for %s", plan, tc.index, tc.query)
		}
	}
}

func queryPlan(tb testing.TB, db *sql.DB, query string, args ...any) string {
	tb.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var plan string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			tb.Fatal(err)
		}
		plan += detail + "\n"
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return plan
}

// TestStoreOnlyErrors covers what the suite leaves to each store: inputs
// this store refuses.
func TestStoreOnlyErrors(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.CreateRoom(ctx, parley.Room{Name: "r", Kind: "secret"}, "", nil); parley.ErrorCode(err) != parley.EBADREQUEST {
		t.Errorf("CreateRoom(kind secret): %v, want %s", err, parley.EBADREQUEST)
	}
	if r, err := s.CreateRoom(ctx, parley.Room{Name: "r"}, "", nil); err != nil || r.Kind != parley.RoomPublic {
		t.Errorf("CreateRoom without a kind = %+v, %v; want a public room", r, err)
	}
	if err := s.SetRole(ctx, "r", "u1", "admin"); parley.ErrorCode(err) != parley.EBADREQUEST {
		t.Errorf("SetRole(admin): %v, want %s", err, parley.EBADREQUEST)
	}
	if err := s.SaveExternalUser(ctx, parley.User{ID: "u1", Name: "x"}); err == nil {
		t.Error("SaveExternalUser without the ext: prefix: nil error")
	}
	if err := s.CreateSession(ctx, "u-nobody", []byte("t"), time.Now().Add(time.Hour)); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("CreateSession(unknown user): %v, want %s", err, parley.ENOTFOUND)
	}
	g, err := s.CreateGuest(ctx, "g", []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, g.ID, []byte("t"), time.Now().Add(time.Hour)); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("CreateSession(guest): %v, want %s", err, parley.ENOTFOUND)
	}
	if err := s.CreateSession(ctx, g.ID, nil, time.Now()); err == nil {
		t.Error("CreateSession with no token hash: nil error")
	}
}

// TestCreateSessionPrunesExpired checks that an account's expired sessions
// go when it signs in again, by the store's clock.
func TestCreateSessionPrunesExpired(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	s, err := Open(filepath.Join(t.TempDir(), "parley.db"), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	u, err := s.CreateAccount(ctx, "a", "h", false)
	if err != nil {
		t.Fatal(err)
	}
	for i, exp := range []time.Time{now.Add(-time.Second), now, now.Add(time.Second), now.Add(time.Hour)} {
		if err := s.CreateSession(ctx, u.ID, []byte{byte(i)}, exp); err != nil {
			t.Fatal(err)
		}
	}
	var hashes []byte
	rows, err := s.rdb.Query(`SELECT token_hash FROM sessions ORDER BY token_hash`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h...)
	}
	if string(hashes) != "\x02\x03" {
		t.Errorf("sessions left %x, want 0203 (the expired ones gone)", hashes)
	}
}
