package bench

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// stormConfig: every client drops at once, misses messages, reconnects
// and resumes with join since.
type stormConfig struct {
	n, missed     int
	room          string
	resumeTimeout time.Duration
}

// stormWarmup is how many messages everyone receives before the drop, so
// each client has a last seq to resume from.
const stormWarmup = 3

// stormHerd bounds the reconnects in flight at once.
const stormHerd = 512

func (c *stormConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.n, "conns", 100, "clients in the room")
	fs.IntVar(&c.missed, "missed", 100, "messages sent while they are away (at most the server's max_replay, 1000)")
	fs.StringVar(&c.room, "room", "", "`room` to use (default: a new room per run)")
	fs.DurationVar(&c.resumeTimeout, "resume-timeout", 60*time.Second, "give up on clients that have not caught up after this long")
}

func (c *stormConfig) check(cm *common) error {
	k := &checker{}
	k.needV1(cm, "storm", "resuming needs join with since")
	k.int("conns", c.n, 1, maxConns)
	k.int("missed", c.missed, 1, 1000)
	k.dur("resume-timeout", c.resumeTimeout, 100*time.Millisecond, time.Hour)
	return k.err
}

func (c *stormConfig) conns() int { return c.n + 1 }

func (c *stormConfig) planned() time.Duration { return c.resumeTimeout + 10*time.Second }

// stormClient is one client's view of the room. Its fields are written by
// the read loop of its current connection only; a new connection's loop
// starts after the old one ended.
type stormClient struct {
	idx   int
	token string
	seen  []uint64 // bit per seq
	max   int64
	last  atomic.Int64 // highest seq with every seq up to it seen
	dup   atomic.Int64
	ooo   atomic.Int64
	// caughtUp is when last reached the target (unix nanos), 0 before.
	caughtUp atomic.Int64
	joinedAt atomic.Int64
}

// onFrame counts a message. Seqs are taken relative to base, the room's
// head before the run, so a room that already has history works too.
func (s *stormClient) onFrame(data []byte, base *atomic.Int64, limit int64, target *atomic.Int64) {
	m, ok := ScanMessage(data)
	if !ok {
		return
	}
	m.Seq -= base.Load()
	if m.Seq < 1 || m.Seq > limit {
		return
	}
	w, bit := int(m.Seq/64), uint64(1)<<(m.Seq%64)
	if s.seen[w]&bit != 0 {
		s.dup.Add(1)
		return
	}
	s.seen[w] |= bit
	if m.Seq < s.max {
		s.ooo.Add(1)
	}
	s.max = max(s.max, m.Seq)
	last := s.last.Load()
	for last < limit && s.seen[(last+1)/64]&(1<<((last+1)%64)) != 0 {
		last++
	}
	s.last.Store(last)
	if t := target.Load(); t > 0 && last >= t && s.caughtUp.Load() == 0 {
		s.caughtUp.Store(time.Now().UnixNano())
	}
}

type stormResult struct {
	Scenario       string   `json:"scenario"`
	URL            string   `json:"url"`
	Conns          int      `json:"conns"`
	Missed         int      `json:"missed"`
	Head           int64    `json:"head"`
	ReconnectAllS  float64  `json:"reconnect_all_s"`
	ResumeAllS     float64  `json:"resume_all_s"`
	Resume         Latency  `json:"resume"`
	Resumed        int      `json:"resumed"`
	ReconnectFails int      `json:"reconnect_failures"`
	FirstFailure   string   `json:"first_failure,omitempty"`
	Lost           int64    `json:"lost"`
	Duplicated     int64    `json:"duplicated"`
	OutOfOrder     int64    `json:"out_of_order"`
	Warnings       []string `json:"warnings,omitempty"`
}

