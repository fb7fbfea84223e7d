package parleytest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/parleychat/parley/parleytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	parleytest.StopServers()
	os.Exit(code)
}

func TestStartRedis(t *testing.T) {
	r := parleytest.StartRedis(t)
	if err := parleytest.PingRedis(r.Addr); err != nil {
		t.Fatalf("PING %s: %v", r.Addr, err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := parleytest.PingRedis(r.Addr); err == nil {
		t.Fatal("PING after Stop answered PONG")
	}
	addr := r.Addr
	if err := r.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if r.Addr != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, r.Addr)
	}
	if err := parleytest.PingRedis(addr); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	r.Kill()
	if err := parleytest.PingRedis(addr); err == nil {
		t.Fatal("PING after Kill answered PONG")
	}
	if err := r.Restart(); err != nil { // after a crash too
		t.Fatalf("Restart after Kill: %v", err)
	}
	if err := parleytest.PingRedis(addr); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

func TestStartPostgres(t *testing.T) {
	ctx := context.Background()
	// Two databases on the shared server, isolated from each other.
	a, b := parleytest.StartPostgres(t), parleytest.StartPostgres(t)
	if a == b {
		t.Fatalf("StartPostgres returned %s twice", a)
	}
	exec(t, a, "CREATE TABLE only_in_a (x int)")
	exec(t, b, "CREATE TABLE only_in_a (x int)") // no conflict: another database

	srv := parleytest.StartPostgresServer(t)
	dsn := srv.CreateDatabase(t)
	exec(t, dsn, "SELECT 1")
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		conn.Close(ctx)
		t.Fatal("connected after Stop")
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	exec(t, dsn, "SELECT 1") // same port, same data
}

func exec(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
