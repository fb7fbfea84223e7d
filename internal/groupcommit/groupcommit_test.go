package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

var errClosed = errors.New("closed")

// recorder is a Commit that keeps each batch and can be held, so that
// requests pile up behind the batch in progress.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	hold    chan struct{} // when not nil, commit waits for it to close
	started chan struct{} // receives once per batch, when commit starts
}

func (c *recorder) commit(ops []int) ([]error, error) {
	c.mu.Lock()
	c.batches = append(c.batches, append([]int(nil), ops...))
	hold := c.hold
	c.mu.Unlock()
	if c.started != nil {
		c.started <- struct{}{}
	}
	if hold != nil {
		<-hold
	}
	errs := make([]error, len(ops))
	for i, op := range ops {
		if op < 0 {
			errs[i] = fmt.Errorf("op %d fails", op)
		}
	}
	return errs, nil
}

func TestBatchesWhatWaits(t *testing.T) {
	c := &recorder{hold: make(chan struct{}), started: make(chan struct{}, 10)}
	w := Start(Options{MaxBatch: 3, Closed: errClosed}, c.commit)
	defer w.Close()

	var wg sync.WaitGroup
	errs := make([]error, 6)
	do := func(op int) { wg.Go(func() { errs[op+1] = w.Do(context.Background(), op) }) }
	do(0) // the first batch, held
	<-c.started
	for _, op := range []int{1, 2, -1, 3} {
		do(op)
	}
	time.Sleep(20 * time.Millisecond) // the four wait behind the held batch
	close(c.hold)
	wg.Wait()

	if len(c.batches) != 3 || len(c.batches[0]) != 1 || len(c.batches[1]) != 3 || len(c.batches[2]) != 1 {
		t.Errorf("batches %v, want sizes 1, 3 (MaxBatch), 1", c.batches)
	}
	for op, err := range map[int]error{0: errs[1], 1: errs[2], 2: errs[3], 3: errs[4]} {
		if err != nil {
			t.Errorf("op %d: %v", op, err)
		}
	}
	if errs[0] == nil {
		t.Error("op -1: nil error, want its own")
	}
	if st := w.Stats(); st.Requests != 5 || st.Commits != 3 {
		t.Errorf("Stats = %+v, want 5 requests in 3 commits", st)
	}
}

func TestBatchErrorFailsAll(t *testing.T) {
	boom := errors.New("boom")
	w := Start(Options{MaxBatch: 8, Closed: errClosed}, func(ops []int) ([]error, error) { return nil, boom })
	defer w.Close()
	errs := w.RunBatch([]context.Context{context.Background(), context.Background()}, []int{1, 2})
	for i, err := range errs {
		if !errors.Is(err, boom) {
			t.Errorf("op %d: %v, want the batch's error", i, err)
		}
	}
	if st := w.Stats(); st.Requests != 2 || st.Commits != 0 {
		t.Errorf("Stats = %+v, want 2 requests, no commit", st)
	}
}

func TestNilErrsMeansAllCommitted(t *testing.T) {
	w := Start(Options{MaxBatch: 8, Closed: errClosed}, func(ops []int) ([]error, error) { return nil, nil })
	defer w.Close()
	if err := w.Do(context.Background(), 1); err != nil {
		t.Fatalf("Do: %v", err)
	}
}

func TestContextDoneBeforeBatch(t *testing.T) {
	c := &recorder{}
	w := Start(Options{MaxBatch: 8, Closed: errClosed}, c.commit)
	defer w.Close()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Do(done, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a done context: %v, want context.Canceled", err)
	}
	// Taken, but done when its batch begins: answered, not committed.
	errs := w.RunBatch([]context.Context{done, context.Background()}, []int{1, 2})
	if !errors.Is(errs[0], context.Canceled) || errs[1] != nil {
		t.Errorf("RunBatch = %v, want [context.Canceled, nil]", errs)
	}
	if len(c.batches) != 1 || len(c.batches[0]) != 1 || c.batches[0][0] != 2 {
		t.Errorf("batches %v, want [[2]]", c.batches)
	}
}

func TestWindowGathersStragglers(t *testing.T) {
	c := &recorder{}
	w := Start(Options{MaxBatch: 2, Window: time.Minute, Closed: errClosed}, c.commit)
	defer w.Close()
	var wg sync.WaitGroup
	wg.Go(func() { w.Do(context.Background(), 1) })
	time.Sleep(20 * time.Millisecond) // the writer has taken 1 and waits for more
	wg.Go(func() { w.Do(context.Background(), 2) })
	wg.Wait() // MaxBatch ends the minute's window
	if len(c.batches) != 1 || len(c.batches[0]) != 2 {
		t.Errorf("batches %v, want one of 2", c.batches)
	}
}

