package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// op is one write request: an Append, or any other write as a function.
// The submitter reads the outcome (in app, or in variables apply sets) only
// after the writer answered nil; the answer's channel orders the two.
type op struct {
	// app is an Append. The writer knows what an append writes, which lets
	// it run one without a savepoint of its own (see commitBatch).
	app *appendOp
	// apply is every other write. It runs inside the batch's transaction,
	// in a savepoint of its own, since it may fail after writing. It may
	// run twice, when the batch is written again (see commitBatch), so it
	// must set its outcome, never add to it.
	apply func(tx *sql.Tx) error
}

// WriterStats counts the writer's work since Open. Requests / Commits is the
// average batch size: how many writes shared one fsync.
type WriterStats struct {
	Requests uint64 // write requests the writer took, whatever their outcome
	Commits  uint64 // transactions committed
}

// Stats returns the writer's counters. It is cheap and safe to call at any
// time, e.g. from a metrics handler.
func (s *Store) Stats() WriterStats { return WriterStats(s.w.Stats()) }

// submit hands apply to the writer and waits for the outcome; see
// groupcommit.Writer.Do.
func (s *Store) submit(ctx context.Context, apply func(tx *sql.Tx) error) error {
	return s.w.Do(ctx, op{apply: apply})
}

// errSlowPath says that a batch written without savepoints met a request
// that failed, so it must be written again with a savepoint per request.
var errSlowPath = errors.New("a request needs a savepoint of its own")

// commitBatch writes ops in one transaction. It returns each op's own
// error, or one error for the whole batch when nothing was committed.
//
// An append is one INSERT, which SQLite undoes by itself when it fails, and
// the statements before it only read, or create the room that the INSERT
// needs either way; its nonce conflict, the one failure expected (a client
// retrying), writes nothing. So a first attempt runs appends without a
// SAVEPOINT and a RELEASE each, two statements per append that the writer
// goroutine, whose CPU bounds appends per second, can spare. Any other failure
// of an append (the disk full, say) may have ended the transaction, and the
// statements after it would then commit one by one: that attempt is rolled
// back, and the batch runs again with a savepoint per request, which fails
// the failing request alone.
func (s *Store) commitBatch(ops []op) ([]error, error) {
	errs, err := s.writeBatch(ops, false)
	if errors.Is(err, errSlowPath) {
		errs, err = s.writeBatch(ops, true)
	}
	if err != nil {
		s.log.Error("sqlite: batch failed", "requests", len(ops), "err", err)
	}
	return errs, err
}

// writeBatch writes ops in one transaction, appends in savepoints only when
// safe is set. It commits unless the batch fails; then the head cache
// forgets whatever the batch did or read.
func (s *Store) writeBatch(ops []op, safe bool) (errs []error, err error) {
	// Not a request's context: once taken, a request commits regardless.
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		s.heads.reset()
		return nil, fmt.Errorf("begin: %w", classify(err))
	}
	s.beginBatch(tx)
	defer s.endBatch()
	fail := func(err error) ([]error, error) {
		_ = tx.Rollback() // err says what went wrong
		s.heads.reset()
		return nil, err
	}
	for i, o := range ops {
		var reqErr error
		switch {
		case o.app != nil && !safe:
			if s.appendTx(tx, o.app) != nil {
				return fail(errSlowPath)
			}
		case o.app != nil:
			reqErr, err = s.applyOne(ctx, tx, func(tx *sql.Tx) error { return s.appendTx(tx, o.app) })
		default:
			reqErr, err = s.applyOne(ctx, tx, o.apply)
		}
		if err != nil {
			return fail(err)
		}
		if reqErr != nil {
			if errs == nil {
				errs = make([]error, len(ops))
			}
			errs[i] = reqErr
		}
	}
	if s.commitHook != nil {
		if err := s.commitHook(); err != nil {
			return fail(fmt.Errorf("commit: %w", classify(err)))
		}
	}
	if err := tx.Commit(); err != nil {
		// A failed COMMIT (SQLITE_BUSY) can leave the transaction open, and
		// database/sql would return the connection to the pool inside it.
		// With one connection in the pool, this ROLLBACK reaches it.
		_, _ = s.wdb.ExecContext(ctx, "ROLLBACK")
		s.heads.reset()
		return nil, fmt.Errorf("commit: %w", classify(err))
	}
	s.heads.committed()
	return errs, nil
}

// applyOne runs apply in a savepoint so that its failure undoes its own
// writes only. reqErr is apply's error; batchErr means the transaction
// itself is broken and the batch must fail.
func (s *Store) applyOne(ctx context.Context, tx *sql.Tx, apply func(*sql.Tx) error) (reqErr, batchErr error) {
	if _, err := s.inTx(ctx, tx, s.stmts.savepoint).ExecContext(ctx); err != nil {
		return nil, fmt.Errorf("savepoint: %w", classify(err))
	}
	if err := apply(tx); err != nil {
		// Some errors (I/O, disk full) make SQLite roll back the whole
		// transaction, and later statements would then run outside it, in
		// autocommit. ROLLBACK TO succeeding proves the transaction is intact.
		if _, rerr := s.inTx(ctx, tx, s.stmts.rollbackTo).ExecContext(ctx); rerr != nil {
			// %v, not %w: err's code (say ECONFLICT) belongs to one request,
			// not to the batch.
			return nil, fmt.Errorf("rollback to savepoint after %v: %w", err, classify(rerr))
		}
		if _, rerr := s.inTx(ctx, tx, s.stmts.release).ExecContext(ctx); rerr != nil {
			return nil, fmt.Errorf("release savepoint: %w", classify(rerr))
		}
		return err, nil
	}
	if _, err := s.inTx(ctx, tx, s.stmts.release).ExecContext(ctx); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", classify(err))
	}
	return nil, nil
}
