package bench

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// rampConfig: fan-out steps at rising rates until one fails.
type rampConfig struct {
	receivers, publishers, size int
	room                        string
	start, max                  float64
	step                        string
	stepDuration, drain         time.Duration
	p99Bound                    time.Duration

	mult, incr float64 // from step
}

// maxSteps bounds a ramp.
const maxSteps = 200

func (c *rampConfig) flags(fs *flag.FlagSet) {
	registerRig(fs, &c.receivers, &c.publishers, &c.size, &c.room)
	fs.Float64Var(&c.start, "start", 100, "first step's rate, messages per second")
	fs.StringVar(&c.step, "step", "x2", "how the rate grows: xF multiplies by F, +N adds N")
	fs.Float64Var(&c.max, "max", 100_000, "highest rate tried, messages per second")
	fs.DurationVar(&c.stepDuration, "step-duration", 5*time.Second, "how long each step publishes")
	fs.DurationVar(&c.drain, "drain", 2*time.Second, "after each step, wait for deliveries in flight until none arrives for this long")
	fs.DurationVar(&c.p99Bound, "p99-bound", 50*time.Millisecond, "a step holds while its p99 latency stays within this")
}

func (c *rampConfig) check(cm *common) error {
	k := &checker{}
	checkRig(k, c.receivers, c.publishers, c.size, c.room)
	k.float("start", c.start, 0.01, 10_000_000)
	k.float("max", c.max, c.start, 10_000_000)
	k.dur("step-duration", c.stepDuration, 100*time.Millisecond, time.Hour)
	k.dur("drain", c.drain, 0, time.Hour)
	k.dur("p99-bound", c.p99Bound, time.Microsecond, time.Hour)
	k.messages("max", c.max, c.stepDuration)
	var err error
	switch {
	case strings.HasPrefix(c.step, "x"):
		c.mult, err = strconv.ParseFloat(c.step[1:], 64)
		if err != nil || !(c.mult > 1) {
			k.fail("--step %q: xF needs F above 1 (x2 doubles)", c.step)
		}
	case strings.HasPrefix(c.step, "+"):
		c.incr, err = strconv.ParseFloat(c.step[1:], 64)
		if err != nil || !(c.incr > 0) {
			k.fail("--step %q: +N needs N above 0 (+500 adds 500 msgs/s)", c.step)
		}
	default:
		k.fail("--step must be xF (multiply) or +N (add), not %q", c.step)
	}
	if k.err == nil && len(c.rates()) > maxSteps {
		k.fail("--start, --step and --max make %d steps; at most %d", len(c.rates()), maxSteps)
	}
	return k.err
}

// rates lists the steps' rates (at most maxSteps+1 of them).
func (c *rampConfig) rates() []float64 {
	var out []float64
	for r := c.start; r <= c.max*1.000001 && len(out) <= maxSteps; {
		out = append(out, round3(r)) // 1980, not 1980.0000000000002
		if c.mult > 0 {
			r *= c.mult
		} else {
			r += c.incr
		}
	}
	return out
}

func (c *rampConfig) conns() int { return c.receivers + c.publishers }

func (c *rampConfig) planned() time.Duration {
	return time.Duration(len(c.rates())) * (c.stepDuration + c.drain + time.Second)
}

type rampStep struct {
	Held   bool   `json:"held"`
	Reason string `json:"reason,omitempty"`
	phaseResult
}

type rampResult struct {
	Scenario       string     `json:"scenario"`
	URL            string     `json:"url"`
	Proto          string     `json:"proto"`
	Receivers      int        `json:"receivers"`
	Publishers     int        `json:"publishers"`
	Size           int        `json:"size"`
	P99BoundMS     float64    `json:"p99_bound_ms"`
	HighestRate    float64    `json:"highest_held_rate"`
	HighestDeliv   float64    `json:"highest_held_deliveries_per_s"`
	StoppedBecause string     `json:"stopped_because"`
	Steps          []rampStep `json:"steps"`
	Warnings       []string   `json:"warnings,omitempty"`
}

// verdict says why a step did not hold, or "".
func (c *rampConfig) verdict(res *phaseResult) string {
	var why []string
	if res.Lost > 0 {
		why = append(why, fmt.Sprintf("%d lost", res.Lost))
	}
	if res.Duplicated > 0 {
		why = append(why, fmt.Sprintf("%d duplicated", res.Duplicated))
	}
	if res.OutOfOrder > 0 {
		why = append(why, fmt.Sprintf("%d out of order", res.OutOfOrder))
	}
	if res.Refused > 0 {
		why = append(why, fmt.Sprintf("%d sends refused (%s)", res.Refused, res.LastRefusal))
	}
	if res.Dropped > 0 {
		why = append(why, fmt.Sprintf("%d connections dropped", res.Dropped))
	}
	if p99 := time.Duration(res.Latency.P99MS * 1e6); p99 > c.p99Bound {
		msg := fmt.Sprintf("p99 %s over the %s bound", fmtDur(p99), c.p99Bound)
		if res.StoreSlowAppends != nil && *res.StoreSlowAppends > 0 {
			// A message is delivered after its commit: slow commits are
			// the first suspect for a latency tail.
			msg += fmt.Sprintf(" (%d of the server's store appends took over %s)", *res.StoreSlowAppends, slowAppend)
		}
		why = append(why, msg)
	}
	if res.SendError != "" {
		why = append(why, res.SendError)
	}
	if res.SentPerS < 0.9*res.RateTarget {
		why = append(why, fmt.Sprintf("the publishers reached only %.0f of %g msgs/s (the bench is the limit: add --publishers or CPU)", res.SentPerS, res.RateTarget))
	}
	return strings.Join(why, "; ")
}

