package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// request is one write waiting for the writer goroutine.
type request struct {
	ctx context.Context
	// apply runs inside the batch's transaction, in a savepoint of its own.
	// It leaves its result in variables of the submitter, who reads them
	// only after done delivers nil; the channel orders the two.
	apply func(tx *sql.Tx) error
	done  chan error // buffered: the writer never blocks answering
}

// WriterStats counts the writer's work since Open. Requests / Commits is the
// average batch size: how many writes shared one fsync.
type WriterStats struct {
	Requests uint64 // write requests the writer took, whatever their outcome
	Commits  uint64 // transactions committed
}

// Stats returns the writer's counters. It is cheap and safe to call at any
// time, e.g. from a metrics handler.
func (s *Store) Stats() WriterStats {
	return WriterStats{Requests: s.requests.Load(), Commits: s.commits.Load()}
}

// submit hands apply to the writer and waits for the outcome.
func (s *Store) submit(ctx context.Context, apply func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed() {
		return errClosed
	}
	r := &request{ctx: ctx, apply: apply, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.quit:
		return errClosed
	}
	// Taken. Don't return early on ctx: the request commits anyway, and the
	// caller must learn whether it did. The wait is one batch at most, and
	// the writer answers every request it takes, even while closing.
	return <-r.done
}

// run is the writer goroutine.
func (s *Store) run() {
	defer close(s.done)
	batch := make([]*request, 0, s.maxBatch)
	for {
		select { // quit first, so a steady stream of writes can't delay Close
		case <-s.quit:
			return
		default:
		}
		select {
		case r := <-s.reqs:
			batch = s.collect(append(batch[:0], r))
			s.runBatch(batch)
			clear(batch) // drop references to answered requests
		case <-s.quit:
			return
		}
	}
}

// collect adds the requests already waiting to batch, then, with a batch
// window, those arriving within it, up to maxBatch.
func (s *Store) collect(batch []*request) []*request {
	var window <-chan time.Time
	if s.window > 0 {
		t := time.NewTimer(s.window)
		defer t.Stop()
		window = t.C
	}
	for len(batch) < s.maxBatch {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		if window == nil {
			return batch
		}
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-window:
			return batch
		case <-s.quit:
			return batch
		}
	}
	return batch
}

// runBatch writes batch in one transaction and answers every request.
func (s *Store) runBatch(batch []*request) {
	s.requests.Add(uint64(len(batch)))
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	errs, err := s.commitBatch(live)
	if err != nil {
		s.log.Error("sqlite: batch failed", "requests", len(live), "err", err)
		for _, r := range live {
			r.done <- err
		}
		return
	}
	for i, r := range live {
		r.done <- errs[i]
	}
}

// commitBatch returns each request's own error, or one error for the whole
// batch when nothing was committed.
func (s *Store) commitBatch(reqs []*request) ([]error, error) {
	// Not a request's context: once taken, a request commits regardless.
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", classify(err))
	}
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		errs[i], err = s.applyOne(ctx, tx, r.apply)
		if err != nil {
			_ = tx.Rollback() // the batch error says what went wrong
			return nil, err
		}
	}
	if s.commitHook != nil {
		if err := s.commitHook(); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("commit: %w", classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		// A failed COMMIT (SQLITE_BUSY) can leave the transaction open, and
		// database/sql would return the connection to the pool inside it.
		// With one connection in the pool, this ROLLBACK reaches it.
		_, _ = s.wdb.ExecContext(ctx, "ROLLBACK")
		return nil, fmt.Errorf("commit: %w", classify(err))
	}
	s.commits.Add(1)
	return errs, nil
}

// applyOne runs apply in a savepoint so that its failure undoes its own
// writes only. reqErr is apply's error; batchErr means the transaction
// itself is broken and the batch must fail.
func (s *Store) applyOne(ctx context.Context, tx *sql.Tx, apply func(*sql.Tx) error) (reqErr, batchErr error) {
	if _, err := tx.StmtContext(ctx, s.stmts.savepoint).ExecContext(ctx); err != nil {
		return nil, fmt.Errorf("savepoint: %w", classify(err))
	}
	if err := apply(tx); err != nil {
		// Some errors (I/O, disk full) make SQLite roll back the whole
		// transaction, and later statements would then run outside it, in
		// autocommit. ROLLBACK TO succeeding proves the transaction is intact.
		if _, rerr := tx.StmtContext(ctx, s.stmts.rollbackTo).ExecContext(ctx); rerr != nil {
			// %v, not %w: err's code (say ECONFLICT) belongs to one request,
			// not to the batch.
			return nil, fmt.Errorf("rollback to savepoint after %v: %w", err, classify(rerr))
		}
		if _, rerr := tx.StmtContext(ctx, s.stmts.release).ExecContext(ctx); rerr != nil {
			return nil, fmt.Errorf("release savepoint: %w", classify(rerr))
		}
		return err, nil
	}
	if _, err := tx.StmtContext(ctx, s.stmts.release).ExecContext(ctx); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", classify(err))
	}
	return nil, nil
}
