package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"runtime"
	"strings"
	"testing"
)

func TestFlagValidation(t *testing.T) {
	tests := []struct {
		args    []string
		mention string // the flag or problem the error must name
	}{
		{[]string{}, "no scenario"},
		{[]string{"nap"}, `"nap"`},
		{[]string{"idle", "--conns", "1", "--url", "ws://127.0.0.1:1/ws", "--report", "/nonexistent-dir/r.html"}, "--report"},
		{[]string{"fanout", "--receivers", "0"}, "--receivers"},
		{[]string{"fanout", "--publishers", "-1"}, "--publishers"},
		{[]string{"fanout", "--rate", "0"}, "--rate"},
		{[]string{"fanout", "--rate", "fast"}, "-rate"},
		{[]string{"fanout", "--size", "10"}, "--size"},
		{[]string{"fanout", "--duration", "1ms"}, "--duration"},
		{[]string{"fanout", "--rate", "1e7", "--duration", "1h"}, "messages"},
		{[]string{"fanout", "--room", "Bad Room"}, "--room"},
		{[]string{"fanout", "--proto", "v2"}, "--proto"},
		{[]string{"fanout", "--workers", "0"}, "--workers"},
		{[]string{"fanout", "--pid", "-3"}, "--pid"},
		{[]string{"fanout", "--no-such-flag"}, "no-such-flag"},
		{[]string{"fanout", "extra"}, `"extra"`},
		{[]string{"ramp", "--step", "x1"}, "--step"},
		{[]string{"ramp", "--step", "*3"}, "--step"},
		{[]string{"ramp", "--start", "1000", "--max", "10"}, "--max"},
		{[]string{"ramp", "--start", "1", "--step", "+1", "--max", "100000"}, "steps"},
		{[]string{"ramp", "--p99-bound", "0s"}, "--p99-bound"},
		{[]string{"idle", "--conns", "0"}, "--conns"},
		{[]string{"idle", "--rooms", "0"}, "--rooms"},
		{[]string{"sends", "--inflight", "0"}, "--inflight"},
		{[]string{"sends", "--inflight", "1,x"}, "--inflight"},
		{[]string{"sends", "--inflight", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"}, "at most 16"},
		{[]string{"sends", "--inflight", "1,2", "--p99-bound", "-1s"}, "--p99-bound"},
		{[]string{"sends", "--inflight", "4", "--p99-bound", "20ms"}, "a list"},
		{[]string{"sends", "--proto", "text"}, "parley.v1"},
		{[]string{"storm", "--missed", "1001"}, "--missed"},
		{[]string{"storm", "--proto", "text"}, "parley.v1"},
		{[]string{"soak", "--sample", "1h", "--duration", "1m"}, "--sample"},
		{[]string{"soak", "--churners", "0"}, "--churners"},
		{[]string{"fanout", "--url", "http://127.0.0.1/ws"}, "ws://"},
		{[]string{"fanout", "--url", "ws://example.com/ws"}, "--allow-remote"},
		{[]string{"fanout", "--url", "ws://10.0.0.1:9502/ws"}, "--allow-remote"},
		{[]string{"fanout", "--url", "ws://[::1]:1/ws", "--pid", "4194303"}, "--pid"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := Main(context.Background(), tt.args, &out, &errOut)
		if err == nil {
			t.Errorf("%v: no error", tt.args)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%v: error %q does not mention %q", tt.args, err, tt.mention)
		}
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%v: error %q does not wrap ErrUsage", tt.args, err)
		}
		if out.Len() > 0 {
			t.Errorf("%v: printed a result: %s", tt.args, out.String())
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"fanout", "--help"}, {"soak", "-h"}} {
		var out, errOut bytes.Buffer
		err := Main(context.Background(), args, &out, &errOut)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: %v, want flag.ErrHelp", args, err)
		}
		if !strings.Contains(errOut.String(), "Usage: parley bench") {
			t.Errorf("%v: no usage printed: %q", args, errOut.String())
		}
	}
	var errOut bytes.Buffer
	Main(context.Background(), []string{"fanout", "--help"}, &bytes.Buffer{}, &errOut)
	for _, f := range []string{"-receivers", "-publishers", "-rate", "-duration", "-size", "-url", "-proto", "-timeout", "-allow-remote", "-pid", "-json", "-report"} {
		if !strings.Contains(errOut.String(), f) {
			t.Errorf("fanout --help does not list %s", f)
		}
	}
}

func TestTarget(t *testing.T) {
	for _, u := range []string{"ws://127.0.0.1:9502/ws", "ws://127.8.9.10/ws", "ws://localhost:1/ws", "wss://LOCALHOST/ws", "ws://[::1]:80/ws"} {
		if _, err := parseTarget(u, false); err != nil {
			t.Errorf("%s: %v, want it allowed as loopback", u, err)
		}
	}
	for _, u := range []string{"ws://127.0.0.1.example.com/ws", "ws://192.168.1.2/ws", "ws://[::2]/ws", "ws://0.0.0.0/ws"} {
		if _, err := parseTarget(u, false); err == nil {
			t.Errorf("%s: allowed without --allow-remote", u)
		}
		if _, err := parseTarget(u, true); err != nil {
			t.Errorf("%s with --allow-remote: %v", u, err)
		}
	}
	tg, _ := parseTarget("wss://127.0.0.1:8443/chat/ws?x=1", false)
	if got := tg.metricsURL(); got != "https://127.0.0.1:8443/metrics" {
		t.Errorf("metricsURL = %s", got)
	}
	if got := tg.wsURL(map[string][]string{"name": {"a b"}}); got != "wss://127.0.0.1:8443/chat/ws?name=a+b&x=1" {
		t.Errorf("wsURL = %s", got)
	}
}

func TestDescriptorLimit(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no RLIMIT_NOFILE")
	}
	if err := ensureDescriptors(10); err != nil {
		t.Fatal(err)
	}
	err := ensureDescriptors(1 << 40)
	if err == nil || !strings.Contains(err.Error(), "hard limit is") || !strings.Contains(err.Error(), "descriptors per process") {
		t.Errorf("far too many connections: %v, want the hard limit named", err)
	}
}
