// Package groupcommit runs many goroutines' writes on one goroutine, in
// batches: the writer takes the first waiting request, drains the others
// already waiting (and, with a window, those arriving within it), hands
// them all to the store's Commit, which writes them in one transaction,
// and answers every request. Many writes then share one commit, and its
// fsync or round trip, which is what makes a durable write per message
// affordable.
//
// It knows nothing of SQL: how a batch is written, and how one request's
// failure is kept from failing the others, is the store's Commit.
//
// A Writer is safe for concurrent use. Its owner calls Close, which stops
// the writer goroutine and waits for it.
package groupcommit

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Commit writes ops in one transaction, on the writer goroutine, one batch
// at a time. It returns each op's own outcome (errs[i] for ops[i]), or one
// error for the whole batch when nothing was committed; errs may be nil when
// every op succeeded. It must not keep ops, nor reorder it.
type Commit[T any] func(ops []T) (errs []error, err error)

// Options configures a Writer.
type Options struct {
	// MaxBatch caps how many requests share one commit. At least 1.
	MaxBatch int

	// Window is how long the writer waits for more requests after draining
	// those already waiting, at most. 0 means it doesn't wait.
	Window time.Duration

	// Closed is what a request gets when it reaches the writer after Close
	// began, or was still waiting then.
	Closed error
}

// Stats counts a Writer's work since it started. Requests / Commits is the
// average batch size: how many writes shared one commit.
type Stats struct {
	Requests uint64 // requests the writer took, whatever their outcome
	Commits  uint64 // batches committed
}

// Writer is the request queue and the goroutine that drains it.
type Writer[T any] struct {
	commit    Commit[T]
	maxBatch  int
	window    time.Duration
	closedErr error

	reqs chan *request[T] // unbuffered: a send completes only when the writer takes it
	quit chan struct{}
	done chan struct{} // closed when the writer goroutine returns
	once sync.Once

	requests atomic.Uint64
	commits  atomic.Uint64

	// Queue's requests wait in backlog, in order; wake tells the writer
	// there are some. stopped is set once the writer no longer takes any.
	wake    chan struct{}
	mu      sync.Mutex
	backlog []*request[T]
	stopped bool

	// Used by the writer goroutine only, reused across batches.
	batch   []*request[T]
	scratch scratch[T]
	timer   *time.Timer
}

// scratch is runBatch's working memory, kept from one batch to the next.
type scratch[T any] struct {
	live []*request[T]
	ops  []T
}

// request is one op waiting for the writer. done is buffered, so the writer
// never blocks answering; requests are pooled, and done with them, since
// each is answered exactly once and read exactly once.
type request[T any] struct {
	ctx  context.Context
	op   T
	done chan error  // Do's
	then func(error) // Queue's, instead of done
}

// answer tells the request's owner its outcome.
func (r *request[T]) answer(err error) {
	if r.then != nil {
		r.then(err)
		return
	}
	r.done <- err
}

// Start starts the writer goroutine, which calls commit for every batch.
func Start[T any](opts Options, commit Commit[T]) *Writer[T] {
	w := &Writer[T]{
		commit:    commit,
		maxBatch:  max(opts.MaxBatch, 1),
		window:    opts.Window,
		closedErr: opts.Closed,
		reqs:      make(chan *request[T]),
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	w.batch = make([]*request[T], 0, w.maxBatch)
	go w.run()
	return w
}

var pool sync.Pool // of chan error, each empty and buffered with room for one

func doneChan() chan error {
	if c, ok := pool.Get().(chan error); ok {
		return c
	}
	return make(chan error, 1)
}

// Do hands op to the writer and waits for its outcome. It returns ctx's
// error when ctx is done before the writer takes op, and Options.Closed
// when the writer is closing; op is then not written. Once taken, op is
// dropped if ctx is done when its batch begins, and otherwise committed or
// not regardless of ctx; Do waits to say which, so an error always means
// "not written" and nil always "committed". The wait is one batch at most,
// and the writer answers every request it takes, even while closing.
func (w *Writer[T]) Do(ctx context.Context, op T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.Closed() {
		return w.closedErr
	}
	r := &request[T]{ctx: ctx, op: op, done: doneChan()}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		pool.Put(r.done)
		return ctx.Err()
	case <-w.quit:
		pool.Put(r.done)
		return w.closedErr
	}
	err := <-r.done
	pool.Put(r.done)
	return err
}

// Queue hands op to the writer without waiting: then is called with its
// outcome, as Do would return it, from the writer goroutine (so it must
// not block), or at once when the writer is closed. Ops queued by one
// goroutine are committed, and answered, in the order queued, so a caller
// can have many writes in flight and still know their order; those queued
// while a batch commits share the next one.
func (w *Writer[T]) Queue(ctx context.Context, op T, then func(error)) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		then(w.closedErr)
		return
	}
	w.backlog = append(w.backlog, &request[T]{ctx: ctx, op: op, then: then})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // the writer has been woken already
	}
}

