package auth

import (
	"sync"
	"time"
)

// Throttle slows password guessing: after freeFailures failed logins for a
// key (an IP address or an account name), each further attempt must wait,
// twice as long per failure, up to maxLockout. It is safe for concurrent use.
//
// An attempt is counted as a failure when it begins, not when its password
// turns out wrong: checking a password takes tens of milliseconds, and a
// burst of concurrent guesses would otherwise all be checked before the
// first failure was recorded. A right password takes its attempt back
// (Refund).
type Throttle struct {
	now func() time.Time

	mu        sync.Mutex
	keys      map[string]*attempts
	nextSweep time.Time
}

type attempts struct {
	failures int
	last     time.Time
	until    time.Time // no attempt before this
}

// Ticket is one attempt that Attempt counted, for Refund to take back.
type Ticket struct {
	at   time.Time
	keys []counted
}

// counted is what an attempt changed of one key, and what it replaced.
type counted struct {
	key            string
	lock, replaced time.Time // the lockout it set (zero if none), and the one before
	// last is the key's last failure before the attempt, so that a refunded
	// attempt doesn't keep the key from going quiet.
	last time.Time
}

const (
	freeFailures = 5
	maxLockout   = 15 * time.Minute
	// forgetAfter drops a key that has been quiet this long.
	forgetAfter = time.Hour
	// sweepAt bounds the map: past this many keys, quiet ones are dropped,
	// at most every sweepEvery.
	sweepAt    = 10000
	sweepEvery = time.Minute
	// maxKeys bounds it when too many keys failed within the hour (many
	// addresses, say): unlocked keys go first, then any.
	maxKeys = 100000
)

// NewThrottle returns a throttle reading time from now (time.Now if nil).
func NewThrottle(now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{now: now, keys: make(map[string]*attempts)}
}

// Attempt asks to try a password for keys. When one of them is locked it
// returns how long it must still wait, and counts nothing. Otherwise it
// counts the attempt as a failure of every key, locking the keys the
// failure would lock, and returns the ticket that Refund takes back.
func (t *Throttle) Attempt(keys ...string) (*Ticket, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		if a := t.keys[k]; a != nil && a.until.After(now) {
			wait = max(wait, a.until.Sub(now))
		}
	}
	if wait > 0 {
		return nil, wait
	}
	t.bound(now)
	tk := &Ticket{at: now, keys: make([]counted, len(keys))}
	for i, k := range keys {
		a := t.keys[k]
		if a == nil || now.Sub(a.last) > forgetAfter {
			a = &attempts{}
			t.keys[k] = a
		}
		c := &tk.keys[i]
		c.key = k
		a.failures++
		c.last, a.last = a.last, now
		if over := a.failures - freeFailures; over >= 0 {
			lock := time.Second << min(over, 20)
			c.replaced = a.until
			a.until = now.Add(min(lock, maxLockout))
			c.lock = a.until
		}
	}
	return tk, 0
}

// Refund takes back the failure that tk counted, and the lockout it set and
// the time it left as the last failure, unless a later attempt has set
// others. The keys keep their earlier failures: a right password for one
// name says nothing about the other names tried from the same address;
// they are forgotten an hour after the last one.
func (t *Throttle) Refund(tk *Ticket) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range tk.keys {
		a := t.keys[c.key]
		if a == nil {
			continue // cleared or swept since
		}
		a.failures = max(a.failures-1, 0)
		if !c.lock.IsZero() && a.until.Equal(c.lock) {
			a.until = c.replaced
		}
		if a.last.Equal(tk.at) {
			a.last = c.last
		}
	}
}

// Clear forgets keys: an account's name once its owner logged in.
func (t *Throttle) Clear(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.keys, k)
	}
}

// bound keeps the map's size in check, at a cost per attempt that stays
// small however many keys there are: past sweepAt keys it drops those quiet
// for an hour, once every sweepEvery; at maxKeys it drops a quarter of
// them, unlocked keys first.
func (t *Throttle) bound(now time.Time) {
	if len(t.keys) > sweepAt && !now.Before(t.nextSweep) {
		t.nextSweep = now.Add(sweepEvery)
		for k, a := range t.keys {
			if now.Sub(a.last) > forgetAfter {
				delete(t.keys, k)
			}
		}
	}
	if len(t.keys) < maxKeys {
		return
	}
	keep := maxKeys * 3 / 4
	for k, a := range t.keys {
		if len(t.keys) <= keep {
			return
		}
		if !a.until.After(now) {
			delete(t.keys, k)
		}
	}
	for k := range t.keys {
		if len(t.keys) <= keep {
			return
		}
		delete(t.keys, k)
	}
}
