package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/parleychat/parley"
	"github.com/parleychat/parley/internal/groupcommit"
)

var _ parley.Store = (*Store)(nil)

// Options configures a Store. The zero value means defaults.
type Options struct {
	// Logger receives migration notices and failed commits. Nil discards.
	Logger *slog.Logger

	// Now stamps messages and users. Nil means time.Now.
	Now func() time.Time

	// MaxBatch caps how many appends share one transaction. 0 means 64:
	// when a batch falls back to a savepoint per append, each savepoint is
	// a subtransaction with an ID of its own, and past 64 of them in one
	// transaction PostgreSQL's per-backend cache overflows and every other
	// session's snapshots become slower to check.
	MaxBatch int

	// WriteTimeout bounds one write (a batch of appends, or any other
	// write): getting a connection, writing and committing. It is what
	// bounds a write's wait when the database is unreachable without
	// refusing connections. 0 means 5s.
	WriteTimeout time.Duration
}

// Store is a parley.Store on a PostgreSQL database. See the package doc.
type Store struct {
	pool *pgxpool.Pool

	w *groupcommit.Writer[*request] // appends; other writes go straight to the pool

	log     *slog.Logger
	now     func() time.Time
	timeout time.Duration

	closeOnce sync.Once
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string; pool_max_conns and the other pgxpool parameters apply), applies
// the migrations and starts the writer. It fails when the database can't
// be reached: a node without its database has nothing to serve.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{log: opts.Logger, now: opts.Now, timeout: opts.WriteTimeout}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	maxBatch := opts.MaxBatch
	if maxBatch <= 0 {
		maxBatch = 64
	}
	if s.timeout <= 0 {
		s.timeout = 5 * time.Second
	}
	if err := migrate(ctx, cfg.ConnConfig.Copy(), s.log); err != nil {
		return nil, fmt.Errorf("postgres: open: migrate: %w", err)
	}
	// NewWithConfig connects lazily; the migration proved the server answers.
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	// No batch window: appends that arrive during a commit's round trip
	// already form the next batch, so waiting would only add latency.
	s.w = groupcommit.Start(groupcommit.Options{MaxBatch: maxBatch, Closed: errClosed}, s.commitBatch)
	return s, nil
}

// Ping reports whether the store is open and the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed() {
		return fmt.Errorf("postgres: ping: %w", errClosed)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", s.fail(err))
	}
	return nil
}

// Close stops the writer, waiting for the batch in flight to commit; write
// requests not yet taken fail with EUNAVAILABLE. Then it closes the pool,
// which waits for reads in progress. Calling Close again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.w.Close()
		s.pool.Close()
	})
	return nil
}

func (s *Store) closed() bool { return s.w.Closed() }

// fail classifies err and, when it says the connection to the server was
// lost, drops every pooled connection: they most likely died together (a
// restart, a failover), and a dead idle one would fail the next request
// after the server is back instead of being replaced first.
//
// A failure after Close began (a closed pool, say) is EUNAVAILABLE like any
// request made after it.
func (s *Store) fail(err error) error {
	if err == nil || parley.ErrorCode(err) != parley.EINTERNAL {
		return err
	}
	if s.closed() {
		return fmt.Errorf("%w: %w", errClosed, err)
	}
	if connLost(err) {
		s.pool.Reset()
	}
	return classify(err)
}

// writeCtx readies a write that doesn't go through the writer. It fails at
// once when ctx is done or the store is closed. Otherwise it returns the
// context to write with: ctx's values without its cancellation, bounded by
// WriteTimeout. A write once sent may commit, and the caller must learn
// whether it did rather than give up waiting, as with appends.
func (s *Store) writeCtx(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.closed() {
		return nil, nil, errClosed
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	return wctx, cancel, nil
}

// writeTx runs fn in a transaction of its own, for writes of more than one
// statement, and classifies the error. fn must use the context it is given.
func (s *Store) writeTx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	wctx, cancel, err := s.writeCtx(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return s.fail(pgx.BeginFunc(wctx, s.pool, func(tx pgx.Tx) error { return fn(wctx, tx) }))
}