// takeBacklog moves queued requests into batch, up to maxBatch.
func (w *Writer[T]) takeBacklog(batch []*request[T]) []*request[T] {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.backlog), w.maxBatch-len(batch))
	batch = append(batch, w.backlog[:n]...)
	clear(w.backlog[:n])
	w.backlog = w.backlog[n:]
	if len(w.backlog) == 0 {
		w.backlog = nil
	} else {
		select { // more than this batch takes: the next one must come
		case w.wake <- struct{}{}:
		default:
		}
	}
	return batch
}

// stop answers what is still queued once the writer has stopped, and
// refuses what comes after.
func (w *Writer[T]) stop() {
	w.mu.Lock()
	w.stopped = true
	left := w.backlog
	w.backlog = nil
	w.mu.Unlock()
	for _, r := range left {
		r.answer(w.closedErr)
	}
}

// Closed reports whether Close has begun.
func (w *Writer[T]) Closed() bool {
	select {
	case <-w.quit:
		return true
	default:
		return false
	}
}

// Close stops the writer, waiting for the batch in flight; requests not
// yet taken get Options.Closed. Calling it again does nothing.
func (w *Writer[T]) Close() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}

// Stats returns the writer's counters. It is cheap and safe to call at any
// time, e.g. from a metrics handler.
func (w *Writer[T]) Stats() Stats {
	return Stats{Requests: w.requests.Load(), Commits: w.commits.Load()}
}

// run is the writer goroutine.
func (w *Writer[T]) run() {
	defer close(w.done)
	defer w.stop()
	for {
		select { // quit first, so a steady stream of writes can't delay Close
		case <-w.quit:
			return
		default:
		}
		select {
		case r := <-w.reqs:
			w.batch = w.collect(append(w.batch[:0], r))
		case <-w.wake:
			w.batch = w.collect(w.batch[:0])
		case <-w.quit:
			return
		}
		if len(w.batch) > 0 {
			w.runBatch(w.batch, &w.scratch)
		}
		clear(w.batch) // drop references to answered requests
	}
}

// collect adds the requests already waiting to batch, then, with a window,
// those arriving within it, up to maxBatch.
//
// The backlog goes first, every round: the writer may have taken the wake
// that announced it, and Queue's callers, who don't block, would otherwise
// starve behind a steady line of Do's. takeBacklog wakes the writer again
// for what a full batch leaves behind.
func (w *Writer[T]) collect(batch []*request[T]) []*request[T] {
	var window <-chan time.Time
	yielded := false
	for len(batch) < w.maxBatch {
		before := len(batch)
		if batch = w.takeBacklog(batch); len(batch) > before {
			continue
		}
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		if !yielded {
			// Let the goroutines that are about to write run first: on a
			// busy core they would otherwise queue behind this batch's
			// commit, one or two to the next batch.
			yielded = true
			runtime.Gosched()
			continue
		}
		if w.window <= 0 {
			return batch
		}
		if window == nil {
			if w.timer == nil {
				w.timer = time.NewTimer(w.window)
			} else {
				w.timer.Reset(w.window) // since Go 1.23 Reset needs no draining
			}
			defer w.timer.Stop()
			window = w.timer.C
		}
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
		case <-w.wake:
		case <-window:
			return batch
		case <-w.quit:
			return batch
		}
	}
	return batch
}

// runBatch commits batch and answers every request: those whose context
// ended while they waited with its error, without writing them.
func (w *Writer[T]) runBatch(batch []*request[T], sc *scratch[T]) {
	w.requests.Add(uint64(len(batch)))
	live, ops := sc.live[:0], sc.ops[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.answer(err)
			continue
		}
		live, ops = append(live, r), append(ops, r.op)
	}
	defer func() {
		clear(live) // drop references to answered requests
		clear(ops)
		sc.live, sc.ops = live[:0], ops[:0]
	}()
	if len(live) == 0 {
		return
	}
	errs, err := w.commit(ops)
	if err != nil {
		for _, r := range live {
			r.answer(err)
		}
		return
	}
	w.commits.Add(1)
	for i, r := range live {
		if errs == nil {
			r.answer(nil)
		} else {
			r.answer(errs[i])
		}
	}
}

// RunBatch runs ops as one batch on the calling goroutine, as the writer
// would, and returns each op's outcome. It is for tests, which need batches
// that the writer's timing never guarantees: the writer must be idle (no
// Do in progress) while it runs.
func (w *Writer[T]) RunBatch(ctxs []context.Context, ops []T) []error {
	batch := make([]*request[T], len(ops))
	for i, op := range ops {
		batch[i] = &request[T]{ctx: ctxs[i], op: op, done: make(chan error, 1)}
	}
	w.runBatch(batch, new(scratch[T]))
	errs := make([]error, len(batch))
	for i, r := range batch {
		errs[i] = <-r.done
	}
	return errs
}
