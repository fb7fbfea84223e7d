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
	m parley.Message
	// stored and dup are the outcome. The writer sets them before it
	// answers nil, and the submitter reads them only after receiving it;
	// the answer's channel orders the two.
	stored parley.Message
	dup    bool
	err    error // the request's own failure, set by appendEach
}

// WriterStats counts the writer's work since Open. Requests / Commits is the
// average batch size: how many appends shared one commit.
type WriterStats struct {
	Requests uint64 // append requests the writer took, whatever their outcome
	Commits  uint64 // transactions committed
}

// Stats returns the writer's counters. It is cheap and safe to call at any
// time, e.g. from a metrics handler.
func (s *Store) Stats() WriterStats { return WriterStats(s.w.Stats()) }

// commitBatch returns each request's own error, or one error for the whole
// batch when nothing was committed.
//
// It first sends every append in one pipeline, one round trip for the
// whole batch. That fails as a whole if any request fails or is a
// duplicate, whose head increment must be undone; then it rolls back and
// runs the batch again with a savepoint per request. Duplicates are
// retries and failures are rare, so the slow path seldom runs, and it
// costs a round trip and a savepoint per request when it does.
func (s *Store) commitBatch(reqs []*request) ([]error, error) {
	// Not a request's context: once taken, a request commits regardless.
	// WriteTimeout bounds the wait.
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()

	// A batch holds each room's row lock until it commits. Taking them in
	// one order (by room name) on every node means two nodes' batches
	// can't each hold a room the other waits for: no deadlocks. Stable,
	// so one room's requests keep their arrival order. A copy: the
	// answers follow reqs' order.
	sorted := slices.Clone(reqs)
	slices.SortStableFunc(sorted, func(a, b *request) int { return strings.Compare(a.m.Room, b.m.Room) })

	err := s.inTx(ctx, sorted, s.appendPipelined)
	if errors.Is(err, errSlowPath) {
		err = s.inTx(ctx, sorted, s.appendEach)
	}
	if err != nil {
		s.log.Error("postgres: batch failed", "requests", len(reqs), "err", err)
		return nil, err
	}
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		errs[i] = r.err
	}
	return errs, nil
}

// errSlowPath says the pipelined attempt met a duplicate or a failing
// request.
var errSlowPath = errors.New("a request needs a savepoint of its own")

// inTx runs write in a transaction and commits it unless write fails.
func (s *Store) inTx(ctx context.Context, reqs []*request,
	write func(context.Context, pgx.Tx, []*request) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", s.fail(err))
	}
	defer tx.Rollback(ctx) // no-op after Commit
	if err := write(ctx, tx, reqs); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", s.fail(err))
	}
	return nil
}

// appendPipelined sends all of reqs at once and succeeds only if every
// one is stored anew; otherwise it returns errSlowPath, or a batch error
// when the connection failed.
func (s *Store) appendPipelined(ctx context.Context, tx pgx.Tx, reqs []*request) error {
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
		return nil
	case connLost(err) || ctx.Err() != nil:
		return fmt.Errorf("append: %w", s.fail(err))
	default:
		return errSlowPath
	}
}

// appendEach runs each of reqs in a savepoint of its own, leaving each
// one's own failure in its err.
func (s *Store) appendEach(ctx context.Context, tx pgx.Tx, reqs []*request) error {
	for i, r := range reqs {
		var err error
		if r.err, err = s.appendOne(ctx, tx, r, i == 0); err != nil {
			return err
		}
	}
	return nil
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
