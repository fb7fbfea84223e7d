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

func TestThrottleLockout(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	for i := 1; i < freeFailures; i++ {
		th.Fail("k")
		if w := th.Wait("k"); w != 0 {
			t.Fatalf("after %d failures: wait %v, want none", i, w)
		}
	}
	// From the fifth failure on, each further attempt waits twice as long
	// as the one before, up to 15 minutes.
	want := time.Second
	for i := freeFailures; i < freeFailures+20; i++ {
		th.Fail("k")
		if w := th.Wait("k"); w != want {
			t.Fatalf("after %d failures: wait %v, want %v", i, w, want)
		}
		c.Add(want / 2)
		if w := th.Wait("k"); w != want-want/2 {
			t.Fatalf("after %d failures and %v: wait %v, want %v", i, want/2, w, want-want/2)
		}
		c.Add(want - want/2)
		if w := th.Wait("k"); w != 0 {
			t.Fatalf("after %d failures, once the lockout passed: wait %v", i, w)
		}
		want = min(2*want, 15*time.Minute)
	}
	if want != maxLockout {
		t.Fatalf("the lockout never reached its cap: %v", want)
	}

	th.Succeed("k")
	th.Fail("k")
	if w := th.Wait("k"); w != 0 {
		t.Errorf("after a success and one failure: wait %v, want none", w)
	}
}

func TestThrottleKeysAreIndependent(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	for range freeFailures + 2 {
		th.Fail("ip:10.0.0.1", "name:ann")
	}
	if th.Wait("ip:10.0.0.1") == 0 || th.Wait("name:ann") == 0 {
		t.Fatal("the failing keys are not locked")
	}
	if w := th.Wait("ip:10.0.0.2", "name:bob"); w != 0 {
		t.Errorf("other keys wait %v", w)
	}
	// Wait over several keys is the longest of theirs.
	if w := th.Wait("ip:10.0.0.2", "name:ann"); w != 4*time.Second {
		t.Errorf("a locked key among others: wait %v, want 4s", w)
	}
	th.Succeed("name:ann")
	if th.Wait("name:ann") != 0 || th.Wait("ip:10.0.0.1") == 0 {
		t.Error("Succeed cleared the wrong keys")
	}
}

func TestThrottleForgetsQuietKeys(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	for range freeFailures + 5 {
		th.Fail("k")
	}
	c.Add(forgetAfter + time.Second)
	th.Fail("k")
	if w := th.Wait("k"); w != 0 {
		t.Errorf("a failure after an hour's quiet waits %v; the old failures should be forgotten", w)
	}
}

func TestThrottleSweepBoundsTheMap(t *testing.T) {
	c := newClock()
	th := NewThrottle(c.Now)
	keys := make([]string, sweepAt+1)
	for i := range keys {
		keys[i] = fmt.Sprintf("ip:%d", i)
	}
	th.Fail(keys...)
	if n := len(th.keys); n != sweepAt+1 {
		t.Fatalf("%d keys, want %d", n, sweepAt+1)
	}
	// Keys failing within the hour stay: they may be an attack in progress.
	c.Add(forgetAfter / 2)
	th.Fail("recent")
	if n := len(th.keys); n != sweepAt+2 {
		t.Fatalf("after half an hour: %d keys, want all %d kept", n, sweepAt+2)
	}
	// Past the hour, the next failure drops every quiet key.
	c.Add(forgetAfter/2 + time.Second)
	th.Fail("new")
	if n := len(th.keys); n != 2 {
		t.Errorf("after the sweep: %d keys, want 2 (recent and new)", n)
	}
}
