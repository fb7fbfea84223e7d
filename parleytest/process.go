package parleytest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a server that a helper started as a child of the test binary.
// Servers run in the foreground (postgres, not pg_ctl; redis-server without
// daemonize) so the helper knows their PID, can signal exactly them and
// sees them exit.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string        // the file holding its stdout and stderr
	exited chan struct{} // closed once the child has been waited for
}

// live holds every process started and not yet waited for, so StopServers
// can stop what a test's cleanup didn't.
var live struct {
	sync.Mutex
	procs map[*process]struct{}
}

// startProcess starts argv with its output appended to logPath. When
// runAs is non-nil the child runs as that account (PostgreSQL refuses to
// run as root). The child gets deathSig if the test binary dies without
// stopping it, say on a test timeout's panic, so no server outlives its
// tests.
func startProcess(name, logPath string, runAs *account, deathSig syscall.Signal, argv ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr(runAs, deathSig)
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}

	started := make(chan error, 1)
	go func() {
		// Linux sends the parent-death signal when the thread that forked
		// the child ends, not the process; Go may retire idle threads, so
		// this goroutine keeps its thread until the child is gone.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait() // a server stopped by a signal "fails"; the log says why
		live.Lock()
		delete(live.procs, p)
		live.Unlock()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	live.Lock()
	if live.procs == nil {
		live.procs = make(map[*process]struct{})
	}
	live.procs[p] = struct{}{}
	live.Unlock()
	return p, nil
}

// running reports whether the child has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends sig and waits up to wait for the child to exit, then kills it.
// A wait of 0 waits as long as it takes, for SIGKILL.
func (p *process) stop(sig os.Signal, wait time.Duration) error {
	if !p.running() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	if wait <= 0 {
		<-p.exited
		return nil
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(wait):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("stop %s: still running %v after %v; killed it", p.name, wait, sig)
}

// logTail returns the end of the process's log, for failure messages.
func (p *process) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// StopServers stops every server the helpers started that is still running
// (the shared PostgreSQL server among them) and removes its files. Call it
// from TestMain after m.Run: without it, a shared server lives until the
// test binary exits, and then dies by its parent-death signal, leaving its
// temporary directory behind.
func StopServers() {
	sharedPG.Lock()
	srv := sharedPG.srv
	sharedPG.srv, sharedPG.err = nil, nil
	sharedPG.Unlock()
	if srv != nil {
		_ = srv.Stop()
		_ = os.RemoveAll(srv.dir)
	}

	live.Lock()
	procs := make([]*process, 0, len(live.procs))
	for p := range live.procs {
		procs = append(procs, p)
	}
	live.Unlock()
	for _, p := range procs {
		_ = p.stop(os.Kill, 0)
	}
}

// freePort returns a loopback TCP port nobody listened on a moment ago.
// Another process may take it before the server does; callers retry.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
