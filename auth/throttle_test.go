package auth

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// attempt asks th for an attempt and fails the test if it waits.
func attempt(tb testing.TB, th *Throttle, keys ...string) *Ticket {
	tb.Helper()
	tk, w := th.Attempt(keys...)
	if w != 0 || tk == nil {
		tb.Fatalf("attempt for %v: wait %v, want none", keys, w)
	}
	return tk
}

// waits returns how long keys must wait; when they need not, the attempt
// it made is taken back.
func waits(th *Throttle, keys ...string) time.Duration {
	tk, w := th.Attempt(keys...)
	if tk != nil {
		th.Refund(tk)
	}
	return w
}

func TestThrottleLockout(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	for range freeFailures {
		attempt(t, th, "k")
	}
	// The fifth failure locks the key for a second; from then on each
	// attempt that fails locks it twice as long as the one before, up to 15
	// minutes, and an attempt while locked changes nothing.
	want := time.Second
	for i := freeFailures; i < freeFailures+20; i++ {
		if _, w := th.Attempt("k"); w != want {
			t.Fatalf("after %d failures: wait %v, want %v", i, w, want)
		}
		c.Add(want / 2)
		if _, w := th.Attempt("k"); w != want-want/2 {
			t.Fatalf("after %d failures and %v: wait %v, want %v", i, want/2, w, want-want/2)
		}
		c.Add(want - want/2)
		attempt(t, th, "k")
		want = min(2*want, 15*time.Minute)
	}
	if want != maxLockout {
		t.Fatalf("the lockout never reached its cap: %v", want)
	}

	th.Clear("k")
	attempt(t, th, "k")
	if w := waits(th, "k"); w != 0 {
		t.Errorf("after Clear and one failure: wait %v, want none", w)
	}
}

// TestThrottleCountsAttemptsAsTheyBegin is the burst of guesses checked
// concurrently: only freeFailures of them may go ahead before any is known
// to have failed.
func TestThrottleCountsAttemptsAsTheyBegin(t *testing.T) {
	th := NewThrottle(newClock().Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 40 {
		wg.Go(func() {
			if tk, _ := th.Attempt("ip:10.0.0.1", "name:ann"); tk != nil {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != freeFailures {
		t.Errorf("%d of 40 concurrent attempts went ahead, want %d", allowed, freeFailures)
	}
}

func TestThrottleRefund(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	for range freeFailures - 1 {
		attempt(t, th, "ip:10.0.0.1", "name:ann")
	}
	// The fifth attempt locks both keys until it is known to have failed;
	// a right password takes that back...
	tk := attempt(t, th, "ip:10.0.0.1", "name:bob")
	if w := waits(th, "ip:10.0.0.1"); w != time.Second {
		t.Fatalf("during the fifth attempt: wait %v, want 1s", w)
	}
	th.Refund(tk)
	if w := waits(th, "ip:10.0.0.1"); w != 0 {
		t.Fatalf("after the refund: wait %v, want none", w)
	}
	// ...but not the address's earlier failures: the next failure from it
	// is its fifth.
	attempt(t, th, "ip:10.0.0.1", "name:cid")
	if w := waits(th, "ip:10.0.0.1"); w != time.Second {
		t.Errorf("after the refund and one more failure: wait %v, want 1s", w)
	}
	// A refund doesn't lift a lockout a later attempt set.
	c.Add(time.Second)
	first := attempt(t, th, "ip:10.0.0.1") // sixth failure: locked 2 s
	c.Add(2 * time.Second)
	attempt(t, th, "ip:10.0.0.1") // seventh: locked 4 s
	th.Refund(first)
	if w := waits(th, "ip:10.0.0.1"); w != 4*time.Second {
		t.Errorf("after refunding an earlier attempt: wait %v, want the later lockout's 4s", w)
	}
}

// TestThrottleRefundKeepsQuietKeysQuiet: logins that succeed don't keep an
// address's old failures alive; an hour after its last failure it starts
// over, however many right passwords came from it meanwhile.
func TestThrottleRefundKeepsQuietKeysQuiet(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	for range freeFailures - 1 {
		attempt(t, th, "ip:10.0.0.1")
	}
	for range 6 { // a right password every 20 minutes
		c.Add(20 * time.Minute)
		th.Refund(attempt(t, th, "ip:10.0.0.1"))
	}
	// Two hours after the last failure, four more are free again.
	for i := range freeFailures - 1 {
		attempt(t, th, "ip:10.0.0.1")
		if w := waits(th, "ip:10.0.0.1"); w != 0 {
			t.Fatalf("failure %d after two quiet hours: wait %v; the old failures should be forgotten", i+1, w)
		}
	}
}

func TestThrottleKeysAreIndependent(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	for range freeFailures + 2 {
		c.Add(maxLockout)
		attempt(t, th, "ip:10.0.0.1", "name:ann")
	}
	if waits(th, "ip:10.0.0.1") == 0 || waits(th, "name:ann") == 0 {
		t.Fatal("the failing keys are not locked")
	}
	if w := waits(th, "ip:10.0.0.2", "name:bob"); w != 0 {
		t.Errorf("other keys wait %v", w)
	}
	// Wait over several keys is the longest of theirs.
	if w := waits(th, "ip:10.0.0.2", "name:ann"); w != 4*time.Second {
		t.Errorf("a locked key among others: wait %v, want 4s", w)
	}
	th.Clear("name:ann")
	if waits(th, "name:ann") != 0 || waits(th, "ip:10.0.0.1") == 0 {
		t.Error("Clear cleared the wrong keys")
	}
}

func TestThrottleForgetsQuietKeys(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	for range freeFailures + 5 {
		c.Add(maxLockout)
		attempt(t, th, "k")
	}
	c.Add(forgetAfter + time.Second)
	attempt(t, th, "k")
	if w := waits(th, "k"); w != 0 {
		t.Errorf("a failure after an hour's quiet waits %v; the old failures should be forgotten", w)
	}
}

func TestThrottleBoundsTheMap(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	for i := range sweepAt + 1 {
		attempt(t, th, fmt.Sprintf("ip:%d", i))
	}
	if n := len(th.keys); n != sweepAt+1 {
		t.Fatalf("%d keys, want %d", n, sweepAt+1)
	}
	// Keys failing within the hour stay: they may be an attack in progress.
	c.Add(forgetAfter / 2)
	attempt(t, th, "recent")
	if n := len(th.keys); n != sweepAt+2 {
		t.Fatalf("after half an hour: %d keys, want all %d kept", n, sweepAt+2)
	}
	// Past the hour, the next attempt drops every quiet key.
	c.Add(forgetAfter/2 + time.Second)
	attempt(t, th, "new")
	if n := len(th.keys); n != 2 {
		t.Errorf("after the sweep: %d keys, want 2 (recent and new)", n)
	}

	// Within the hour the table stops at maxKeys, keeping locked keys.
	for range freeFailures {
		attempt(t, th, "locked")
	}
	for i := range maxKeys + 10 {
		attempt(t, th, fmt.Sprintf("ip:%d", i))
	}
	if n := len(th.keys); n > maxKeys || n < maxKeys/2 {
		t.Errorf("%d keys, want at most %d, and not most of them dropped", n, maxKeys)
	}
	if waits(th, "locked") == 0 {
		t.Error("a locked key was dropped while unlocked ones remained")
	}
}
