package bench

import (
	"context"
	"flag"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// sendsConfig: C connections each sending as fast as acks come back.
type sendsConfig struct {
	n, rooms, inflight, size int
	duration                 time.Duration
}

func (c *sendsConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.n, "conns", 64, "sending connections")
	fs.IntVar(&c.rooms, "rooms", 0, "rooms they send into (default: one per connection)")
	fs.IntVar(&c.inflight, "inflight", 1, "sends each connection keeps waiting for an ack")
	fs.IntVar(&c.size, "size", 100, "message text `bytes`")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send")
}

func (c *sendsConfig) check(cm *common) error {
	k := &checker{}
	k.needV1(cm, "sends", "text mode has no acks")
	k.int("conns", c.n, 1, maxConns)
	if c.rooms == 0 {
		c.rooms = c.n
	}
	k.int("rooms", c.rooms, 1, c.n)
	k.int("inflight", c.inflight, 1, 1024)
	k.int("size", c.size, minPayload, 1<<20)
	k.dur("duration", c.duration, 100*time.Millisecond, 24*time.Hour)
	return k.err
}

func (c *sendsConfig) conns() int { return c.n }

func (c *sendsConfig) planned() time.Duration { return c.duration + 5*time.Second }

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

func (c *sendsConfig) run(ctx context.Context, e *env) (*outcome, error) {
	g := newGroup()
	defer g.closeAll()
	hist := NewHistogram()
	senders := make([]*sender, c.n)
	var errMu sync.Mutex
	errs := map[string]int64{}
	var start atomic.Pointer[series]
	ringSize := int64(1) << bits.Len(uint(4*c.inflight))

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
		room := fmt.Sprintf("%s-%d", e.room("", "-sends"), i%c.rooms)
		cl, err := openClient(ctx, e, i, e.name('s', i), "", room, noSince, 4<<10, nil)
		if err != nil {
			return err
		}
		if i == 0 && cl.welcome.Limits.Rate > 0 && cl.welcome.Limits.Rate < 1000 {
			e.warn("the server allows %g sends/s per connection (burst %d); sends beyond are refused: start it with --rate 100000 --burst 100000", cl.welcome.Limits.Rate, cl.welcome.Limits.Burst)
		}
		s := &sender{idx: i, c: cl, room: room, slots: make(chan struct{}, c.inflight), ring: make([]sendSlot, ringSize), mask: ringSize - 1}
		for range c.inflight {
			s.slots <- struct{}{}
		}
		senders[i] = s
		g.start(cl.conn, func(data []byte) { onFrame(s, data) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	server0, err := sampleProc(e.pid)
	if err != nil {
		return nil, err
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
		return fmt.Sprintf("sends %4.1fs/%s  sent %d  acked %d  p99 %s", time.Since(t0).Seconds(), c.duration, sent, acked, fmtDur(hist.Quantile(0.99)))
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
		return nil, err
	}
	sent, acked := totals()
	res := &sendsResult{Scenario: "sends", URL: e.target.display, Conns: c.n, Rooms: c.rooms, Inflight: c.inflight, Size: c.size,
		DurationS: c.duration.Seconds(), Sent: sent, Acked: acked, Errors: errs, Latency: hist.Summary(),
		AckedPerS: round1(float64(acked) / min(elapsed, c.duration).Seconds()),
		Dropped:   g.dropped.Load(), AckSeries: ser.perSecond(t0.Add(min(time.Since(t0), c.duration))), Warnings: e.warningList()}
	if e.pid != 0 {
		res.ServerCPU = round3((server1.CPU - server0.CPU).Seconds())
	}
	rows := []row{
		{"target", e.target.display},
		{"connections / rooms / in flight each", fmt.Sprintf("%d / %d / %d", c.n, c.rooms, c.inflight)},
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
		Title:        fmt.Sprintf("sends: %d connections into %d rooms, %d in flight each, %s", c.n, c.rooms, c.inflight, c.duration),
		Result:       res,
		Rows:         rows,
		Latency:      hist,
		LatencyTitle: "Ack latency (send written → ack read)",
		Charts:       []chart{{Title: "Acks per second", YLabel: "acks/s", X: perSecondX(len(res.AckSeries)), Lines: []line{{"acks/s", res.AckSeries}}}},
	}
	if err := g.drops(); err != nil {
		o.Failure = err
	}
	return o, nil
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
