package parleytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// installHint ends every "not installed" failure: the tests need the real
// servers, and skipping would let a machine without them pass silently.
const installHint = "run scripts/install-test-deps (as root or with sudo) to install it"

// pgSuperuser is the superuser initdb creates; authentication is trust, on
// loopback only.
const pgSuperuser = "parley"

// PostgresServer is a PostgreSQL server in a temporary directory, listening
// on a loopback port. Its methods are safe for concurrent use.
type PostgresServer struct {
	Port int

	dir   string   // holds data/ and postgres.log
	bin   string   // directory of initdb and postgres
	runAs *account // nil: run as the current user

	mu   sync.Mutex
	proc *process // nil or exited when stopped
}

// account is the user servers run as when the tests run as root.
type account struct{ uid, gid uint32 }

// sharedPG is the server StartPostgres hands out databases on: one per test
// binary, since a PostgreSQL server takes about a second to start and a
// database a few milliseconds.
var sharedPG struct {
	sync.Mutex
	srv *PostgresServer
	err error
}

// StartPostgres returns the DSN of a new, empty database on the test
// binary's shared PostgreSQL server, starting the server on first use. The
// database is dropped when tb ends; the server is stopped by StopServers
// (from TestMain). It fails tb, never skips it, when PostgreSQL is not
// installed. Tests that stop the server must use StartPostgresServer.
func StartPostgres(tb testing.TB) (dsn string) {
	tb.Helper()
	sharedPG.Lock()
	if sharedPG.srv == nil && sharedPG.err == nil {
		sharedPG.srv, sharedPG.err = newPostgresServer()
	}
	srv, err := sharedPG.srv, sharedPG.err
	sharedPG.Unlock()
	if err != nil {
		tb.Fatalf("parleytest: %v", err)
	}
	return srv.CreateDatabase(tb)
}

// StartPostgresServer starts a PostgreSQL server for tb alone, which tb may
// stop and start again, and which is stopped and removed when tb ends. It
// fails tb when PostgreSQL is not installed.
func StartPostgresServer(tb testing.TB) *PostgresServer {
	tb.Helper()
	srv, err := newPostgresServer()
	if err != nil {
		tb.Fatalf("parleytest: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			tb.Errorf("parleytest: %v", err)
		}
		_ = os.RemoveAll(srv.dir)
	})
	return srv
}

// DSN returns the pgx connection string of database db on the server.
func (p *PostgresServer) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pgSuperuser, p.Port, db)
}

// CreateDatabase creates an empty database named t_<random> and returns its
// DSN. The database is dropped when tb ends, if the server runs then.
func (p *PostgresServer) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	// CREATE DATABASE can't run in a transaction, which Exec without
	// arguments (the simple protocol) doesn't open.
	if err := p.admin(context.Background(), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("parleytest: create database: %v", err)
	}
	tb.Cleanup(func() {
		// FORCE: a store the test leaked must not keep the database alive.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if p.running() {
			if err := p.admin(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				tb.Logf("parleytest: drop database %s: %v", name, err)
			}
		}
	})
	return p.DSN(name)
}

// admin runs one statement in the postgres database.
func (p *PostgresServer) admin(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts the server down ("fast": open sessions are ended, as when an
// operator restarts it) and waits for it to exit. Clients then get
// "connection refused". Stopping a stopped server does nothing.
func (p *PostgresServer) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	// SIGINT is PostgreSQL's fast shutdown.
	return p.proc.stop(syscall.SIGINT, 30*time.Second)
}

// Start starts a stopped server again on the same port and data, and waits
// until it accepts connections. Starting a running server does nothing.
func (p *PostgresServer) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && p.proc.running() {
		return nil
	}
	return p.start()
}

func (p *PostgresServer) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc != nil && p.proc.running()
}

// newPostgresServer runs initdb in a new temporary directory and starts the
// server on a free port.
func newPostgresServer() (*PostgresServer, error) {
	bin, err := findPostgres()
	if err != nil {
		return nil, err
	}
	p := &PostgresServer{bin: bin}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		if p.runAs, err = lookupAccount("postgres"); err != nil {
			return nil, fmt.Errorf("PostgreSQL must not run as root, and there is no postgres user to run it as (%v); %s", err, installHint)
		}
	}
	if p.dir, err = os.MkdirTemp("", "parleytest-pg-"); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(p.dir)
		}
	}()
	if p.runAs != nil {
		// The directory is 0700; the server's user must own it to create
		// data/ and its socket there.
		if err := os.Chown(p.dir, int(p.runAs.uid), int(p.runAs.gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(p.dir, "data"),
		"-A", "trust", "-U", pgSuperuser, "-E", "UTF8", "--locale=C",
		"--no-sync") // a test cluster needn't survive a power loss
	initdb.SysProcAttr = childAttr(p.runAs, 0)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// Retry with a new port when another process took the free one first.
	for attempt := 0; ; attempt++ {
		if p.Port, err = freePort(); err != nil {
			return nil, err
		}
		p.mu.Lock()
		err = p.start()
		p.mu.Unlock()
		if err == nil {
			ok = true
			return p, nil
		}
		if attempt == 2 {
			return nil, err
		}
	}
}

// start runs postgres and waits until it accepts connections. p.mu is held.
func (p *PostgresServer) start() error {
	proc, err := startProcess("postgres", filepath.Join(p.dir, "postgres.log"), p.runAs,
		syscall.SIGQUIT, // immediate shutdown, should the test binary die
		filepath.Join(p.bin, "postgres"), "-D", filepath.Join(p.dir, "data"),
		"-p", strconv.Itoa(p.Port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200")
	if err != nil {
		return err
	}
	p.proc = proc
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, p.DSN("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if !proc.running() {
			return fmt.Errorf("postgres on port %d exited while starting:\n%s", p.Port, proc.logTail())
		}
		if time.Now().After(deadline) {
			_ = proc.stop(syscall.SIGQUIT, 10*time.Second)
			return fmt.Errorf("postgres on port %d not ready after 30s: %v\n%s", p.Port, err, proc.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findPostgres returns the directory holding initdb and postgres: Debian's
// /usr/lib/postgresql/VERSION/bin (the newest version), else PATH.
func findPostgres() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) > 0 {
		version := func(path string) int {
			v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
			return v
		}
		slices.SortFunc(found, func(a, b string) int { return version(a) - version(b) })
		return filepath.Dir(found[len(found)-1]), nil
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH); " + installHint)
}

func lookupAccount(name string) (*account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	return &account{uid: uint32(uid), gid: uint32(gid)}, nil
}
