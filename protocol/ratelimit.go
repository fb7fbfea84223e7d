package protocol

import (
	"time"

	"github.com/parleychat/parley"
)

// RateLimitError is an ERATELIMITED error that says when to retry.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string { return "rate_limited: retry after " + e.RetryAfter.String() }

// Unwrap gives the parley.Error so ErrorCode and ErrorMessage see the code.
func (e *RateLimitError) Unwrap() error {
	return parley.Errorf(parley.ERATELIMITED, "You are sending too fast; wait %d ms and try again.", max(e.RetryAfter.Milliseconds(), 1))
}
