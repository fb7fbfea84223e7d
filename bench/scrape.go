package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scrapeMetrics reads the unlabelled samples named in want from a
// Prometheus text endpoint (Parley's /metrics).
func scrapeMetrics(ctx context.Context, client *http.Client, url string, want ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading %s: HTTP %d", url, resp.StatusCode)
	}
	return parseMetrics(io.LimitReader(resp.Body, 8<<20), want...)
}

func parseMetrics(r io.Reader, want ...string) (map[string]float64, error) {
	out := make(map[string]float64, len(want))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, w := range want {
			if name == w {
				value, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
				if v, err := strconv.ParseFloat(value, 64); err == nil {
					out[name] = v
				}
			}
		}
	}
	return out, sc.Err()
}

// The server's store latency histogram for appends (Parley's /metrics).
const (
	appendCountMetric  = `parley_store_seconds_count{op="append",outcome="ok"}`
	appendWithinMetric = `parley_store_seconds_bucket{op="append",outcome="ok",le="0.05"}`
	// slowAppend is the bucket bound above which an append counts as slow.
	slowAppend = 50 * time.Millisecond
)

// storeAppends is what a Parley server's /metrics says about its store's
// appends so far: how many, and how many took longer than slowAppend. A
// message is delivered once its append is committed, so a slow commit
// (its fsync) holds up every message waiting for it.
type storeAppends struct{ total, slow float64 }

// readStoreAppends scrapes the appends; ok is false when the server
// doesn't serve them (not Parley, or metrics unreachable).
func readStoreAppends(ctx context.Context, client *http.Client, url string) (storeAppends, bool) {
	m, err := scrapeMetrics(ctx, client, url, appendCountMetric, appendWithinMetric)
	total, ok1 := m[appendCountMetric]
	within, ok2 := m[appendWithinMetric]
	if err != nil || !ok1 || !ok2 {
		return storeAppends{}, false
	}
	return storeAppends{total: total, slow: total - within}, true
}
