package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Dialects.
const (
	protoV1   = "parley.v1"
	protoText = "text"
)

// env is what every scenario of one run shares.
type env struct {
	target  *target
	proto   string
	dial    *dialer
	pid     int    // the server's, 0 when not given
	run     uint32 // tells this run's messages and names from others
	workers int    // connections opened in parallel
	stderr  io.Writer
	prog    *progress

	mu       sync.Mutex
	warnings []string
}

func (e *env) v1() bool { return e.proto == protoV1 }

// warn prints a warning now and keeps it for the result.
func (e *env) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.warnings = append(e.warnings, msg)
	e.mu.Unlock()
	e.prog.println("warning: " + msg)
}

func (e *env) warningList() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.warnings...)
}

// room returns the room a scenario uses: the one given, or one of its own.
func (e *env) room(given, suffix string) string {
	if given != "" {
		return given
	}
	return fmt.Sprintf("bench-%08x%s", e.run, suffix)
}

// name returns a guest name for connection i of a kind (r receiver,
// p publisher, i idle, c client...): at most 17 characters.
func (e *env) name(kind byte, i int) string {
	return fmt.Sprintf("b%08x%c%d", e.run, kind, i)
}

// openMany calls open(i) for i in [0, n), e.workers at a time, showing
// progress; it stops at the first failure and returns it.
func (e *env) openMany(ctx context.Context, n int, what string, open func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, opened atomic.Int64
	e.prog.set(func() string { return fmt.Sprintf("connecting %s %d/%d", what, opened.Load(), n) })
	var wg sync.WaitGroup
	for range min(e.workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := open(ctx, i); err != nil {
					cancel(err)
					return
				}
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// waitFor polls cond every 5ms until it holds (true) or d passes or ctx
// ends (false).
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}
