package bench

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sendsConfig: C connections each sending as fast as acks come back, with
// one depth of sends in flight per connection, or several in turn.
type sendsConfig struct {
	n, rooms, size int
	inflight       string // as given: one depth, or a comma-separated list
	depths         []int  // from inflight
	duration       time.Duration
	p99Bound       time.Duration
}

// maxDepths bounds the depths one run tries.
const maxDepths = 16

func (c *sendsConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.n, "conns", 64, "sending connections")
	fs.IntVar(&c.rooms, "rooms", 0, "rooms they send into (default: one per connection)")
	fs.StringVar(&c.inflight, "inflight", "1", "sends each connection keeps waiting for an ack; a list (1,2,4,8) runs each in turn, on new connections, and reports the best")
	fs.IntVar(&c.size, "size", 100, "message text `bytes`")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send (at each depth)")
	fs.DurationVar(&c.p99Bound, "p99-bound", 0, "with a list of depths, the best is the most acks/s whose p99 stays within this (default: no bound)")
}

func (c *sendsConfig) check(cm *common) error {
	k := &checker{}
	k.needV1(cm, "sends", "text mode has no acks")
	k.int("conns", c.n, 1, maxConns)
	if c.rooms == 0 {
		c.rooms = c.n
	}
	k.int("rooms", c.rooms, 1, c.n)
	c.depths = c.depths[:0]
	for _, f := range strings.Split(c.inflight, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || d < 1 || d > 1024 {
			k.fail("--inflight %q: each depth must be a whole number from 1 to 1024", c.inflight)
			break
		}
		c.depths = append(c.depths, d)
	}
	if len(c.depths) > maxDepths {
		k.fail("--inflight %q: at most %d depths", c.inflight, maxDepths)
	}
	k.int("size", c.size, minPayload, 1<<20)
	k.dur("duration", c.duration, 100*time.Millisecond, 24*time.Hour)
	if c.p99Bound != 0 {
		k.dur("p99-bound", c.p99Bound, time.Microsecond, time.Hour)
		if len(c.depths) == 1 {
			k.fail("--p99-bound picks the best of several depths: give --inflight a list (1,2,4,8)")
		}
	}
	return k.err
}

func (c *sendsConfig) conns() int { return c.n }

func (c *sendsConfig) planned() time.Duration {
	return time.Duration(max(len(c.depths), 1)) * (c.duration + 5*time.Second)
}

// sender is one connection of the sends scenario. Its writer goroutine
// takes a slot per send; the read loop gives it back on the ack.
type sender struct {
	idx   int
	c     *client
	room  string
	slots chan struct{}
	// ring holds the send time of recent ids, indexed by id & mask.
	mu    sync.Mutex
	ring  []sendSlot
	mask  int64
	sent  atomic.Int64
	acked atomic.Int64
	// backoff is when the server said sending may resume (unix nanos).
	backoff atomic.Int64
}

type sendSlot struct {
	id   int64
	sent int64
}

type sendsResult struct {
	Scenario  string           `json:"scenario"`
	URL       string           `json:"url"`
	Conns     int              `json:"conns"`
	Rooms     int              `json:"rooms"`
	Inflight  int              `json:"inflight"`
	Size      int              `json:"size"`
	DurationS float64          `json:"duration_s"`
	Sent      int64            `json:"sent"`
	Acked     int64            `json:"acked"`
	Errors    map[string]int64 `json:"errors"`
	AckedPerS float64          `json:"acked_per_s"`
	Latency   Latency          `json:"ack_latency"`
	ServerCPU float64          `json:"server_cpu_s,omitempty"`
	Dropped   int64            `json:"connections_dropped"`
	AckSeries []float64        `json:"acked_per_second"`
	Warnings  []string         `json:"warnings,omitempty"`
}

