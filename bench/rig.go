package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A rig is the fan-out test bed that fanout, ramp and soak share: R
// receivers and P publishers in one room (the lobby in text mode),
// connected once, then driven through one or more phases. Each phase
// publishes at a rate for a while and counts what every receiver got.

// probeStep marks the messages that check the path before a phase.
const probeStep = -1

// rig owns its connections; close stops them.
type rig struct {
	e     *env
	room  string
	size  int
	recvs []*receiver
	pubs  []*publisher
	recvG *group
	pubG  *group
	phase atomic.Pointer[phase]
	// stale counts deliveries that belong to no current phase: late ones
	// from a finished phase (already counted as lost there) and probes.
	stale   atomic.Int64
	lastErr atomic.Pointer[string] // the last refusal outside a phase
	limits  *welcome               // parley.v1: what the server enforces
	warned  bool                   // about the rate limit, once
	// metrics reads a Parley server's store latency around each phase;
	// noAppendMetrics is set once the server turned out not to have it.
	metrics         *http.Client
	noAppendMetrics bool
}

type receiver struct {
	idx     int
	conn    *conn // for when a delivery's bytes were read
	probed  atomic.Bool
	trkStep int // the step trk counts; owned by the read loop
	trk     tracker
}

type publisher struct {
	idx   int
	c     *client
	txt   []byte
	buf   []byte
	nonce []byte
	timer *time.Timer
}

// rigReadBuf is a receiver's read buffer: a few frames per read syscall.
const rigReadBuf = 8 << 10

// setupRig connects the receivers, then the publishers, and checks with
// probe messages that every receiver hears the publishers.
func setupRig(ctx context.Context, e *env, receivers, publishers, size int, room string) (*rig, error) {
	r := &rig{e: e, size: size, room: room, recvG: newGroup(), pubG: newGroup(),
		recvs: make([]*receiver, receivers), pubs: make([]*publisher, publishers),
		metrics: &http.Client{Transport: &http.Transport{}}}
	joinRoom := room
	if !e.v1() {
		joinRoom = ""
	}
	err := e.openMany(ctx, receivers, "receivers", func(ctx context.Context, i int) error {
		cl, err := openClient(ctx, e, i, e.name('r', i), "", joinRoom, noSince, rigReadBuf, nil)
		if err != nil {
			return err
		}
		rc := &receiver{idx: i, conn: cl.conn, trkStep: math.MinInt}
		r.recvs[i] = rc
		r.recvG.start(cl.conn, func(data []byte) { r.onDelivery(rc, data) })
		return nil
	})
	if err != nil {
		return r, err
	}
	err = e.openMany(ctx, publishers, "publishers", func(ctx context.Context, i int) error {
		cl, err := openClient(ctx, e, receivers+i, e.name('p', i), "", joinRoom, noSince, 4<<10, nil)
		if err != nil {
			return err
		}
		p := &publisher{idx: i, c: cl, timer: time.NewTimer(time.Hour)}
		p.timer.Stop()
		r.pubs[i] = p
		r.pubG.start(cl.conn, func(data []byte) { r.onPublisherFrame(data) })
		return nil
	})
	if err != nil {
		return r, err
	}
	if e.v1() {
		w := r.pubs[0].c.welcome
		r.limits = &w
		if w.Limits.MaxText > 0 && size > w.Limits.MaxText {
			return r, fmt.Errorf("%w: --size %d is over the server's max_text of %d characters", ErrUsage, size, w.Limits.MaxText)
		}
	}
	return r, r.sync(ctx)
}

// checkRate warns when the server's rate limit would refuse a publisher
// sending at perPub messages a second.
func (r *rig) checkRate(perPub float64) {
	if r.limits == nil || r.limits.Limits.Rate <= 0 {
		return
	}
	if l := r.limits.Limits; perPub > l.Rate && !r.warned {
		r.warned = true
		r.e.warn("the server allows %g sends/s per connection (burst %d) and each publisher sends %.4g/s: sends will be refused; start the server with --rate 100000 --burst 100000", l.Rate, l.Burst, perPub)
	}
}