func TestClose(t *testing.T) {
	c := &recorder{hold: make(chan struct{}), started: make(chan struct{}, 1)}
	w := Start(Options{MaxBatch: 1, Closed: errClosed}, c.commit)
	var wg sync.WaitGroup
	var inFlight, queued error
	wg.Go(func() { inFlight = w.Do(context.Background(), 1) })
	<-c.started
	wg.Go(func() { queued = w.Do(context.Background(), 2) })
	time.Sleep(20 * time.Millisecond) // 2 waits behind the held batch

	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a batch was in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(c.hold)
	<-closed
	wg.Wait()
	if inFlight != nil {
		t.Errorf("the batch in flight: %v, want committed", inFlight)
	}
	if !errors.Is(queued, errClosed) {
		t.Errorf("the request still waiting: %v, want Options.Closed", queued)
	}
	if err := w.Do(context.Background(), 3); !errors.Is(err, errClosed) {
		t.Errorf("Do after Close: %v, want Options.Closed", err)
	}
	w.Close() // again: returns at once
}

// TestQueueKeepsOrder: ops queued without waiting are committed in the
// order queued, several to a batch while one is in progress, and each gets
// its own outcome.
func TestQueueKeepsOrder(t *testing.T) {
	c := &recorder{hold: make(chan struct{}), started: make(chan struct{}, 100)}
	w := Start(Options{MaxBatch: 100, Closed: errClosed}, c.commit)
	defer w.Close()

	const n = 50
	outcomes := make(chan string, n+1)
	queue := func(op int) {
		w.Queue(context.Background(), op, func(err error) { outcomes <- fmt.Sprint(op, err) })
	}
	queue(0) // the first batch, held
	<-c.started
	for op := 1; op < n; op++ {
		if op == 7 {
			queue(-7)
			continue
		}
		queue(op)
	}
	time.Sleep(20 * time.Millisecond)
	close(c.hold)
	for op := range n {
		want := fmt.Sprint(op, nil)
		if op == 7 {
			want = fmt.Sprint(-7, fmt.Errorf("op %d fails", -7))
		}
		if got := <-outcomes; got != want {
			t.Fatalf("outcome %d: %q, want %q", op, got, want)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []int
	for _, b := range c.batches {
		all = append(all, b...)
	}
	for i, op := range all {
		if op != i && !(i == 7 && op == -7) {
			t.Fatalf("committed %v, want 0..%d in order", all, n-1)
		}
	}
	if len(c.batches) > 3 {
		t.Errorf("%d batches for ops queued behind one: %v", len(c.batches), c.batches)
	}
}

// TestQueueAfterClose: an op queued once the writer is closed gets Closed
// at once.
func TestQueueAfterClose(t *testing.T) {
	w := Start(Options{MaxBatch: 1, Closed: errClosed}, (&recorder{}).commit)
	w.Close()
	var got error
	w.Queue(context.Background(), 1, func(err error) { got = err })
	if !errors.Is(got, errClosed) {
		t.Fatalf("queued after Close: %v, want %v", got, errClosed)
	}
}

// TestQueuedBeforeWaitingDos: an op queued while a batch commits goes into
// the next batch even when enough Do's wait to fill it, and is answered
// without any later write to wake the writer.
func TestQueuedBeforeWaitingDos(t *testing.T) {
	c := &recorder{hold: make(chan struct{}), started: make(chan struct{}, 10)}
	w := Start(Options{MaxBatch: 2, Closed: errClosed}, c.commit)
	defer w.Close()

	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Do(context.Background(), 0) }) // the first batch, held
	<-c.started
	queued := make(chan error, 1)
	w.Queue(context.Background(), 100, func(err error) { queued <- err })
	for _, op := range []int{1, 2} {
		wg.Go(func() { _ = w.Do(context.Background(), op) })
	}
	time.Sleep(20 * time.Millisecond) // the Do's wait behind the held batch
	close(c.hold)
	select {
	case err := <-queued:
		if err != nil {
			t.Fatalf("queued op: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the queued op was not answered: the writer lost its wake-up")
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.batches) < 2 || !slices.Contains(c.batches[1], 100) {
		t.Errorf("batches %v: the queued op should share the batch after the held one", c.batches)
	}
}
