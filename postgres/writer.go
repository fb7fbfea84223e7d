package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleychat/parley"
)

// request is one Append waiting for the writer goroutine.
type request struct {
	ctx context.Context
	m   parley.Message
	// stored and dup are the outcome. The writer sets them before it
	// sends nil on done, and the submitter reads them only after
	// receiving it; the channel orders the two.
	stored parley.Message
	dup    bool
	done   chan error // buffered: the writer never blocks answering
}

// WriterStats counts the writer's work since Open. Requests / Commits is the
// average batch size: how many appends shared one commit.
type WriterStats struct {
	Requests uint64 // append requests the writer took, whatever their outcome
	Commits  uint64 // transactions committed
}

// Stats returns the writer's counters. It is cheap and safe to call at any
// time, e.g. from a metrics handler.
func (s *Store) Stats() WriterStats {
	return WriterStats{Requests: s.requests.Load(), Commits: s.commits.Load()}
}

// submit hands r to the writer and waits for the outcome.
func (s *Store) submit(r *request) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if s.closed() {
		return errClosed
	}
	select {
	case s.reqs <- r:
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-s.quit:
		return errClosed
	}
	// Taken. Don't return early on ctx: the request may commit anyway, and
	// the caller must learn whether it did. WriteTimeout bounds the wait.
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

// collect adds the requests already waiting to batch, up to maxBatch. It
// doesn't wait for more: requests that arrive during a commit form the
// next batch, so waiting would only add latency.
func (s *Store) collect(batch []*request) []*request {
	for len(batch) < s.maxBatch {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		default:
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
		s.log.Error("postgres: batch failed", "requests", len(live), "err", err)
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
// batch when nothing was committed. It reorders reqs.
//
// It first sends every append in one pipeline, one round trip for the
// whole batch. That fails as a whole if any request fails or is a
// duplicate, whose head increment must be undone; then it rolls back and
// runs the batch again with a savepoint per request. Duplicates are
// retries and failures are rare, so the slow path seldom runs, and it
// costs a round trip and a savepoint per request when it does.
func (s *Store) commitBatch(reqs []*request) ([]error, error) {
	// Not a request's context: once taken, a request commits regardless.
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()

	// A batch holds each room's row lock until it commits. Taking them in
	// one order (by room name) on every node means two nodes' batches
	// can't each hold a room the other waits for: no deadlocks. Stable,
	// so one room's requests keep their arrival order.
	slices.SortStableFunc(reqs, func(a, b *request) int { return strings.Compare(a.m.Room, b.m.Room) })

	errs, err := s.inTx(ctx, reqs, s.appendPipelined)
	if errors.Is(err, errSlowPath) {
		errs, err = s.inTx(ctx, reqs, s.appendEach)
	}
	return errs, err
}

// errSlowPath says the pipelined attempt met a duplicate or a failing
// request.
var errSlowPath = errors.New("a request needs a savepoint of its own")

// inTx runs write in a transaction and commits it unless write fails.
func (s *Store) inTx(ctx context.Context, reqs []*request,
	write func(context.Context, pgx.Tx, []*request) ([]error, error)) ([]error, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", s.fail(err))
	}
	defer tx.Rollback(ctx) // no-op after Commit
	errs, err := write(ctx, tx, reqs)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", s.fail(err))
	}
	s.commits.Add(1)
	return errs, nil
}

// appendPipelined sends all of reqs at once and succeeds only if every
// one is stored anew; otherwise it returns errSlowPath, or a batch error
// when the connection failed.
func (s *Store) appendPipelined(ctx context.Context, tx pgx.Tx, reqs []*request) ([]error, error) {
	var b pgx.Batch
	for _, r := range reqs {
		r.stored = newMessage(r.m, s.now())
		b.Queue(appendSQL, r.m.Room, r.stored.TS, r.m.From.ID, r.m.From.Name, r.m.Text, r.m.Nonce)
	}
	br := tx.SendBatch(ctx, &b)
	var err error
	for _, r := range reqs {
		// ErrNoRows, a duplicate, is no error to PostgreSQL, so later
		// statements run; stop reading, the transaction is rolled back.
		if err = br.QueryRow().Scan(&r.stored.Seq); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case err == nil:
		return make([]error, len(reqs)), nil
	case connLost(err) || ctx.Err() != nil:
		return nil, fmt.Errorf("append: %w", s.fail(err))
	default:
		return nil, errSlowPath
	}
}

