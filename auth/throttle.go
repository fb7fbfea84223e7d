package auth

import (
	"sync"
	"time"
)

// Throttle slows password guessing: after freeFailures failed logins for a
// key (an IP address or an account name), each further attempt must wait,
// twice as long per failure, up to maxLockout. A success clears the key.
// It is safe for concurrent use.
type Throttle struct {
	now func() time.Time

	mu   sync.Mutex
	keys map[string]*attempts
}

type attempts struct {
	failures int
	last     time.Time
	until    time.Time // no attempt before this
}

const (
	freeFailures = 5
	maxLockout   = 15 * time.Minute
	// forgetAfter drops a key that has been quiet this long.
	forgetAfter = time.Hour
	// sweepAt bounds the map: past this many keys, quiet ones are dropped.
	sweepAt = 10000
)

// NewThrottle returns a throttle reading time from now (time.Now if nil).
func NewThrottle(now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{now: now, keys: make(map[string]*attempts)}
}

// Wait returns how long the keys must still wait before an attempt; zero
// means go ahead.
func (t *Throttle) Wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		if a := t.keys[k]; a != nil && a.until.After(now) {
			wait = max(wait, a.until.Sub(now))
		}
	}
	return wait
}

// Fail records a failed attempt for every key.
func (t *Throttle) Fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.keys) > sweepAt {
		for k, a := range t.keys {
			if now.Sub(a.last) > forgetAfter {
				delete(t.keys, k)
			}
		}
	}
	for _, k := range keys {
		a := t.keys[k]
		if a == nil || now.Sub(a.last) > forgetAfter {
			a = &attempts{}
			t.keys[k] = a
		}
		a.failures++
		a.last = now
		if over := a.failures - freeFailures; over >= 0 {
			lock := time.Second << min(over, 20)
			a.until = now.Add(min(lock, maxLockout))
		}
	}
}

// Succeed clears the keys.
func (t *Throttle) Succeed(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.keys, k)
	}
}
