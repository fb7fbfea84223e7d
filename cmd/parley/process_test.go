package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// buildBinary builds parley once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "parley-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "parley")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a parley serve process.
type proc struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startProcess(tb testing.TB, dataDir, addr string, extra ...string) *proc {
	tb.Helper()
	bin, err := buildBinary()
	if err != nil {
		tb.Fatal(err)
	}
	p := &proc{addr: addr, logs: &syncBuffer{}}
	p.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--data", dataDir}, extra...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			tb.Fatalf("parley did not listen on %s: %v\n%s", addr, err, p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAckedMessagesSurviveSIGKILL kills the server without warning and
// checks that every acknowledged message is still there after a restart.
func TestAckedMessagesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	data, addr := t.TempDir(), freeAddr(t)
	p := startProcess(t, data, addr, "--rate", "100000", "--burst", "100000")
	s := &testServer{addr: addr}

	var acked []int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		c := dial(t, s, queryName(fmt.Sprintf("w%d", w)))
		c.join("lobby", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				// Not sendJSON: it fails the test, and after the kill a
				// failing write is expected.
				msg := fmt.Sprintf(`{"type":"send","room":"lobby","text":"x","nonce":"w%d-%d"}`, w, i)
				if c.conn.WriteMessage(websocket.TextMessage, []byte(msg)) != nil {
					return
				}
				select {
				case f := <-c.frames:
					for f.str("type") != "ack" {
						select {
						case f = <-c.frames:
						case <-c.closed:
							return
						}
					}
					mu.Lock()
					acked = append(acked, f.num("seq"))
					mu.Unlock()
				case <-c.closed:
					return
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 10 {
		t.Fatalf("only %d messages acked before the kill", len(acked))
	}

	startProcess(t, data, addr)
	r := dial(t, s, queryName("reader"))
	r.join("lobby", ptr(int64(0)))
	stored := map[int64]bool{}
	for before := int64(0); ; {
		req := map[string]any{"type": "history", "room": "lobby", "limit": 200}
		if before > 0 {
			req["before"] = before
		}
		page := r.request(req)
		msgs := page["messages"].([]any)
		for _, m := range msgs {
			stored[int64(m.(map[string]any)["seq"].(float64))] = true
		}
		if page["more"] != true || len(msgs) == 0 {
			break
		}
		before = int64(msgs[0].(map[string]any)["seq"].(float64))
	}
	for _, seq := range acked {
		if !stored[seq] {
			t.Errorf("acknowledged seq %d lost in the crash", seq)
		}
	}
	for seq := int64(1); seq <= int64(len(stored)); seq++ {
		if !stored[seq] {
			t.Errorf("seq %d missing: the stored seqs have a gap", seq)
		}
	}
	t.Logf("%d acked, %d stored after SIGKILL", len(acked), len(stored))
}

func TestSIGTERMStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	addr := freeAddr(t)
	p := startProcess(t, t.TempDir(), addr)
	c := dial(t, &testServer{addr: addr}, queryName("alice"))
	c.join("lobby", nil)
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.closeCode(); code != 1001 {
		t.Errorf("close code %d, want 1001", code)
	}
	err := p.cmd.Wait()
	if err != nil || time.Since(start) > 10*time.Second {
		t.Errorf("exit: %v after %v, want status 0 within 10s\n%s", err, time.Since(start), p.logs)
	}
	logs := p.logs.String()
	for _, want := range []string{"connection opened", "connection closed", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if strings.Contains(logs, c.token()) {
		t.Error("the logs contain a token")
	}
}

func TestCommandLine(t *testing.T) {
	var out, errb bytes.Buffer
	env := func(k string) string {
		return map[string]string{"PARLEY_MAX_TEXT": "abc"}[k]
	}
	err := run(t.Context(), []string{"serve", "--data", t.TempDir()}, nil, &out, &errb, env)
	if err == nil || !strings.Contains(err.Error(), "PARLEY_MAX_TEXT") || exitCode(err) != 2 {
		t.Errorf("bad environment value: %v", err)
	}
	err = run(t.Context(), []string{"serve", "--log-format", "xml"}, nil, &out, &errb, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "--log-format") || exitCode(err) != 2 {
		t.Errorf("bad flag value: %v", err)
	}
	errb.Reset()
	err = run(t.Context(), []string{"serve", "--help"}, nil, &out, &errb, func(string) string { return "" })
	if exitCode(err) != 0 {
		t.Errorf("--help: %v", err)
	}
	for _, want := range []string{"-addr", ":9502", "-data", "./parley-data", "-guests", "-allowed-origins", "-max-text", "1024",
		"-heartbeat", "25s", "-rate", "-burst", "-queue-bytes", "1048576", "-log-format", "PARLEY_"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	out.Reset()
	if err := run(t.Context(), []string{"version"}, nil, &out, &errb, nil); err != nil || !strings.HasPrefix(out.String(), "parley ") {
		t.Errorf("version: %v %q", err, out.String())
	}
	if err := run(t.Context(), []string{"fly"}, nil, &out, &errb, nil); exitCode(err) != 2 {
		t.Errorf("unknown command: %v", err)
	}
	// The environment sets what the command line doesn't.
	var c serveConfig
	fs := newServeFlags(&c, &errb)
	if err := parseFlags(fs, []string{"--rate", "5"}, func(k string) string {
		return map[string]string{"PARLEY_ADDR": ":7000", "PARLEY_RATE": "9"}[k]
	}, false); err != nil || c.Addr != ":7000" || c.Rate != 5 {
		t.Errorf("env: %v %+v", err, c)
	}
}
