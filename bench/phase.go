package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// phase is one stretch of publishing at a fixed rate, and everything the
// receivers counted during it. Its counters are atomics: the read loops
// write them while the progress line and the end of the phase read them.
type phase struct {
	step    int
	start   time.Time
	planned []int64 // messages per publisher
	hist    *Histogram
	recv    []recvStat
	sentS   *series
	delivS  *series

	sent, acked, refused, foreign atomic.Int64
	maxLag                        atomic.Int64 // how late a publisher sent, at worst (ns)
	lastRefusal                   atomic.Pointer[string]
	sendErr                       atomic.Pointer[string]
}

type recvStat struct {
	delivered, dup, ooo atomic.Int64
	_                   [40]byte // one cache line per receiver
}

func (ph *phase) delivered() (delivered, dup, ooo int64) {
	for i := range ph.recv {
		s := &ph.recv[i]
		delivered += s.delivered.Load()
		dup += s.dup.Load()
		ooo += s.ooo.Load()
	}
	return
}

// phaseResult is what a phase measured.
type phaseResult struct {
	RateTarget     float64 `json:"rate_target"`
	DurationS      float64 `json:"duration_s"`
	ElapsedS       float64 `json:"elapsed_s"` // first send to the end of the drain
	Sent           int64   `json:"sent"`
	Refused        int64   `json:"refused"`
	Expected       int64   `json:"expected"`
	Delivered      int64   `json:"delivered"`
	Lost           int64   `json:"lost"`
	Duplicated     int64   `json:"duplicated"`
	OutOfOrder     int64   `json:"out_of_order"`
	SentPerS       float64 `json:"sent_per_s"`
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	Latency        Latency `json:"latency"`
	PublisherLagMS float64 `json:"publisher_lag_max_ms"`
	ServerCPUS     float64 `json:"server_cpu_s,omitempty"`
	ServerCPUPerM  float64 `json:"server_cpu_s_per_million_deliveries,omitempty"`
	ServerRSSAfter int64   `json:"server_rss_bytes,omitempty"`
	BenchCPUS      float64 `json:"bench_cpu_s"`
	OtherCPUS      float64 `json:"other_processes_cpu_s,omitempty"` // the rest of the machine, with --pid
	Dropped        int64   `json:"connections_dropped"`
	// From a Parley server's /metrics: the store's appends during the
	// phase, and those that took over 50ms (nil for other servers).
	StoreAppends     *int64    `json:"store_appends,omitempty"`
	StoreSlowAppends *int64    `json:"store_appends_over_50ms,omitempty"`
	LastRefusal      string    `json:"last_refusal,omitempty"`
	SendError        string    `json:"send_error,omitempty"`
	SentSeries       []float64 `json:"sent_per_second"`
	DeliveredSerie   []float64 `json:"delivered_per_second"`

	hist *Histogram
}

// runPhase publishes rate messages a second for d, spread evenly over the
// publishers, then waits up to drain for what is still in flight.
func (r *rig) runPhase(ctx context.Context, label string, step int, rate float64, d, drain time.Duration) (*phaseResult, error) {
	total := max(int64(math.Round(rate*d.Seconds())), 1)
	np := int64(len(r.pubs))
	ph := &phase{step: step, hist: NewHistogram(), recv: make([]recvStat, len(r.recvs)), planned: make([]int64, np)}
	for j := range ph.planned {
		ph.planned[j] = total / np
		if int64(j) < total%np {
			ph.planned[j]++
		}
	}
	r.checkRate(rate / float64(np))
	dropped0 := r.recvG.dropped.Load() + r.pubG.dropped.Load()
	// Outside the CPU samples: the server's /metrics is not the phase's work.
	appends0, haveAppends := r.storeAppends(ctx)
	server0, err := sampleProc(r.e.pid)
	if err != nil {
		return nil, err
	}
	self0, _ := readCPU(os.Getpid())
	busy0, busyErr := readBusy()

	ph.start = time.Now().Add(10 * time.Millisecond)
	ph.sentS = newSeries(ph.start, d+drain+maxDrain)
	ph.delivS = newSeries(ph.start, d+drain+maxDrain)
	r.phase.Store(ph)
	defer r.phase.Store(nil)
	r.e.prog.set(r.phaseStatus(ph, label, d))

	var wg sync.WaitGroup
	for j, p := range r.pubs {
		if n := ph.planned[j]; n > 0 {
			interval := d / time.Duration(n)
			offset := interval * time.Duration(j) / time.Duration(np)
			wg.Go(func() { r.publish(ctx, p, ph, n, interval, offset) })
		}
	}
	wg.Wait()
	sendEnd := time.Now()
	lastDelivery := r.drain(ctx, ph, drain)
	end := time.Now()
	server1, err := sampleProc(r.e.pid)
	if err != nil {
		return nil, err
	}
	self1, _ := readCPU(os.Getpid())
	busy1, busyErr1 := readBusy()
	appends1, haveAppends1 := r.storeAppends(ctx)

	nr := int64(len(r.recvs))
	res := &phaseResult{RateTarget: rate, DurationS: d.Seconds(), ElapsedS: round3(end.Sub(ph.start).Seconds()), hist: ph.hist,
		Sent: ph.sent.Load(), Refused: ph.refused.Load(), Latency: ph.hist.Summary(),
		PublisherLagMS: ms(time.Duration(ph.maxLag.Load())),
		BenchCPUS:      round3((self1 - self0).Seconds()),
		Dropped:        r.recvG.dropped.Load() + r.pubG.dropped.Load() - dropped0,
		SentSeries:     ph.sentS.perSecond(sendEnd),
		DeliveredSerie: ph.delivS.perSecond(end),
	}
	res.Delivered, res.Duplicated, res.OutOfOrder = ph.delivered()
	res.Expected = (res.Sent - res.Refused) * nr
	res.Lost = max(res.Expected-res.Delivered, 0)
	if window := sendEnd.Sub(ph.start).Seconds(); window > 0 {
		res.SentPerS = round1(float64(res.Sent) / window)
	}
	// Deliveries/s over the time they took: from the first send to the
	// last delivery, whichever is later than the last send.
	if window := latest(sendEnd, lastDelivery).Sub(ph.start).Seconds(); window > 0 {
		res.DeliveriesPerS = round1(float64(res.Delivered) / window)
	}
	if r.e.pid != 0 {
		res.ServerCPUS = (server1.CPU - server0.CPU).Seconds()
		res.ServerRSSAfter = server1.RSS
		if res.Delivered > 0 {
			res.ServerCPUPerM = round3(res.ServerCPUS / float64(res.Delivered) * 1e6)
		}
	}
	if r.e.pid != 0 && busyErr == nil && busyErr1 == nil {
		// What other processes used meanwhile: a busy machine disturbs
		// the numbers, so the result says so.
		other := (busy1 - busy0) - (server1.CPU - server0.CPU) - (self1 - self0)
		res.OtherCPUS = round3(max(other.Seconds(), 0))
		if share := res.OtherCPUS / res.ElapsedS; share > 0.2 {
			r.e.warn("other processes used %.0f%% of a core during %s: the machine was not quiet, so latencies and CPU figures are disturbed", 100*share, label)
		}
	}
	if haveAppends && haveAppends1 {
		total, slow := int64(appends1.total-appends0.total), int64(appends1.slow-appends0.slow)
		res.StoreAppends, res.StoreSlowAppends = &total, &slow
	}
	if s := ph.lastRefusal.Load(); s != nil {
		res.LastRefusal = *s
	}
	if s := ph.sendErr.Load(); s != nil {
		res.SendError = *s
	}
	return res, ctx.Err()
}

