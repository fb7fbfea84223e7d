package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// soakConfig: a long mixed load, watching whether the server's memory and
// goroutines stay flat.
type soakConfig struct {
	duration, sample, warmup time.Duration
	idle, rooms              int
	receivers, publishers    int
	rate                     float64
	size                     int
	churners                 int
	joins, reconnects, hist  float64
}

func (c *soakConfig) flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.duration, "duration", 10*time.Minute, "how long the soak runs")
	fs.DurationVar(&c.sample, "sample", 10*time.Second, "how often to sample the server's memory (--pid) and goroutines (/metrics)")
	fs.DurationVar(&c.warmup, "warmup", 0, "samples before this are warm-up, not judged (default: a fifth of --duration)")
	fs.IntVar(&c.idle, "idle", 200, "idle connections held throughout")
	fs.IntVar(&c.rooms, "rooms", 10, "rooms the idle connections are spread over")
	fs.IntVar(&c.receivers, "receivers", 20, "fan-out receivers")
	fs.IntVar(&c.publishers, "publishers", 1, "fan-out publishers")
	fs.Float64Var(&c.rate, "rate", 20, "fan-out messages per second")
	fs.IntVar(&c.size, "size", 100, "message text `bytes`")
	fs.IntVar(&c.churners, "churners", 10, "connections that join, leave, reconnect and read history")
	fs.Float64Var(&c.joins, "joins", 2, "joins or leaves per second")
	fs.Float64Var(&c.reconnects, "reconnects", 0.5, "reconnects per second")
	fs.Float64Var(&c.hist, "history", 1, "history reads per second")
}

func (c *soakConfig) check(cm *common) error {
	k := &checker{}
	k.needV1(cm, "soak", "it joins, leaves and reads history")
	k.dur("duration", c.duration, time.Second, 7*24*time.Hour)
	k.dur("sample", c.sample, 100*time.Millisecond, c.duration)
	if c.warmup == 0 {
		c.warmup = c.duration / 5
	}
	k.dur("warmup", c.warmup, 0, c.duration)
	k.int("idle", c.idle, 0, maxConns)
	k.int("rooms", c.rooms, 1, maxConns)
	checkRig(k, c.receivers, c.publishers, c.size, "")
	k.float("rate", c.rate, 0.01, 1_000_000)
	k.messages("rate", c.rate, c.duration)
	k.int("churners", c.churners, 0, 100_000)
	k.float("joins", c.joins, 0, 10_000)
	k.float("reconnects", c.reconnects, 0, 10_000)
	k.float("history", c.hist, 0, 10_000)
	if c.churners == 0 && c.joins+c.reconnects+c.hist > 0 {
		k.fail("--joins, --reconnects and --history need --churners above 0")
	}
	return k.err
}

func (c *soakConfig) conns() int { return c.idle + c.receivers + c.publishers + c.churners + 1 }

func (c *soakConfig) planned() time.Duration { return c.duration + 10*time.Second }

type soakSample struct {
	TS         float64 `json:"t_s"`
	RSS        int64   `json:"rss_bytes,omitempty"`
	Goroutines float64 `json:"goroutines,omitempty"`
	ServerConn float64 `json:"server_connections,omitempty"`
}

// trend is whether a sampled value stayed flat after warm-up.
type trend struct {
	Measured bool    `json:"measured"`
	Flat     bool    `json:"flat"`
	First    float64 `json:"after_warmup"`
	Last     float64 `json:"last"`
	Growth   float64 `json:"fitted_growth"` // over the judged window, least squares
	Note     string  `json:"note"`
}

type soakResult struct {
	Scenario   string           `json:"scenario"`
	URL        string           `json:"url"`
	DurationS  float64          `json:"duration_s"`
	WarmupS    float64          `json:"warmup_s"`
	Idle       int              `json:"idle"`
	Receivers  int              `json:"receivers"`
	Churners   int              `json:"churners"`
	Ops        map[string]int64 `json:"ops"`
	LastOpErr  string           `json:"last_op_error,omitempty"` // what the last failed operation said
	Fanout     *phaseResult     `json:"fanout"`
	Samples    []soakSample     `json:"samples"`
	RSS        trend            `json:"rss"`
	Goroutines trend            `json:"goroutines"`
	Warnings   []string         `json:"warnings,omitempty"`
}

