package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/internal/groupcommit"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ parley.Store = (*Store)(nil)

// Options configures a Store. The zero value means defaults.
type Options struct {
	// Logger receives migration notices and failed commits. Nil discards.
	Logger *slog.Logger

	// Now stamps messages and users. Nil means time.Now.
	Now func() time.Time

	// MaxBatch caps how many write requests share one transaction.
	// 0 means 256.
	MaxBatch int

	// BatchWindow is how long the writer waits for more requests after
	// draining the ones already waiting. 0 (the default) means it doesn't
	// wait: requests that arrive during a commit's fsync already form the
	// next batch, so a window only adds latency under load and helps only
	// when writes trickle in one at a time. Measured with 64 senders that
	// each wait for their ack: without a window they settle into two
	// batches of ~32 in turn, one written while the other's senders come
	// back; a 50 µs-2 ms window merges them into batches of 64 and cuts
	// appends per second by a fifth, since the writer then idles while
	// senders return and a message costs about the same pages in either.
	BatchWindow time.Duration

	// MaxReaders caps the read connections. 0 means max(4, GOMAXPROCS).
	MaxReaders int

	// BusyTimeout is how long a statement waits for a lock held by another
	// process (a backup, the sqlite3 shell). 0 means 5s.
	BusyTimeout time.Duration
}

// Store is a parley.Store on one SQLite file. See the package doc.
type Store struct {
	wdb *sql.DB // one connection, used only by the writer goroutine and migrations
	rdb *sql.DB // query-only connections for reads

	w *groupcommit.Writer[op]

	// Used by the writer goroutine only.
	stmts *writerStmts
	heads *heads
	batch txStmts

	log *slog.Logger
	now func() time.Time

	closeOnce sync.Once
	closeErr  error

	// commitHook, when set by tests, runs just before COMMIT; an error
	// makes the batch fail as if COMMIT had.
	commitHook func() error
}

// Open opens or creates the database at path (its directory is created if
// missing), applies the migrations and starts the writer. In-memory
// databases are not supported: WAL, which the reader pool relies on, needs a
// file.
func Open(path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, errors.New("sqlite: open: a database file path is required")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	s := &Store{log: opts.Logger, now: opts.Now, heads: newHeads()}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	maxBatch := opts.MaxBatch
	if maxBatch <= 0 {
		maxBatch = 256
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readers := opts.MaxReaders
	if readers <= 0 {
		readers = max(4, runtime.GOMAXPROCS(0))
	}

	// _txlock=immediate takes the write lock at BEGIN, so a transaction
	// never fails halfway when it upgrades from read to write while another
	// process holds the lock; busy_timeout then makes BEGIN wait for it.
	//
	// wal_autocheckpoint: the writer copies the WAL into the database file
	// (and fsyncs it) once the WAL holds this many pages. The messages'
	// indexes make every append dirty about two pages, but mostly the same
	// few per room, which a checkpoint writes once however often the WAL
	// has them: checkpointing every 10,000 pages rather than SQLite's 1,000
	// does a tenth of the checkpoints for about the same pages each, which
	// took a tenth off the CPU per append and added 15% appends per second
	// (BenchmarkAppendParallel). The price is a WAL file of up to ~40 MB.
	s.wdb, err = sql.Open("sqlite", dsn(abs, busy, "_txlock=immediate",
		"_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)",
		fmt.Sprintf("_pragma=wal_autocheckpoint(%d)", walCheckpointPages)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxIdleTime(0)
	s.wdb.SetConnMaxLifetime(0)

	ctx := context.Background()
	if err := s.checkWAL(ctx); err != nil {
		s.wdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.wdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if s.stmts, err = prepareWriter(ctx, s.wdb); err != nil {
		s.wdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	// query_only rather than mode=ro: a mode=ro connection can't create the
	// WAL index (-shm) when it is missing, query_only has no such corner.
	s.rdb, err = sql.Open("sqlite", dsn(abs, busy, "_pragma=query_only(1)"))
	if err != nil {
		s.stmts.close()
		s.wdb.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.rdb.SetMaxOpenConns(readers)
	s.rdb.SetMaxIdleConns(readers)

	s.w = groupcommit.Start(groupcommit.Options{
		MaxBatch: maxBatch, Window: opts.BatchWindow, Closed: errClosed,
	}, s.commitBatch)
	return s, nil
}

// walCheckpointPages is the writer connection's wal_autocheckpoint.
const walCheckpointPages = 10000

// dsn builds a file: URI, escaping the path so that '?' or '#' in a file
// name can't be read as the start of parameters.
func dsn(abs string, busy time.Duration, params ...string) string {
	u := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" +
		fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busy.Milliseconds())
	for _, p := range params {
		u += "&" + p
	}
	return u
}

// checkWAL fails when the file could not be put in WAL mode (e.g. on a file
// system without shared memory), because readers would then block the
// writer and durability assumptions would change silently.
func (s *Store) checkWAL(ctx context.Context) error {
	var mode string
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return nil
}

// Ping reports whether the store is open and the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed() {
		return fmt.Errorf("sqlite: ping: %w", errClosed)
	}
	var one int
	if err := s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", classify(err))
	}
	return nil
}

// Close stops the writer, waiting for the batch in flight to commit; write
// requests not yet taken fail with EUNAVAILABLE. Then it closes the
// database. Calling Close again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.w.Close()
		// Readers first: the last connection to close checkpoints the WAL
		// into the main file and removes it, and that should be the writer.
		rerr := s.rdb.Close()
		s.stmts.close()
		werr := s.wdb.Close()
		if err := errors.Join(rerr, werr); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

func (s *Store) closed() bool { return s.w.Closed() }