// sync sends probes from the first publisher until every receiver has
// heard one, so no phase starts before the server has registered everyone
// (text-mode servers register a connection after its handshake).
func (r *rig) sync(ctx context.Context) error {
	p := r.pubs[0]
	heard := func() int {
		n := 0
		for _, rc := range r.recvs {
			if rc.probed.Load() {
				n++
			}
		}
		return n
	}
	r.e.prog.set(func() string {
		return fmt.Sprintf("checking the path: %d/%d receivers heard a probe", heard(), len(r.recvs))
	})
	const attempts = 100
	for seq := int64(1); seq <= attempts; seq++ {
		if err := r.send(p, probeStep, seq, time.Now()); err != nil {
			return fmt.Errorf("publishing a probe: %w", err)
		}
		if waitFor(ctx, 100*time.Millisecond, func() bool { return heard() == len(r.recvs) }) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.drops(); err != nil {
			return err
		}
	}
	msg := fmt.Sprintf("%d of %d receivers heard none of %d probe messages sent over %s: the server does not broadcast the publisher's messages to them",
		len(r.recvs)-heard(), len(r.recvs), attempts, attempts*100*time.Millisecond)
	if last := r.lastErr.Load(); last != nil {
		msg += "; the server answered: " + *last
	}
	return fmt.Errorf("%s", msg)
}

// send publishes message seq of step from p.
func (r *rig) send(p *publisher, step int, seq int64, now time.Time) error {
	p.txt = appendPayload(p.txt[:0], stamp{run: r.e.run, step: step, pub: p.idx, seq: seq, sent: now.UnixNano()}, r.size)
	if !r.e.v1() {
		return p.c.writeText(p.txt)
	}
	p.nonce = append(strconv.AppendInt(append(p.nonce[:0], 's'), int64(step), 10), '-')
	p.nonce = strconv.AppendInt(p.nonce, seq, 10)
	p.buf = appendSend(p.buf[:0], strconv.Itoa(step), r.room, p.txt, p.nonce)
	return p.c.writeText(p.buf)
}

// onDelivery is a receiver's hot path. In both dialects it looks for stamps
// in the frame as it came, without reading it as JSON (a parley.v1 message
// frame holds its text verbatim: a stamp has nothing JSON escapes). A stamp
// carries this run's id, step, publisher and seq, which record checks, so
// no other frame passes for a delivery; the scan costs a fifth of
// ScanMessage's.
func (r *rig) onDelivery(rc *receiver, data []byte) {
	now := rc.conn.readAt
	eachStamp(data, func(st stamp) { r.record(rc, st, now) })
}

func (r *rig) record(rc *receiver, st stamp, now time.Time) {
	if st.run != r.e.run {
		return
	}
	if st.step == probeStep {
		rc.probed.Store(true)
		return
	}
	ph := r.phase.Load()
	if ph == nil || st.step != ph.step {
		r.stale.Add(1)
		return
	}
	if st.pub < 0 || st.pub >= len(ph.planned) || st.seq < 1 || st.seq > ph.planned[st.pub] {
		ph.foreign.Add(1)
		return
	}
	if rc.trkStep != ph.step {
		rc.trk.reset(len(ph.planned))
		rc.trkStep = ph.step
	}
	dup, ooo := rc.trk.see(st.pub, st.seq)
	s := &ph.recv[rc.idx]
	if dup {
		s.dup.Add(1)
		return
	}
	if ooo {
		s.ooo.Add(1)
	}
	s.delivered.Add(1)
	ph.hist.Record(time.Duration(now.UnixNano() - st.sent))
	ph.delivS.add(now, 1)
}

// onPublisherFrame counts acks and refusals; publishers also hear the
// room, which they ignore.
func (r *rig) onPublisherFrame(data []byte) {
	ph := r.phase.Load()
	if !r.e.v1() {
		if msg, ok := bytes.CutPrefix(data, []byte("error: ")); ok && !bytes.Contains(data, []byte(stampMarker)) {
			r.refused(ph, "error", string(msg))
		}
		return
	}
	if bytes.HasPrefix(data, []byte(`{"type":"message"`)) {
		return
	}
	f, ok := ScanFrame(data)
	if !ok {
		return
	}
	mine := ph != nil && f.Is(fID, strconv.Itoa(ph.step))
	switch {
	case f.Is(fType, "ack") && mine:
		ph.acked.Add(1)
	case f.Is(fType, "error"):
		se := frameError(&f)
		if !mine {
			ph = nil
		}
		r.refused(ph, se.Code, se.Message)
	}
}

func (r *rig) refused(ph *phase, code, msg string) {
	s := code + ": " + msg
	if ph == nil {
		r.lastErr.Store(&s)
		return
	}
	ph.refused.Add(1)
	ph.lastRefusal.Store(&s)
}

// drops reports connections that ended on their own.
func (r *rig) drops() error {
	if err := r.recvG.drops(); err != nil {
		return fmt.Errorf("receivers: %w", err)
	}
	if err := r.pubG.drops(); err != nil {
		return fmt.Errorf("publishers: %w", err)
	}
	return nil
}

// close closes every connection and waits for the read loops.
func (r *rig) close() {
	r.metrics.CloseIdleConnections()
	var wg sync.WaitGroup
	wg.Go(r.pubG.closeAll)
	wg.Go(r.recvG.closeAll)
	wg.Wait()
}