// churner is a connection that the soak's operations loop moves around.
type churner struct {
	idx     int
	token   string
	c       *client
	done    <-chan struct{}
	joined  bool
	replies chan reply
}

type reply struct {
	typ, id string
	err     *serverError
}

func (c *soakConfig) run(ctx context.Context, e *env) (*outcome, error) {
	room := e.room("", "-soak")
	idleG := newGroup()
	defer idleG.closeAll()
	churnG := newGroup()
	defer func() { churnG.closeAll() }()

	err := e.openMany(ctx, c.idle, "idle connections", func(ctx context.Context, i int) error {
		r := fmt.Sprintf("%s-idle-%d", room, i%c.rooms)
		cl, err := openClient(ctx, e, i, e.name('i', i), "", r, noSince, idleReadBuf, nil)
		if err != nil {
			return err
		}
		idleG.start(cl.conn, func([]byte) {})
		return nil
	})
	if err != nil {
		return nil, err
	}
	r, err := setupRig(ctx, e, c.receivers, c.publishers, c.size, room)
	defer r.close()
	if err != nil {
		return nil, err
	}
	churners := make([]*churner, c.churners)
	for i := range churners {
		ch := &churner{idx: c.idle + c.receivers + c.publishers + i}
		if err := c.connect(ctx, e, churnG, ch, room); err != nil {
			return nil, err
		}
		churners[i] = ch
	}

	soakCtx, stop := context.WithTimeout(ctx, c.duration)
	defer stop()
	var wg sync.WaitGroup
	var phaseRes *phaseResult
	var phaseErr error
	wg.Go(func() {
		phaseRes, phaseErr = r.runPhase(ctx, "soak", 0, c.rate, c.duration, 5*time.Second)
	})
	ops := map[string]*atomic.Int64{"joins": {}, "leaves": {}, "reconnects": {}, "history": {}, "errors": {}}
	var lastOpErr atomic.Pointer[string]
	if c.churners > 0 {
		wg.Go(func() { c.operate(soakCtx, e, churnG, churners, room, ops, &lastOpErr) })
	}
	samples, metricsErr := c.sampleLoop(soakCtx, e)
	wg.Wait()
	if phaseErr != nil && !errors.Is(phaseErr, context.DeadlineExceeded) {
		return nil, phaseErr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if metricsErr != nil {
		e.warn("goroutines not sampled: %v", metricsErr)
	}

	res := &soakResult{Scenario: "soak", URL: e.target.display, DurationS: c.duration.Seconds(), WarmupS: c.warmup.Seconds(),
		Idle: c.idle, Receivers: c.receivers, Churners: c.churners, Ops: map[string]int64{}, Fanout: phaseRes, Samples: samples}
	for k, v := range ops {
		res.Ops[k] = v.Load()
	}
	if msg := lastOpErr.Load(); msg != nil {
		res.LastOpErr = *msg
	}
	var ts, rss, gor []float64
	for _, s := range samples {
		ts = append(ts, s.TS)
		rss = append(rss, float64(s.RSS))
		gor = append(gor, s.Goroutines)
	}
	res.RSS = judge(ts, rss, c.warmup.Seconds(), 0.10, 16<<20, e.pid != 0)
	res.Goroutines = judge(ts, gor, c.warmup.Seconds(), 0.10, 10, metricsErr == nil && len(samples) > 0)
	res.Warnings = e.warningList()

	rows := []row{
		{"target", e.target.display},
		{"load", fmt.Sprintf("%d idle, %d receivers × %g msgs/s, %d churners (%g joins/leaves, %g reconnects, %g history reads per s)",
			c.idle, c.receivers, c.rate, c.churners, c.joins, c.reconnects, c.hist)},
		{"operations", fmt.Sprintf("joins %d, leaves %d, reconnects %d, history %d, errors %d",
			res.Ops["joins"], res.Ops["leaves"], res.Ops["reconnects"], res.Ops["history"], res.Ops["errors"])},
		{"server RSS", trendText(res.RSS, fmtBytes)},
		{"server goroutines", trendText(res.Goroutines, func(v int64) string { return fmt.Sprint(v) })},
	}
	if res.LastOpErr != "" {
		rows = append(rows, row{"last operation error", res.LastOpErr})
	}
	var lat *Histogram
	if phaseRes != nil {
		rows = append(rows, phaseRows(phaseRes)...)
		lat = phaseRes.hist
	}
	o := &outcome{
		Title:        fmt.Sprintf("soak: %s, sampled every %s, judged after %s", c.duration, c.sample, c.warmup),
		Result:       res,
		Rows:         rows,
		Latency:      lat,
		LatencyTitle: "Fan-out delivery latency over the whole soak",
	}
	o.Tables = []table{samplesTable(samples, 20)}
	if e.pid != 0 {
		mib := make([]float64, len(rss))
		for i, v := range rss {
			mib[i] = v / (1 << 20)
		}
		o.Charts = append(o.Charts, chart{Title: "Server RSS", YLabel: "MiB", X: ts, Lines: []line{{"RSS MiB", mib}}})
	}
	if res.Goroutines.Measured {
		o.Charts = append(o.Charts, chart{Title: "Server goroutines", YLabel: "goroutines", X: ts, Lines: []line{{"go_goroutines", gor}}})
	}
	if phaseRes != nil {
		o.Charts = append(o.Charts, throughputCharts(phaseRes)...)
	}
	if err := r.drops(); err != nil {
		o.Failure = err
	}
	return o, nil
}

// samplesTable shows at most n samples, evenly picked, the last included.
func samplesTable(samples []soakSample, n int) table {
	t := table{Title: "Server samples", Head: []string{"t", "RSS", "goroutines", "connections"}}
	for i := range min(n, len(samples)) {
		s := samples[i*(len(samples)-1)/max(min(n, len(samples))-1, 1)]
		t.Rows = append(t.Rows, []string{fmt.Sprintf("%.1fs", s.TS), fmtBytes(s.RSS), fmt.Sprint(s.Goroutines), fmt.Sprint(s.ServerConn)})
	}
	return t
}

// connect (re)opens a churner's connection in room.
func (c *soakConfig) connect(ctx context.Context, e *env, g *group, ch *churner, room string) error {
	cl, err := openClient(ctx, e, ch.idx, e.name('c', ch.idx), ch.token, room, noSince, 8<<10, nil)
	if err != nil {
		return err
	}
	if ch.token == "" {
		ch.token = cl.welcome.Token
	}
	ch.c, ch.joined = cl, true
	ch.replies = make(chan reply, 8)
	replies := ch.replies
	ch.done = g.start(cl.conn, func(data []byte) {
		f, ok := ScanFrame(data)
		if !ok {
			return
		}
		typ, _ := f.Str(fType)
		switch string(typ) {
		case "joined", "left", "history", "error", "pong":
			id, _ := f.Str(fID)
			rp := reply{typ: string(typ), id: string(id)}
			if rp.typ == "error" {
				rp.err = frameError(&f)
			}
			select {
			case replies <- rp:
			default:
			}
		}
	})
	return nil
}

// operate runs joins, leaves, reconnects and history reads at their rates
// until ctx ends, one at a time.
func (c *soakConfig) operate(ctx context.Context, e *env, g *group, churners []*churner, room string, ops map[string]*atomic.Int64, lastErr *atomic.Pointer[string]) {
	total := c.joins + c.reconnects + c.hist
	if total <= 0 {
		return
	}
	t := time.NewTicker(time.Duration(float64(time.Second) / total))
	defer t.Stop()
	var seq int
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seq++
		ch := churners[rand.IntN(len(churners))]
		var err error
		switch x := rand.Float64() * total; {
		case x < c.joins && ch.joined:
			err = ch.request(ctx, fmt.Sprintf(`{"type":"leave","id":"o%d","room":%q}`, seq, room), "left", fmt.Sprintf("o%d", seq))
			ch.joined = err != nil
			ops["leaves"].Add(1)
		case x < c.joins:
			err = ch.request(ctx, fmt.Sprintf(`{"type":"join","id":"o%d","room":%q}`, seq, room), "joined", fmt.Sprintf("o%d", seq))
			ch.joined = err == nil
			ops["joins"].Add(1)
		case x < c.joins+c.reconnects:
			ch.c.drop()
			<-ch.done
			err = c.connect(ctx, e, g, ch, room)
			ops["reconnects"].Add(1)
		default:
			if !ch.joined {
				if err = ch.request(ctx, fmt.Sprintf(`{"type":"join","id":"h%d","room":%q}`, seq, room), "joined", fmt.Sprintf("h%d", seq)); err == nil {
					ch.joined = true
				}
			}
			if err == nil {
				err = ch.request(ctx, fmt.Sprintf(`{"type":"history","id":"o%d","room":%q,"limit":50}`, seq, room), "history", fmt.Sprintf("o%d", seq))
			}
			ops["history"].Add(1)
		}
		if err != nil && ctx.Err() == nil && !past(ctx) {
			ops["errors"].Add(1)
			msg := err.Error()
			lastErr.Store(&msg)
		}
	}
}