func (c *stormConfig) run(ctx context.Context, e *env) (*outcome, error) {
	room := e.room(c.room, "-storm")
	limit := int64(stormWarmup + c.missed + 1000) // seqs beyond are someone else's
	var target, base atomic.Int64
	clients := make([]*stormClient, c.n)
	g := newGroup()
	defer func() { g.closeAll() }()
	err := e.openMany(ctx, c.n, "clients", func(ctx context.Context, i int) error {
		s := &stormClient{idx: i, seen: make([]uint64, limit/64+1)}
		cl, err := openClient(ctx, e, i, e.name('c', i), "", room, noReplay, 4<<10, nil)
		if err != nil {
			return err
		}
		s.token = cl.welcome.Token
		clients[i] = s
		g.start(cl.conn, func(data []byte) { s.onFrame(data, &base, limit, &target) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	pub, pubG, err := c.openPublisher(ctx, e, room)
	if err != nil {
		return nil, err
	}
	defer pubG.closeAll()
	base.Store(pub.c.head)

	// Everyone hears the warm-up messages, so each has a seq to resume from.
	head, err := pub.publish(ctx, e, stormWarmup, "w")
	if err != nil {
		return nil, err
	}
	target.Store(head - base.Load())
	caught := func() int {
		n := 0
		for _, s := range clients {
			if s.last.Load() >= target.Load() {
				n++
			}
		}
		return n
	}
	e.prog.set(func() string { return fmt.Sprintf("storm: %d/%d clients heard the warm-up", caught(), c.n) })
	if !waitFor(ctx, 15*time.Second, func() bool { return caught() == c.n }) {
		return nil, fmt.Errorf("only %d of %d clients heard the %d warm-up messages within 15s", caught(), c.n, stormWarmup)
	}
	if err := g.drops(); err != nil {
		return nil, err
	}

	// The drop: every client's connection goes at once, without a close
	// frame, as when a network fails.
	target.Store(0)
	for _, s := range clients {
		s.caughtUp.Store(0)
	}
	e.prog.set(func() string { return "storm: dropping every client" })
	g.dropAll()
	e.prog.set(func() string { return fmt.Sprintf("storm: publishing %d messages while they are away", c.missed) })
	head, err = pub.publish(ctx, e, c.missed, "m")
	if err != nil {
		return nil, err
	}
	rel := head - base.Load() // what each client must have: seqs 1..rel past base

	// The storm: all reconnect and resume.
	target.Store(rel)
	g = newGroup()
	t0 := time.Now()
	var failures atomic.Int64
	var firstFail atomic.Pointer[string]
	var reconnected atomic.Int64
	e.prog.set(func() string {
		return fmt.Sprintf("storm: %d/%d reconnected, %d/%d caught up to seq %d", reconnected.Load(), c.n, caught(), c.n, head)
	})
	var wg sync.WaitGroup
	herd := make(chan struct{}, stormHerd)
	for _, s := range clients {
		wg.Go(func() {
			select {
			case herd <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-herd }()
			cl, err := openClient(ctx, e, s.idx, "", s.token, room, base.Load()+s.last.Load(), 4<<10,
				func(data []byte) { s.onFrame(data, &base, limit, &target) })
			if err != nil {
				failures.Add(1)
				msg := err.Error()
				firstFail.CompareAndSwap(nil, &msg)
				return
			}
			s.joinedAt.Store(time.Now().UnixNano())
			reconnected.Add(1)
			g.start(cl.conn, func(data []byte) { s.onFrame(data, &base, limit, &target) })
		})
	}
	wg.Wait()
	reconnectAll := time.Since(t0)
	waitFor(ctx, c.resumeTimeout, func() bool { return caught() == int(reconnected.Load()) })
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	g.closeAll()

	res := &stormResult{Scenario: "storm", URL: e.target.display, Conns: c.n, Missed: c.missed, Head: head,
		ReconnectAllS: round3(reconnectAll.Seconds()), ReconnectFails: int(failures.Load())}
	if f := firstFail.Load(); f != nil {
		res.FirstFailure = *f
	}
	hist := NewHistogram()
	var lastDone int64
	for _, s := range clients {
		res.Duplicated += s.dup.Load()
		res.OutOfOrder += s.ooo.Load()
		for seq := int64(1); seq <= rel; seq++ {
			if s.seen[seq/64]&(1<<(seq%64)) == 0 {
				res.Lost++
			}
		}
		if done := s.caughtUp.Load(); done != 0 {
			res.Resumed++
			hist.Record(time.Duration(done - t0.UnixNano()))
			lastDone = max(lastDone, done)
		}
	}
	if lastDone > 0 {
		res.ResumeAllS = round3(time.Duration(lastDone - t0.UnixNano()).Seconds())
	}
	res.Resume = hist.Summary()
	res.Warnings = e.warningList()
	rows := []row{
		{"target", e.target.display},
		{"clients / missed messages / head seq", fmt.Sprintf("%d / %d / %d", c.n, c.missed, head)},
		{"all reconnected and joined after", fmt.Sprintf("%.3fs (%d failed)", res.ReconnectAllS, res.ReconnectFails)},
		{"all caught up after", fmt.Sprintf("%.3fs (%d of %d)", res.ResumeAllS, res.Resumed, c.n)},
	}
	rows = append(rows, latencyRows("per client resume", res.Resume)...)
	rows = append(rows, row{"lost / duplicated / out of order", fmt.Sprintf("%d / %d / %d", res.Lost, res.Duplicated, res.OutOfOrder)})
	if res.FirstFailure != "" {
		rows = append(rows, row{"first reconnect failure", res.FirstFailure})
	}
	o := &outcome{
		Title:        fmt.Sprintf("storm: %d clients drop, miss %d messages, reconnect at once", c.n, c.missed),
		Result:       res,
		Rows:         rows,
		Latency:      hist,
		LatencyTitle: "Time from the storm's start until each client had every message",
	}
	if res.ReconnectFails > 0 || res.Resumed < c.n {
		o.Failure = fmt.Errorf("%d clients failed to reconnect and %d did not catch up (first failure: %s)", res.ReconnectFails, c.n-res.Resumed, res.FirstFailure)
	}
	return o, nil
}

// stormPublisher sends messages and waits for their acks.
type stormPublisher struct {
	c     *client
	room  string
	acks  chan int64
	errs  chan *serverError
	count int
}

func (c *stormConfig) openPublisher(ctx context.Context, e *env, room string) (*stormPublisher, *group, error) {
	g := newGroup()
	cl, err := openClient(ctx, e, c.n, e.name('p', 0), "", room, noReplay, 4<<10, nil)
	if err != nil {
		return nil, g, err
	}
	p := &stormPublisher{c: cl, room: room, acks: make(chan int64, 1024), errs: make(chan *serverError, 16)}
	g.start(cl.conn, func(data []byte) {
		f, ok := ScanFrame(data)
		switch {
		case !ok:
		case f.Is(fType, "ack"):
			seq, _ := f.Int(fSeq)
			p.acks <- seq
		case f.Is(fType, "error"):
			select {
			case p.errs <- frameError(&f):
			default:
			}
		}
	})
	return p, g, nil
}

// publish sends n messages, at most 64 unacknowledged, and returns the
// highest acked seq.
func (p *stormPublisher) publish(ctx context.Context, e *env, n int, tag string) (int64, error) {
	var head int64
	var buf, txt []byte
	sent, acked := 0, 0
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for acked < n {
		for sent < n && sent-acked < 64 {
			p.count++
			txt = appendPayload(txt[:0], stamp{run: e.run, seq: int64(p.count), sent: time.Now().UnixNano()}, minPayload)
			buf = appendSend(buf[:0], "", p.room, txt, []byte(tag+strconv.Itoa(p.count)))
			if err := p.c.writeText(buf); err != nil {
				return 0, fmt.Errorf("publishing: %w", err)
			}
			sent++
		}
		select {
		case seq := <-p.acks:
			head = max(head, seq)
			acked++
		case se := <-p.errs:
			return 0, fmt.Errorf("the server refused a send: %w", se)
		case <-timeout.C:
			return 0, fmt.Errorf("only %d of %d sends were acknowledged within 30s", acked, n)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return head, nil
}
