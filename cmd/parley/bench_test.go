package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/bench"
)

// These run "parley bench" against a real server, small, and check that
// the instrument's numbers add up: a correct server loses, repeats and
// reorders nothing.

// benchServer is a server whose rate limit is out of the benchmark's way.
func benchServer(tb testing.TB) *testServer {
	tb.Helper()
	return startServer(tb, func(c *serveConfig) { c.Rate, c.Burst = 1e6, 1e6 })
}

// runBench runs bench.Main with args and decodes its --json output.
func runBench(tb testing.TB, args ...string) map[string]any {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := bench.Main(ctx, append(args, "--json"), &stdout, &stderr); err != nil {
		tb.Fatalf("bench %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	var res map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		tb.Fatalf("bench %s printed no JSON: %v\n%s", args[0], err, stdout.String())
	}
	return res
}

func num(tb testing.TB, res map[string]any, path string) float64 {
	tb.Helper()
	var v any = res
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			tb.Fatalf("%s: %v is not an object", path, v)
		}
		v = m[k]
	}
	f, ok := v.(float64)
	if !ok {
		tb.Fatalf("%s = %v (%T), want a number", path, v, v)
	}
	return f
}

// assertClean checks a fan-out result: everything expected arrived, once,
// in order.
func assertClean(tb testing.TB, res map[string]any, wantExpected float64) {
	tb.Helper()
	for _, k := range []string{"lost", "duplicated", "out_of_order", "refused", "connections_dropped"} {
		if v := num(tb, res, k); v != 0 {
			tb.Errorf("%s = %v, want 0 (result %v)", k, v, res)
		}
	}
	if exp, got := num(tb, res, "expected"), num(tb, res, "delivered"); exp != wantExpected || got != exp {
		tb.Errorf("expected %v, delivered %v; want both %v", exp, got, wantExpected)
	}
	p50, p99, mx := num(tb, res, "latency.p50_ms"), num(tb, res, "latency.p99_ms"), num(tb, res, "latency.max_ms")
	if !(p50 > 0 && p50 <= p99 && p99 <= mx && mx < 5000) {
		tb.Errorf("latency p50 %v p99 %v max %v ms: want 0 < p50 ≤ p99 ≤ max < 5s", p50, p99, mx)
	}
}

func TestBenchFanout(t *testing.T) {
	s := benchServer(t)
	report := filepath.Join(t.TempDir(), "fanout.html")
	res := runBench(t, "fanout", "--url", s.wsURL(""), "--receivers", "20", "--publishers", "2",
		"--rate", "200", "--duration", "2s", "--pid", strconv.Itoa(os.Getpid()), "--report", report)
	assertClean(t, res, 400*20)
	if v := num(t, res, "sent"); v != 400 {
		t.Errorf("sent = %v, want 200 msgs/s × 2s = 400", v)
	}
	if v := num(t, res, "deliveries_per_s"); v < 3000 || v > 5000 {
		t.Errorf("deliveries_per_s = %v, want about 200 × 20 = 4000", v)
	}
	if v := num(t, res, "server_cpu_s_per_million_deliveries"); v <= 0 {
		t.Errorf("server_cpu_s_per_million_deliveries = %v, want > 0", v)
	}
	// Read from the server's /metrics around the phase: one append per
	// message sent during it.
	if v := num(t, res, "store_appends"); v != 400 {
		t.Errorf("store_appends = %v, want the 400 messages sent", v)
	}
	if v := num(t, res, "store_appends_over_50ms"); v < 0 || v > 400 {
		t.Errorf("store_appends_over_50ms = %v, want between 0 and 400", v)
	}
	page, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "<polyline", "Delivery latency"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the report has no %q", want)
		}
	}
	for _, external := range []string{"<script", "http://", "https://"} {
		if bytes.Contains(bytes.ReplaceAll(page, []byte(`xmlns="http://www.w3.org/2000/svg"`), nil), []byte(external)) {
			t.Errorf("the report refers to something external: %q", external)
		}
	}
}

