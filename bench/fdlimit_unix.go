//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// fdMargin is the descriptors kept for everything besides the connections:
// standard streams, the /proc and /metrics reads, the runtime's poller.
const fdMargin = 64

// ensureDescriptors makes room for conns connections: it raises the soft
// RLIMIT_NOFILE to the hard limit when needed and fails, naming the limit,
// when even that is too low.
func ensureDescriptors(conns int) error {
	need := uint64(conns) + fdMargin
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("reading the file descriptor limit: %w", err)
	}
	if need <= uint64(lim.Cur) {
		return nil
	}
	if need > uint64(lim.Max) {
		return fmt.Errorf("%d connections need %d file descriptors (with %d spare), but this machine's hard limit is %d descriptors per process; open fewer connections or raise the hard limit (ulimit -Hn, LimitNOFILE=)", conns, need, fdMargin, uint64(lim.Max))
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising the file descriptor limit to %d: %w", uint64(lim.Max), err)
	}
	return nil
}
