package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestProcSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	rss, err := readRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 64<<30 {
		t.Errorf("VmRSS of this test = %d bytes, not plausible", rss)
	}
	// Burn some CPU and see the counter move.
	cpu0, err := readCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the counter moves, not for a fixed wall time: on a busy
	// machine this test may get only a sliver of a core.
	var cpu1 time.Duration
	for start := time.Now(); ; {
		for x, spin := 0, time.Now(); time.Since(spin) < 20*time.Millisecond; x++ {
		}
		if cpu1, err = readCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if cpu1-cpu0 >= 50*time.Millisecond {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("10s of spinning moved CPU time by only %v", cpu1-cpu0)
		}
	}
	if d := cpu1 - cpu0; d > 10*time.Second {
		t.Errorf("CPU time moved by %v, not plausible", d)
	}
	if _, err := sampleProc(1 << 30); err == nil || !strings.Contains(err.Error(), "process") {
		t.Errorf("a missing process: %v, want an error naming the process", err)
	}
}

func TestParseProc(t *testing.T) {
	status := "Name:\tparley\nVmPeak:\t  99 kB\nVmRSS:\t   12345 kB\nThreads: 9\n"
	if rss, err := parseRSS([]byte(status)); err != nil || rss != 12345*1024 {
		t.Errorf("parseRSS = %d, %v", rss, err)
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: lots\n", "VmRSS: 12 MB\n"} {
		if _, err := parseRSS([]byte(bad)); err == nil {
			t.Errorf("parseRSS(%q) should fail", bad)
		}
	}
	// The command name may hold spaces and parentheses.
	stat := "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 9 0 100 1000000 300 18446744073709551615\n"
	if cpu, err := parseCPU([]byte(stat)); err != nil || cpu != 3800*time.Millisecond {
		t.Errorf("parseCPU = %v, %v; want (250+130) ticks = 3.8s", cpu, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u s"} {
		if _, err := parseCPU([]byte(bad)); err == nil {
			t.Errorf("parseCPU(%q) should fail", bad)
		}
	}
}

func TestParseBusy(t *testing.T) {
	stat := "cpu  100 5 50 9999 77 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	if d, err := parseBusy([]byte(stat)); err != nil || d != 1610*time.Millisecond {
		t.Errorf("parseBusy = %v, %v; want (100+5+50+3+2+1) ticks = 1.61s", d, err)
	}
	if _, err := parseBusy([]byte("intr 1 2 3\n")); err == nil {
		t.Error("parseBusy of a wrong line should fail")
	}
	if runtime.GOOS == "linux" {
		if d, err := readBusy(); err != nil || d <= 0 {
			t.Errorf("readBusy = %v, %v", d, err)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# HELP go_goroutines Number.\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_goroutines_extra 1\nparley_connections 7\nparley_errors_total{code=\"x\"} 3\n"
	m, err := parseMetrics(strings.NewReader(text), "go_goroutines", "parley_connections", "missing")
	if err != nil || m["go_goroutines"] != 42 || m["parley_connections"] != 7 || len(m) != 2 {
		t.Errorf("parseMetrics = %v, %v", m, err)
	}
}

// TestReadStoreAppends: a Parley server's append histogram gives the
// appends and those over 50ms; a server without it (a 404, or no such
// series) gives nothing, so the bench stops asking.
func TestReadStoreAppends(t *testing.T) {
	const parley = `# TYPE parley_store_seconds histogram
parley_store_seconds_bucket{op="append",outcome="ok",le="0.025"} 90
parley_store_seconds_bucket{op="append",outcome="ok",le="0.05"} 95
parley_store_seconds_bucket{op="append",outcome="ok",le="+Inf"} 100
parley_store_seconds_count{op="append",outcome="ok"} 100
parley_store_seconds_count{op="head",outcome="ok"} 7
`
	serve := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/metrics"
	}
	ctx := context.Background()
	if a, ok := readStoreAppends(ctx, http.DefaultClient, serve(http.StatusOK, parley)); !ok || a.total != 100 || a.slow != 5 {
		t.Errorf("from Parley's metrics: %+v, %v; want 100 appends, 5 slow", a, ok)
	}
	if a, ok := readStoreAppends(ctx, http.DefaultClient, serve(http.StatusNotFound, "no")); ok {
		t.Errorf("from a 404: %+v, want nothing", a)
	}
	if a, ok := readStoreAppends(ctx, http.DefaultClient, serve(http.StatusOK, "go_goroutines 3\n")); ok {
		t.Errorf("from metrics without the histogram: %+v, want nothing", a)
	}
}

func TestJudge(t *testing.T) {
	ts := []float64{0, 10, 20, 30, 40, 50}
	flat := judge(ts, []float64{50, 100, 101, 99, 100, 101}, 10, 0.1, 0, true)
	if !flat.Flat || flat.First != 100 {
		t.Errorf("flat series judged %+v", flat)
	}
	grow := judge(ts, []float64{100, 100, 150, 200, 250, 300}, 10, 0.1, 0, true)
	if grow.Flat || grow.Growth < 150 {
		t.Errorf("growing series judged %+v", grow)
	}
	if few := judge(ts[:3], []float64{1, 2, 3}, 10, 0.1, 0, true); few.Flat || !strings.Contains(few.Note, "only") {
		t.Errorf("too few samples judged %+v", few)
	}
}