// appendEach runs each of reqs in a savepoint of its own.
func (s *Store) appendEach(ctx context.Context, tx pgx.Tx, reqs []*request) ([]error, error) {
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		var err error
		errs[i], err = s.appendOne(ctx, tx, r, i == 0)
		if err != nil {
			return nil, err
		}
	}
	return errs, nil
}

// newMessage is m as Append stores it at now, before its seq is known.
func newMessage(m parley.Message, now time.Time) parley.Message {
	m.TS = millis(now)
	m.EditedAt, m.Deleted = time.Time{}, false
	return m
}

// appendSQL advances the room's head and inserts the message in one
// statement. The upsert's row lock serializes appends to a room across
// transactions and nodes. A nonce seen before makes the insert do nothing
// and return no row, but the head has moved by then: the caller undoes it.
const appendSQL = `
	WITH head AS (
		INSERT INTO rooms AS r (name, head, created_at) VALUES ($1, 1, $2)
		ON CONFLICT (name) DO UPDATE SET head = r.head + 1
		RETURNING head
	)
	INSERT INTO messages (room, seq, user_id, user_name, text, ts, nonce)
	SELECT $1::text, head.head, $3::text, $4::text, $5::text, $2::timestamptz, $6::text FROM head
	ON CONFLICT (room, user_id, nonce) WHERE nonce <> '' DO NOTHING
	RETURNING seq`

// findNonceSQL reads the message a nonce was first stored with.
const findNonceSQL = `
	SELECT ` + messageCols + ` FROM messages
	WHERE room = $1 AND user_id = $2 AND nonce = $3 AND nonce <> ''`

// appendOne runs r in the savepoint "req", so that its failure undoes its
// own writes only. The savepoint stays open after each request and the
// next one releases it, which lets release, savepoint and insert travel in
// one round trip. reqErr is r's own error; batchErr means the transaction
// itself is broken and the batch must fail.
func (s *Store) appendOne(ctx context.Context, tx pgx.Tx, r *request, first bool) (reqErr, batchErr error) {
	m := newMessage(r.m, s.now())

	var b pgx.Batch
	if !first {
		b.Queue(`RELEASE SAVEPOINT req`)
	}
	b.Queue(`SAVEPOINT req`)
	b.Queue(appendSQL, m.Room, m.TS, m.From.ID, m.From.Name, m.Text, m.Nonce)
	br := tx.SendBatch(ctx, &b)
	var err error
	if !first {
		_, err = br.Exec()
	}
	if err == nil {
		_, err = br.Exec()
	}
	if err != nil { // releasing or setting the savepoint failed
		br.Close()
		return nil, fmt.Errorf("savepoint: %w", s.fail(err))
	}
	err = br.QueryRow().Scan(&m.Seq)
	if cerr := br.Close(); err == nil {
		err = cerr
	}

	// undo rolls back to the savepoint and fails the request alone, or
	// the batch when the rollback fails (the connection is gone).
	undo := func(reqErr error) (error, error) {
		if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT req`); err != nil {
			// %v, not %w: reqErr's code (say ECONFLICT) belongs to one
			// request, not to the batch.
			return nil, fmt.Errorf("rollback to savepoint after %v: %w", reqErr, s.fail(err))
		}
		return reqErr, nil
	}
	switch {
	case err == nil:
		r.stored = m
		return nil, nil
	case errors.Is(err, pgx.ErrNoRows):
		// A duplicate: the head moved for nothing. Roll that back first,
		// so a duplicate never uses up a seq.
		if _, err := undo(nil); err != nil {
			return nil, err
		}
		// The original is visible: it is in this transaction, or it was
		// committed by the one whose row lock the upsert waited for, and
		// this statement takes a new snapshot.
		orig, err := scanMessage(tx.QueryRow(ctx, findNonceSQL, m.Room, m.From.ID, m.Nonce))
		if err != nil {
			return undo(fmt.Errorf("find nonce: %w", s.fail(err)))
		}
		r.stored, r.dup = orig, true
		return nil, nil
	default:
		return undo(fmt.Errorf("insert message: %w", s.fail(err)))
	}
}