// past reports whether ctx's deadline has passed. ctx.Err() says so only
// once the deadline's timer has run, which on a busy machine can be
// milliseconds late, while a dial compares the deadline with the clock and
// fails at once ("i/o timeout"): an operation begun as the soak ends must
// not count as an error.
func past(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// request sends a frame and waits for the reply of type want with id.
func (ch *churner) request(ctx context.Context, frame, want, id string) error {
	if ch.c == nil {
		return errors.New("not connected")
	}
	if err := ch.c.writeText([]byte(frame)); err != nil {
		return err
	}
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case rp := <-ch.replies:
			if rp.id != id {
				continue
			}
			if rp.err != nil {
				return rp.err
			}
			if rp.typ == want {
				return nil
			}
		case <-ch.done:
			return errors.New("the connection ended")
		case <-timeout.C:
			return fmt.Errorf("no %s reply within 5s", want)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sampleLoop samples the server every c.sample until ctx ends. The error
// says why goroutines could not be read, if they could not.
func (c *soakConfig) sampleLoop(ctx context.Context, e *env) ([]soakSample, error) {
	start := time.Now()
	metricsURL := e.target.metricsURL()
	var samples []soakSample
	var metricsErr error
	// A client of its own, so its idle connection ends with the soak.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	take := func() {
		s := soakSample{TS: round3(time.Since(start).Seconds())}
		if e.pid != 0 {
			s.RSS, _ = readRSS(e.pid)
		}
		if metricsErr == nil {
			m, err := scrapeMetrics(ctx, client, metricsURL, "go_goroutines", "parley_connections")
			if err != nil && ctx.Err() == nil {
				metricsErr = err
			}
			s.Goroutines, s.ServerConn = m["go_goroutines"], m["parley_connections"]
		}
		samples = append(samples, s)
		// The progress goroutine calls the closure: give it copies, not
		// the slice this goroutine keeps appending to.
		n, last := len(samples), s
		e.prog.set(func() string {
			return fmt.Sprintf("soak %4.0fs/%s  samples %d  rss %s  goroutines %.0f  server conns %.0f",
				time.Since(start).Seconds(), c.duration, n, fmtBytes(last.RSS), last.Goroutines, last.ServerConn)
		})
	}
	take()
	t := time.NewTicker(c.sample)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return samples, metricsErr
		case <-t.C:
			take()
		}
	}
}

