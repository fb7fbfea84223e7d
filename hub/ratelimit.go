package hub

import "time"

// rateLimit allows rate events per second with bursts of burst; no limit
// when rate is not positive.
type rateLimit struct {
	rate  float64
	burst float64
}

// tokenBucket is one client's allowance under a rateLimit, which the owner
// keeps once for all its buckets: a session holds its bucket inline, and an
// idle server holds one per connection. It is not safe for concurrent use.
type tokenBucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last take
}

func newTokenBucket(l rateLimit, now time.Time) tokenBucket {
	return tokenBucket{tokens: l.burst, last: now.UnixNano()}
}

// take spends one token if there is one; otherwise it returns how long until
// there will be.
func (b *tokenBucket) take(l rateLimit, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	t := now.UnixNano()
	b.tokens = min(l.burst, b.tokens+float64(t-b.last)/float64(time.Second)*l.rate)
	b.last = t
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := (1 - b.tokens) / l.rate
	return false, time.Duration(wait * float64(time.Second))
}