func TestBenchFanoutTextMode(t *testing.T) {
	s := benchServer(t)
	res := runBench(t, "fanout", "--proto", "text", "--url", s.wsURL(""), "--receivers", "20", "--publishers", "2",
		"--rate", "100", "--duration", "1s")
	assertClean(t, res, 100*20)
	if res["proto"] != "text" || res["room"] != "lobby" {
		t.Errorf("proto %v room %v, want text in the lobby", res["proto"], res["room"])
	}
}

// With --compression on both sides every delivery arrives compressed and is
// inflated before the bench reads it; against a server without the flag the
// bench says what is missing.
func TestBenchFanoutCompressed(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Rate, c.Burst, c.Compression = 1e6, 1e6, true })
	res := runBench(t, "fanout", "--compression", "--url", s.wsURL(""), "--receivers", "20", "--publishers", "2",
		"--rate", "100", "--duration", "1s")
	assertClean(t, res, 100*20)

	plain := benchServer(t)
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := bench.Main(ctx, []string{"fanout", "--compression", "--url", plain.wsURL(""), "--duration", "1s"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--compression") {
		t.Errorf("a server without --compression: %v, want an error naming --compression", err)
	}
}

func TestBenchSends(t *testing.T) {
	s := benchServer(t)
	res := runBench(t, "sends", "--url", s.wsURL(""), "--conns", "4", "--duration", "2s")
	acked, sent := num(t, res, "acked"), num(t, res, "sent")
	if acked < 20 || acked != sent {
		t.Errorf("sent %v, acked %v: want every send acked, and more than a few", sent, acked)
	}
	if v := num(t, res, "acked_per_s"); v < 10 {
		t.Errorf("acked_per_s = %v", v)
	}
	if p50, p99 := num(t, res, "ack_latency.p50_ms"), num(t, res, "ack_latency.p99_ms"); !(p50 > 0 && p50 <= p99) {
		t.Errorf("ack latency p50 %v p99 %v", p50, p99)
	}
	if errs, _ := res["errors"].(map[string]any); len(errs) > 0 {
		t.Errorf("errors: %v", errs)
	}
}

// TestBenchSendsDepths runs sends at two depths in turn: each is measured
// on its own, the best is the fastest that held, and a bound no depth can
// meet leaves none.
func TestBenchSendsDepths(t *testing.T) {
	s := benchServer(t)
	res := runBench(t, "sends", "--url", s.wsURL(""), "--conns", "4", "--inflight", "1,4", "--duration", "1s")
	steps, _ := res["steps"].([]any)
	if len(steps) != 2 {
		t.Fatalf("steps = %v, want two", res["steps"])
	}
	fastest := 0.0
	for i, want := range []float64{1, 4} {
		step := steps[i].(map[string]any)
		if got := num(t, step, "inflight"); got != want {
			t.Errorf("step %d: inflight %v, want %v", i, got, want)
		}
		if acked, sent := num(t, step, "acked"), num(t, step, "sent"); acked < 20 || acked != sent {
			t.Errorf("step %d: sent %v, acked %v", i, sent, acked)
		}
		if held, _ := step["held"].(bool); !held {
			t.Errorf("step %d did not hold without a bound: %v", i, step["reason"])
		}
		fastest = max(fastest, num(t, step, "acked_per_s"))
	}
	if got := num(t, res, "best.acked_per_s"); got != fastest {
		t.Errorf("best acked_per_s = %v, want the fastest step's %v", got, fastest)
	}

	res = runBench(t, "sends", "--url", s.wsURL(""), "--conns", "2", "--inflight", "1,2", "--duration", "300ms", "--p99-bound", "1us")
	if res["best"] != nil {
		t.Errorf("best = %v under a 1µs bound, want none", res["best"])
	}
	for _, st := range res["steps"].([]any) {
		if reason, _ := st.(map[string]any)["reason"].(string); !strings.Contains(reason, "over the 1µs bound") {
			t.Errorf("reason %q, want the p99 bound named", reason)
		}
	}
}