// judge fits a line through the samples after warmup and calls the series
// flat when the fitted growth over that window stays within rel of its
// mean, or within abs.
func judge(ts, vs []float64, warmup, rel, abs float64, measured bool) trend {
	if !measured {
		return trend{Note: "not measured"}
	}
	var x, y []float64
	for i := range ts {
		if ts[i] >= warmup {
			x, y = append(x, ts[i]), append(y, vs[i])
		}
	}
	if len(x) < 3 {
		return trend{Measured: true, Note: fmt.Sprintf("only %d samples after warm-up; run longer or sample more often", len(x))}
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/float64(len(x)), my/float64(len(x))
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	slope := 0.0
	if sxx > 0 {
		slope = sxy / sxx
	}
	growth := slope * (x[len(x)-1] - x[0])
	tr := trend{Measured: true, First: y[0], Last: y[len(y)-1], Growth: math.Round(growth)}
	tr.Flat = growth <= math.Max(rel*my, abs)
	if tr.Flat {
		tr.Note = "flat after warm-up"
	} else {
		tr.Note = "grew after warm-up"
	}
	return tr
}

func trendText(t trend, f func(int64) string) string {
	if !t.Measured || t.Note != "flat after warm-up" && t.Note != "grew after warm-up" {
		return t.Note
	}
	return fmt.Sprintf("%s: %s → %s (fitted %s)", t.Note, f(int64(t.First)), f(int64(t.Last)), f(int64(t.Growth)))
}
