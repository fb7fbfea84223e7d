package parleytest

import "syscall"

func childAttr(runAs *account, deathSig syscall.Signal) *syscall.SysProcAttr {
	// Go sets the death signal after switching credentials, which would
	// otherwise clear it.
	a := &syscall.SysProcAttr{Pdeathsig: deathSig}
	if runAs != nil {
		a.Credential = &syscall.Credential{Uid: runAs.uid, Gid: runAs.gid}
	}
	return a
}