// sendsSweep is the result of a run over several depths.
type sendsSweep struct {
	Scenario   string      `json:"scenario"`
	URL        string      `json:"url"`
	Conns      int         `json:"conns"`
	Rooms      int         `json:"rooms"`
	Size       int         `json:"size"`
	DurationS  float64     `json:"duration_s"`
	P99BoundMS float64     `json:"p99_bound_ms,omitempty"`
	Best       *sendsStep  `json:"best"` // nil when no depth held
	Steps      []sendsStep `json:"steps"`
	Warnings   []string    `json:"warnings,omitempty"`
}

type sendsStep struct {
	Held   bool   `json:"held"`
	Reason string `json:"reason,omitempty"`
	*sendsResult
}

func (c *sendsConfig) run(ctx context.Context, e *env) (*outcome, error) {
	if len(c.depths) == 1 {
		o, _, err := c.measure(ctx, e, c.depths[0], "")
		return o, err
	}
	return c.sweep(ctx, e)
}

// sweep measures each depth in turn, on new connections and rooms, and
// finds the one with the most acks/s among those that held.
func (c *sendsConfig) sweep(ctx context.Context, e *env) (*outcome, error) {
	out := &sendsSweep{Scenario: "sends", URL: e.target.display, Conns: c.n, Rooms: c.rooms, Size: c.size,
		DurationS: c.duration.Seconds(), P99BoundMS: ms(c.p99Bound)}
	var best *outcome
	bestIdx := -1
	var failure error
	t := table{Title: "Depths", Head: []string{"in flight", "acked/s", "p50", "p99", "p99.9", "max", "server CPU per ack", "held"}}
	var rates, x []float64
	for i, depth := range c.depths {
		o, res, err := c.measure(ctx, e, depth, fmt.Sprintf("-f%d", i+1))
		if err != nil {
			return nil, err
		}
		why := c.verdict(res, o.Failure)
		failure = cmp.Or(failure, o.Failure)
		step := sendsStep{Held: why == "", Reason: why, sendsResult: res}
		res.Warnings = nil // the sweep's own list has them
		out.Steps = append(out.Steps, step)
		if step.Held && (bestIdx < 0 || res.AckedPerS > out.Steps[bestIdx].AckedPerS) {
			bestIdx, best = len(out.Steps)-1, o
		}
		held := "yes"
		if !step.Held {
			held = "no: " + why
		}
		perAck := "-"
		if res.ServerCPU > 0 && res.Acked > 0 {
			perAck = fmt.Sprintf("%.1f µs", 1e6*res.ServerCPU/float64(res.Acked))
		}
		t.Rows = append(t.Rows, []string{strconv.Itoa(depth), fmtRate(res.AckedPerS), fmtMS(res.Latency.P50MS),
			fmtMS(res.Latency.P99MS), fmtMS(res.Latency.P999MS), fmtMS(res.Latency.MaxMS), perAck, held})
		rates, x = append(rates, res.AckedPerS), append(x, float64(depth))
		if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if bestIdx >= 0 {
		out.Best = &out.Steps[bestIdx]
	}
	out.Warnings = e.warningList()
	bestText := "none: no depth held"
	if out.Best != nil {
		bestText = fmt.Sprintf("%s at %d in flight (p99 %s)", fmtRate(out.Best.AckedPerS), out.Best.Inflight, fmtMS(out.Best.Latency.P99MS))
	}
	bound := "no p99 bound"
	if c.p99Bound > 0 {
		bound = "p99 bound " + c.p99Bound.String()
	}
	o := &outcome{
		Title:   fmt.Sprintf("sends: %d connections into %d rooms, %s in flight each, %s per depth, %s", c.n, c.rooms, c.inflight, c.duration, bound),
		Result:  out,
		Rows:    []row{{"target", e.target.display}, {"most acked messages/s that held", bestText}},
		Tables:  []table{t},
		Charts:  []chart{{Title: "Acked messages per second by depth", YLabel: "acks/s", XUnit: " in flight", X: x, Lines: []line{{"acks/s", rates}}}},
		Failure: failure,
	}
	if best != nil {
		o.Latency, o.LatencyTitle = best.Latency, best.LatencyTitle
	}
	return o, nil
}

// verdict says why a depth did not hold, or "".
func (c *sendsConfig) verdict(res *sendsResult, failure error) string {
	var why []string
	for code, n := range res.Errors {
		why = append(why, fmt.Sprintf("%d %s", n, code))
	}
	sort.Strings(why)
	if res.Acked < res.Sent {
		why = append(why, fmt.Sprintf("%d sends not acked", res.Sent-res.Acked))
	}
	if failure != nil {
		why = append(why, failure.Error())
	}
	if p99 := time.Duration(res.Latency.P99MS * 1e6); c.p99Bound > 0 && p99 > c.p99Bound {
		why = append(why, fmt.Sprintf("p99 %s over the %s bound", fmtDur(p99), c.p99Bound))
	}
	return strings.Join(why, "; ")
}

// measure runs the scenario at one depth on connections of its own, in
// rooms named with tag.
func (c *sendsConfig) measure(ctx context.Context, e *env, inflight int, tag string) (*outcome, *sendsResult, error) {
	g := newGroup()
	defer g.closeAll()
	hist := NewHistogram()
	senders := make([]*sender, c.n)
	var errMu sync.Mutex
	errs := map[string]int64{}
	var start atomic.Pointer[series]
	ringSize := int64(1) << bits.Len(uint(4*inflight))

	onFrame := func(s *sender, data []byte) {
		f, ok := ScanFrame(data)
		if !ok || f.Is(fType, "message") {
			return
		}
		now := time.Now()
		switch {
		case f.Is(fType, "ack"):
			id, _ := f.Str(fID)
			n, _ := strconv.ParseInt(string(id), 10, 64)
			s.mu.Lock()
			slot := s.ring[n&s.mask]
			s.mu.Unlock()
			if slot.id == n && n > 0 {
				hist.Record(time.Duration(now.UnixNano() - slot.sent))
			}
			s.acked.Add(1)
			if ser := start.Load(); ser != nil {
				ser.add(now, 1)
			}
		case f.Is(fType, "error"):
			se := frameError(&f)
			errMu.Lock()
			errs[se.Code]++
			errMu.Unlock()
			if ra, ok := f.Int(fRetryAfter); ok && ra > 0 {
				s.backoff.Store(now.Add(time.Duration(ra) * time.Millisecond).UnixNano())
			}
		default:
			return
		}
		select {
		case s.slots <- struct{}{}:
		default:
		}
	}
	err := e.openMany(ctx, c.n, "senders", func(ctx context.Context, i int) error {
		room := fmt.Sprintf("%s%s-%d", e.room("", "-sends"), tag, i%c.rooms)
		cl, err := openClient(ctx, e, i, e.name('s', i), "", room, noSince, 4<<10, nil)
		if err != nil {
			return err
		}
		if i == 0 && cl.welcome.Limits.Rate > 0 && cl.welcome.Limits.Rate < 1000 {
			e.warn("the server allows %g sends/s per connection (burst %d); sends beyond are refused: start it with --rate 100000 --burst 100000", cl.welcome.Limits.Rate, cl.welcome.Limits.Burst)
		}
		s := &sender{idx: i, c: cl, room: room, slots: make(chan struct{}, inflight), ring: make([]sendSlot, ringSize), mask: ringSize - 1}
		for range inflight {
			s.slots <- struct{}{}
		}
		senders[i] = s
		g.start(cl.conn, func(data []byte) { onFrame(s, data) })
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	server0, err := sampleProc(e.pid)
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	end := t0.Add(c.duration)
	ser := newSeries(t0, c.duration+5*time.Second)
	start.Store(ser)
	totals := func() (sent, acked int64) {
		for _, s := range senders {
			sent += s.sent.Load()
			acked += s.acked.Load()
		}
		return
	}
	e.prog.set(func() string {
		sent, acked := totals()
		return fmt.Sprintf("sends, %d in flight, %4.1fs/%s  sent %d  acked %d  p99 %s", inflight, time.Since(t0).Seconds(), c.duration, sent, acked, fmtDur(hist.Quantile(0.99)))
	})
	runCtx, cancel := context.WithDeadline(ctx, end)
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() { c.sendLoop(runCtx, e, s) })
	}
	wg.Wait()
	cancel()
	// Wait for the acks still in flight.
	waitFor(ctx, 5*time.Second, func() bool {
		sent, acked := totals()
		errMu.Lock()
		defer errMu.Unlock()
		var refused int64
		for _, n := range errs {
			refused += n
		}
		return acked+refused >= sent
	})
	elapsed := time.Since(t0)
	server1, err := sampleProc(e.pid)
	if err != nil {
		return nil, nil, err
	}
	sent, acked := totals()
	res := &sendsResult{Scenario: "sends", URL: e.target.display, Conns: c.n, Rooms: c.rooms, Inflight: inflight, Size: c.size,
		DurationS: c.duration.Seconds(), Sent: sent, Acked: acked, Errors: errs, Latency: hist.Summary(),
		AckedPerS: round1(float64(acked) / min(elapsed, c.duration).Seconds()),
		Dropped:   g.dropped.Load(), AckSeries: ser.perSecond(t0.Add(min(time.Since(t0), c.duration))), Warnings: e.warningList()}
	if e.pid != 0 {
		res.ServerCPU = round3((server1.CPU - server0.CPU).Seconds())
	}
	rows := []row{
		{"target", e.target.display},
		{"connections / rooms / in flight each", fmt.Sprintf("%d / %d / %d", c.n, c.rooms, inflight)},
		{"sent / acked", fmt.Sprintf("%s / %s", fmtCount(sent), fmtCount(acked))},
		{"acked messages/s", fmtRate(res.AckedPerS)},
	}
	rows = append(rows, latencyRows("ack latency", res.Latency)...)
	if len(errs) > 0 {
		codes := make([]string, 0, len(errs))
		for code := range errs {
			codes = append(codes, code)
		}
		sort.Strings(codes)
		v := ""
		for _, code := range codes {
			v += fmt.Sprintf("%s %d  ", code, errs[code])
		}
		rows = append(rows, row{"errors", v})
	}
	if e.pid != 0 {
		rows = append(rows, row{"server CPU", fmt.Sprintf("%.2fs (%.1f%% of one core)", res.ServerCPU, 100*res.ServerCPU/elapsed.Seconds())})
	}
	o := &outcome{
		Title:        fmt.Sprintf("sends: %d connections into %d rooms, %d in flight each, %s", c.n, c.rooms, inflight, c.duration),
		Result:       res,
		Rows:         rows,
		Latency:      hist,
		LatencyTitle: "Ack latency (send written → ack read)",
		Charts:       []chart{{Title: "Acks per second", YLabel: "acks/s", X: perSecondX(len(res.AckSeries)), Lines: []line{{"acks/s", res.AckSeries}}}},
	}
	if err := g.drops(); err != nil {
		o.Failure = err
	}
	return o, res, nil
}

// sendLoop sends until ctx ends, one send per free slot.
func (c *sendsConfig) sendLoop(ctx context.Context, e *env, s *sender) {
	var txt, buf, nonce []byte
	for id := int64(1); ; id++ {
		select {
		case <-ctx.Done():
			return
		case <-s.slots:
		}
		if wait := time.Until(time.Unix(0, s.backoff.Load())); wait > 0 {
			if sleepCtx(ctx, wait) != nil {
				return
			}
		}
		now := time.Now()
		txt = appendPayload(txt[:0], stamp{run: e.run, pub: s.idx, seq: id, sent: now.UnixNano()}, c.size)
		nonce = strconv.AppendInt(append(nonce[:0], 'n'), id, 10)
		buf = appendSend(buf[:0], strconv.FormatInt(id, 10), s.room, txt, nonce)
		s.mu.Lock()
		s.ring[id&s.mask] = sendSlot{id: id, sent: now.UnixNano()}
		s.mu.Unlock()
		if s.c.writeText(buf) != nil {
			return
		}
		s.sent.Add(1)
	}
}