// drain waits for the messages still in flight: until every accepted
// message reached every receiver, or nothing new arrived for quiet, or
// maxDrain passed. What has not arrived then counts as lost.
//
// It returns when the last delivery was seen (to the 5ms of its polling).
func (r *rig) drain(ctx context.Context, ph *phase, quiet time.Duration) time.Time {
	nr := int64(len(r.recvs))
	last, _, _ := ph.delivered()
	lastMove, start := time.Now(), time.Now()
	waitFor(ctx, quiet+maxDrain, func() bool {
		sent, refused := ph.sent.Load(), ph.refused.Load()
		got, _, _ := ph.delivered()
		now := time.Now()
		if got != last {
			last, lastMove = got, now
		}
		acked := !r.e.v1() || ph.acked.Load()+refused >= sent
		if acked && got >= (sent-refused)*nr {
			return true
		}
		return now.Sub(lastMove) >= quiet || now.Sub(start) >= quiet+maxDrain
	})
	return lastMove
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// maxDrain bounds how long a phase waits for a slow but moving tail.
const maxDrain = 60 * time.Second

// publish sends n messages from p, one every interval from the phase start
// plus offset. A publisher that falls behind sends at once to catch up and
// records how late it was.
func (r *rig) publish(ctx context.Context, p *publisher, ph *phase, n int64, interval, offset time.Duration) {
	for k := range n {
		due := ph.start.Add(offset + time.Duration(k)*interval)
		if wait := time.Until(due); wait > 0 {
			p.timer.Reset(wait)
			select {
			case <-ctx.Done():
				p.timer.Stop()
				return
			case <-p.timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		now := time.Now()
		if lag := int64(now.Sub(due)); lag > ph.maxLag.Load() {
			for cur := ph.maxLag.Load(); lag > cur && !ph.maxLag.CompareAndSwap(cur, lag); cur = ph.maxLag.Load() {
			}
		}
		if err := r.send(p, ph.step, k+1, now); err != nil {
			s := fmt.Sprintf("publisher %d: %v", p.idx, err)
			ph.sendErr.Store(&s)
			return
		}
		ph.sent.Add(1)
		ph.sentS.add(now, 1)
	}
}

// phaseStatus is the live line during a phase.
func (r *rig) phaseStatus(ph *phase, label string, d time.Duration) func() string {
	var prev int64
	var prevAt time.Time
	return func() string {
		now := time.Now()
		got, dup, ooo := ph.delivered()
		if prevAt.IsZero() {
			prevAt = ph.start
		}
		rate := float64(got-prev) / max(now.Sub(prevAt).Seconds(), 1e-3)
		prev, prevAt = got, now
		s := fmt.Sprintf("%s %5.1fs/%s  sent %d  delivered %d (%.0f/s)  p99 %s",
			label, max(now.Sub(ph.start).Seconds(), 0), d, ph.sent.Load(), got, rate, fmtDur(ph.hist.Quantile(0.99)))
		if n := ph.refused.Load(); n > 0 {
			s += fmt.Sprintf("  refused %d", n)
		}
		if dup+ooo > 0 {
			s += fmt.Sprintf("  dup %d  ooo %d", dup, ooo)
		}
		return s
	}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// storeAppends reads the server's store appends so far, unless an earlier
// read found the server doesn't serve them.
func (r *rig) storeAppends(ctx context.Context) (storeAppends, bool) {
	if r.noAppendMetrics {
		return storeAppends{}, false
	}
	a, ok := readStoreAppends(ctx, r.metrics, r.e.target.metricsURL())
	r.noAppendMetrics = !ok
	return a, ok
}