func (c *rampConfig) run(ctx context.Context, e *env) (*outcome, error) {
	r, err := setupRig(ctx, e, c.receivers, c.publishers, c.size, e.room(c.room, ""))
	defer r.close()
	if err != nil {
		return nil, err
	}
	out := &rampResult{Scenario: "ramp", URL: e.target.display, Proto: e.proto, Receivers: c.receivers,
		Publishers: c.publishers, Size: c.size, P99BoundMS: ms(c.p99Bound)}
	var best, last *phaseResult
	var series []float64
	rates := c.rates()
	out.StoppedBecause = fmt.Sprintf("reached --max %g msgs/s", c.max)
	for i, rate := range rates {
		label := fmt.Sprintf("ramp %d/%d %g msgs/s", i+1, len(rates), rate)
		res, err := r.runPhase(ctx, label, i, rate, c.stepDuration, c.drain)
		if err != nil {
			return nil, err
		}
		last = res
		series = append(series, res.DeliveredSerie...)
		why := c.verdict(res)
		out.Steps = append(out.Steps, rampStep{Held: why == "", Reason: why, phaseResult: *res})
		if why != "" {
			out.StoppedBecause = fmt.Sprintf("%g msgs/s did not hold: %s", rate, why)
			break
		}
		best = res
		out.HighestRate, out.HighestDeliv = rate, res.DeliveriesPerS
		if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
			return nil, err
		}
	}
	out.Warnings = e.warningList()
	o := &outcome{
		Title:  fmt.Sprintf("ramp: %d receivers, %d publishers, %g→%g msgs/s (%s), p99 bound %s", c.receivers, c.publishers, c.start, c.max, c.step, c.p99Bound),
		Result: out,
		Rows: []row{
			{"target", e.target.display + " (" + e.proto + ")"},
			{"highest rate that held", heldText(out.HighestRate, out.HighestDeliv)},
			{"stopped", out.StoppedBecause},
		},
		Charts: []chart{{Title: "Deliveries per second across the steps", YLabel: "deliveries/s", X: perSecondX(len(series)), Lines: []line{{"deliveries/s", series}}}},
	}
	h := best
	if h == nil {
		h = last
	}
	if h != nil {
		o.Latency = h.hist
		o.LatencyTitle = fmt.Sprintf("Delivery latency at %g msgs/s", h.RateTarget)
	}
	t := table{Title: "Steps", Head: []string{"msgs/s", "sent/s", "deliveries/s", "p50", "p99", "p99.9", "max", "lost", "server CPU", "bench CPU", "others' CPU", "held"}}
	var p99s, rateX []float64
	for _, s := range out.Steps {
		held := "yes"
		if !s.Held {
			held = "no: " + s.Reason
		}
		t.Rows = append(t.Rows, []string{fmt.Sprint(s.RateTarget), fmtRate(s.SentPerS), fmtRate(s.DeliveriesPerS),
			fmtMS(s.Latency.P50MS), fmtMS(s.Latency.P99MS), fmtMS(s.Latency.P999MS), fmtMS(s.Latency.MaxMS), fmtCount(s.Lost),
			cpuPct(s.ServerCPUS, s.ElapsedS), cpuPct(s.BenchCPUS, s.ElapsedS), cpuPct(s.OtherCPUS, s.ElapsedS), held})
		p99s = append(p99s, s.Latency.P99MS)
		rateX = append(rateX, s.RateTarget)
	}
	o.Tables = []table{t}
	o.Charts = append(o.Charts, chart{Title: "p99 latency by rate", YLabel: "p99 ms", XUnit: " msg/s", X: rateX, Lines: []line{{"p99 ms", p99s}}})
	return o, nil
}

func heldText(rate, deliveries float64) string {
	if rate == 0 {
		return "none: the first step failed"
	}
	return fmt.Sprintf("%g msgs/s = %s deliveries", rate, fmtRate(deliveries))
}

// cpuPct is CPU time as a share of one core over elapsed seconds.
func cpuPct(cpu, elapsed float64) string {
	if cpu <= 0 || elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*cpu/elapsed)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
