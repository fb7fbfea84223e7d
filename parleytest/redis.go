package parleytest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a redis-server for one test, without persistence,
// listening on a loopback port. Its methods are safe for concurrent use.
type RedisServer struct {
	Addr string // host:port

	port int
	dir  string
	bin  string

	mu   sync.Mutex
	proc *process
}

// StartRedis starts a redis-server for tb, stopped and removed when tb
// ends. It fails tb, never skips it, when redis-server is not installed.
func StartRedis(tb testing.TB) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("parleytest: redis-server is not installed (not on PATH); %s", installHint)
	}
	dir, err := os.MkdirTemp("", "parleytest-redis-")
	if err != nil {
		tb.Fatalf("parleytest: %v", err)
	}
	r := &RedisServer{dir: dir, bin: bin}
	tb.Cleanup(func() {
		r.Kill() // nothing to keep: it has no persistence
		_ = os.RemoveAll(dir)
	})
	// Retry with a new port when another process took the free one first.
	for attempt := 0; ; attempt++ {
		if r.port, err = freePort(); err != nil {
			tb.Fatalf("parleytest: %v", err)
		}
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		r.mu.Lock()
		err = r.start()
		r.mu.Unlock()
		if err == nil {
			return r
		}
		if attempt == 2 {
			tb.Fatalf("parleytest: %v", err)
		}
	}
}

// Stop shuts the server down (SIGTERM) and waits for it to exit; clients
// then get "connection refused". Stopping a stopped server does nothing.
func (r *RedisServer) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	return r.proc.stop(syscall.SIGTERM, 10*time.Second)
}

// Kill ends the server at once (SIGKILL), as a crash would, and waits for
// it to exit.
func (r *RedisServer) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		_ = r.proc.stop(os.Kill, 0)
	}
}

// Restart stops the server if it runs and starts it again, empty, on the
// same port, waiting until it answers PING.
func (r *RedisServer) Restart() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		if err := r.proc.stop(syscall.SIGTERM, 10*time.Second); err != nil {
			return err
		}
	}
	return r.start()
}

// start runs redis-server and waits until it answers PING. r.mu is held.
func (r *RedisServer) start() error {
	proc, err := startProcess("redis-server", filepath.Join(r.dir, "redis.log"), nil, syscall.SIGKILL,
		r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	if err != nil {
		return err
	}
	r.proc = proc
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := PingRedis(r.Addr)
		if err == nil {
			return nil
		}
		if !proc.running() {
			return fmt.Errorf("redis-server on %s exited while starting:\n%s", r.Addr, proc.logTail())
		}
		if time.Now().After(deadline) {
			_ = proc.stop(os.Kill, 0)
			return fmt.Errorf("redis-server on %s not ready after 10s: %v\n%s", r.Addr, err, proc.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PingRedis sends PING to the Redis server at addr over a new connection
// and returns nil when it answers PONG. It speaks RESP itself so the
// helpers need no client library.
func PingRedis(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		// "-LOADING ..." while a server is starting, for one.
		return errors.New("redis answered PING with " + strconv.Quote(line))
	}
	return nil
}
