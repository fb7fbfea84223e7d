//go:build !linux

package parleytest

import "syscall"

// childAttr has no parent-death signal off Linux: servers then outlive a
// test binary that dies without calling StopServers. Running as another
// account is only needed as root on Linux CI machines.
func childAttr(runAs *account, deathSig syscall.Signal) *syscall.SysProcAttr {
	return nil
}
