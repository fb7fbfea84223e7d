//go:build !unix

package sqlite_test

import "time"

// cpuTime is not measured here: the benchmark reports 0 CPU per message.
func cpuTime() time.Duration { return 0 }
