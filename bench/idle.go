package bench

import (
	"context"
	"flag"
	"fmt"
	"sync/atomic"
	"time"
)

// idleConfig: N connections that join rooms and then only answer pings.
type idleConfig struct {
	n     int
	rooms int
	hold  time.Duration
}

// idleReadBuf is an idle connection's read buffer: presence frames only.
const idleReadBuf = 2 << 10

func (c *idleConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.n, "conns", 1000, "connections to open")
	fs.IntVar(&c.rooms, "rooms", 10, "rooms to spread them over (parley.v1)")
	fs.DurationVar(&c.hold, "hold", 10*time.Second, "how long to hold them open once all are in")
}

func (c *idleConfig) check(cm *common) error {
	k := &checker{}
	k.int("conns", c.n, 1, maxConns)
	k.int("rooms", c.rooms, 1, maxConns)
	c.rooms = min(c.rooms, max(c.n, 1))
	k.dur("hold", c.hold, 0, 24*time.Hour)
	return k.err
}

func (c *idleConfig) conns() int { return c.n }

func (c *idleConfig) planned() time.Duration { return c.hold }

type idleResult struct {
	Scenario       string    `json:"scenario"`
	URL            string    `json:"url"`
	Proto          string    `json:"proto"`
	Conns          int       `json:"conns"`
	Rooms          int       `json:"rooms"`
	ConnectS       float64   `json:"connect_s"`
	ConnectPerS    float64   `json:"connects_per_s"`
	ConnectLatency Latency   `json:"connect_latency"`
	HoldS          float64   `json:"hold_s"`
	StillOpen      int64     `json:"still_open"`
	Dropped        int64     `json:"dropped"`
	RSSBefore      int64     `json:"server_rss_before_bytes,omitempty"`
	RSSConnected   int64     `json:"server_rss_connected_bytes,omitempty"`
	RSSAfter       int64     `json:"server_rss_after_bytes,omitempty"`
	RSSPerConn     int64     `json:"server_rss_per_conn_bytes,omitempty"`
	ServerCPUS     float64   `json:"server_cpu_s,omitempty"`
	RSSSeries      []float64 `json:"server_rss_mib_per_second,omitempty"`
	Warnings       []string  `json:"warnings,omitempty"`
}

func (c *idleConfig) run(ctx context.Context, e *env) (*outcome, error) {
	g := newGroup()
	defer g.closeAll()
	before, err := sampleProc(e.pid)
	if err != nil {
		return nil, err
	}
	hist := NewHistogram()
	var frames atomic.Int64
	t0 := time.Now()
	err = e.openMany(ctx, c.n, "idle connections", func(ctx context.Context, i int) error {
		start := time.Now()
		room := ""
		if e.v1() {
			room = fmt.Sprintf("%s-%d", e.room("", "-idle"), i%c.rooms)
		}
		cl, err := openClient(ctx, e, i, e.name('i', i), "", room, noSince, idleReadBuf, nil)
		if err != nil {
			return err
		}
		hist.Record(time.Since(start))
		g.start(cl.conn, func([]byte) { frames.Add(1) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	connect := time.Since(t0)
	connected, err := sampleProc(e.pid)
	if err != nil {
		return nil, err
	}

	// Hold, sampling the server's memory each second.
	var rss []float64
	holdStart := time.Now()
	e.prog.set(func() string {
		return fmt.Sprintf("holding %d connections %4.1fs/%s  dropped %d  frames %d",
			int64(c.n)-g.dropped.Load(), time.Since(holdStart).Seconds(), c.hold, g.dropped.Load(), frames.Load())
	})
	for time.Since(holdStart) < c.hold {
		if err := sleepCtx(ctx, min(time.Second, c.hold-time.Since(holdStart))); err != nil {
			return nil, err
		}
		if e.pid != 0 {
			if s, err := readRSS(e.pid); err == nil {
				rss = append(rss, float64(s)/(1<<20))
			}
		}
	}
	after, err := sampleProc(e.pid)
	if err != nil {
		return nil, err
	}
	n := int64(c.n)
	res := &idleResult{Scenario: "idle", URL: e.target.display, Proto: e.proto, Conns: c.n, Rooms: c.rooms,
		ConnectS: round3(connect.Seconds()), ConnectPerS: round1(float64(n) / connect.Seconds()),
		ConnectLatency: hist.Summary(), HoldS: c.hold.Seconds(),
		Dropped: g.dropped.Load(), StillOpen: n - g.dropped.Load(), RSSSeries: rss}
	if !e.v1() {
		res.Rooms = 1
	}
	rows := []row{
		{"target", e.target.display + " (" + e.proto + ")"},
		{"connections", fmt.Sprintf("%s in %d room(s)", fmtCount(n), res.Rooms)},
		{"connect time / rate", fmt.Sprintf("%.2fs / %s", connect.Seconds(), fmtRate(res.ConnectPerS))},
	}
	rows = append(rows, latencyRows("connect+join", res.ConnectLatency)...)
	rows = append(rows, row{"held / still open / dropped", fmt.Sprintf("%s / %s / %s", c.hold, fmtCount(res.StillOpen), fmtCount(res.Dropped))})
	if e.pid != 0 {
		res.RSSBefore, res.RSSConnected, res.RSSAfter = before.RSS, connected.RSS, after.RSS
		res.RSSPerConn = (after.RSS - before.RSS) / n
		res.ServerCPUS = round3((after.CPU - before.CPU).Seconds())
		rows = append(rows,
			row{"server RSS before / connected / after hold", fmt.Sprintf("%s / %s / %s", fmtBytes(before.RSS), fmtBytes(connected.RSS), fmtBytes(after.RSS))},
			row{"server RSS per connection", fmtBytes(res.RSSPerConn)},
			row{"server CPU", fmt.Sprintf("%.2fs", res.ServerCPUS)})
	}
	res.Warnings = e.warningList()
	o := &outcome{
		Title:        fmt.Sprintf("idle: %d connections, %d room(s), held %s", c.n, res.Rooms, c.hold),
		Result:       res,
		Rows:         rows,
		Latency:      hist,
		LatencyTitle: "Connect latency (TCP + WebSocket handshake + welcome + join)",
	}
	if len(rss) > 0 {
		o.Charts = []chart{{Title: "Server memory while holding", YLabel: "RSS MiB", X: perSecondX(len(rss)), Lines: []line{{"RSS MiB", rss}}}}
	}
	if err := g.drops(); err != nil {
		o.Failure = err
	}
	return o, nil
}