func TestBenchStorm(t *testing.T) {
	s := benchServer(t)
	res := runBench(t, "storm", "--url", s.wsURL(""), "--conns", "50", "--missed", "20")
	for _, k := range []string{"lost", "duplicated", "out_of_order", "reconnect_failures"} {
		if v := num(t, res, k); v != 0 {
			t.Errorf("%s = %v, want 0", k, v)
		}
	}
	if v := num(t, res, "resumed"); v != 50 {
		t.Errorf("resumed = %v, want all 50", v)
	}
	if v := num(t, res, "head"); v != 23 {
		t.Errorf("head = %v, want 3 warm-up + 20 missed", v)
	}
	if v := num(t, res, "resume_all_s"); v <= 0 || v > 10 {
		t.Errorf("resume_all_s = %v", v)
	}
}

func TestBenchIdle(t *testing.T) {
	s := benchServer(t)
	res := runBench(t, "idle", "--url", s.wsURL(""), "--conns", "200", "--rooms", "4", "--hold", "500ms",
		"--pid", strconv.Itoa(os.Getpid()))
	if v := num(t, res, "still_open"); v != 200 {
		t.Errorf("still_open = %v, want 200", v)
	}
	if v := num(t, res, "dropped"); v != 0 {
		t.Errorf("dropped = %v", v)
	}
	if v := num(t, res, "connects_per_s"); v <= 0 {
		t.Errorf("connects_per_s = %v", v)
	}
	if before, after := num(t, res, "server_rss_before_bytes"), num(t, res, "server_rss_after_bytes"); before <= 0 || after <= 0 {
		t.Errorf("rss before %v after %v, want both read", before, after)
	}
	if _, ok := res["server_rss_per_conn_bytes"]; !ok {
		t.Errorf("no server_rss_per_conn_bytes in %v", res)
	}
}

func TestBenchRefusals(t *testing.T) {
	s := benchServer(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	err := bench.Main(ctx, []string{"fanout", "--url", "ws://example.com/ws"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Errorf("remote target: %v, want a refusal naming --allow-remote", err)
	}
	err = bench.Main(ctx, []string{"fanout", "--url", "ws://127.0.0.1:1/ws", "--duration", "1s"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "ws://127.0.0.1:1/ws") {
		t.Errorf("nothing listening: %v, want connection refused naming the URL", err)
	}
	err = bench.Main(ctx, []string{"fanout", "--url", s.wsURL("token=nonsense"), "--duration", "1s"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("refused handshake: %v, want the HTTP status", err)
	}
}

func TestBenchSoak(t *testing.T) {
	s := benchServer(t)
	res := runBench(t, "soak", "--url", s.wsURL(""), "--duration", "3s", "--sample", "300ms", "--warmup", "1s",
		"--idle", "20", "--receivers", "5", "--rate", "20", "--churners", "3", "--joins", "5", "--reconnects", "2", "--history", "3",
		"--pid", strconv.Itoa(os.Getpid()))
	assertClean(t, res["fanout"].(map[string]any), num(t, res, "fanout.sent")*5)
	if v := num(t, res, "ops.errors"); v != 0 {
		t.Errorf("operation errors: %v; the last: %v", res["ops"], res["last_op_error"])
	}
	if num(t, res, "ops.reconnects")+num(t, res, "ops.history")+num(t, res, "ops.joins")+num(t, res, "ops.leaves") < 10 {
		t.Errorf("too few operations: %v", res["ops"])
	}
	for _, k := range []string{"rss", "goroutines"} {
		if m, _ := res[k].(map[string]any); m["measured"] != true {
			t.Errorf("%s not measured: %v", k, res[k])
		}
	}
}
