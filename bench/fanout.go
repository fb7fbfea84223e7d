package bench

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// fanoutConfig: R receivers in one room, P publishers at a total rate.
type fanoutConfig struct {
	receivers, publishers int
	rate                  float64
	duration, drain       time.Duration
	size                  int
	room                  string
}

// registerRig registers the flags every rig-based scenario shares.
func registerRig(fs *flag.FlagSet, receivers, publishers, size *int, room *string) {
	fs.IntVar(receivers, "receivers", 100, "connections that receive every message")
	fs.IntVar(publishers, "publishers", 1, "connections that send; the rate is split among them")
	fs.IntVar(size, "size", 100, "message text `bytes` (at least 64: the text carries a send timestamp and a sequence)")
	fs.StringVar(room, "room", "", "parley.v1 `room` to use (default: a new room per run; text mode uses the lobby)")
}

func checkRig(k *checker, receivers, publishers, size int, room string) {
	k.int("receivers", receivers, 1, maxConns)
	k.int("publishers", publishers, 1, 10000)
	k.int("size", size, minPayload, 1<<20)
	if len(room) > 64 {
		k.fail("--room must be at most 64 characters")
	}
	for _, c := range room {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			k.fail("--room %q may only hold a-z, 0-9, '_' and '-'", room)
			break
		}
	}
}

func (c *fanoutConfig) flags(fs *flag.FlagSet) {
	registerRig(fs, &c.receivers, &c.publishers, &c.size, &c.room)
	fs.Float64Var(&c.rate, "rate", 100, "messages per second, all publishers together (deliveries/s = rate × receivers)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to publish")
	fs.DurationVar(&c.drain, "drain", 5*time.Second, "after the last send, wait for deliveries in flight until none arrives for this long (at most 1m more)")
}

func (c *fanoutConfig) check(cm *common) error {
	k := &checker{}
	checkRig(k, c.receivers, c.publishers, c.size, c.room)
	k.float("rate", c.rate, 0.01, 10_000_000)
	k.dur("duration", c.duration, 100*time.Millisecond, 24*time.Hour)
	k.dur("drain", c.drain, 0, time.Hour)
	k.messages("rate", c.rate, c.duration)
	return k.err
}

func (c *fanoutConfig) conns() int { return c.receivers + c.publishers }

func (c *fanoutConfig) planned() time.Duration { return c.duration + c.drain }

// fanoutResult is what --json prints for fanout.
type fanoutResult struct {
	Scenario   string  `json:"scenario"`
	URL        string  `json:"url"`
	Proto      string  `json:"proto"`
	Room       string  `json:"room"`
	Receivers  int     `json:"receivers"`
	Publishers int     `json:"publishers"`
	Size       int     `json:"size"`
	ConnectS   float64 `json:"connect_s"`
	phaseResult
	Warnings []string `json:"warnings,omitempty"`
}

func (c *fanoutConfig) run(ctx context.Context, e *env) (*outcome, error) {
	room := e.room(c.room, "")
	t0 := time.Now()
	r, err := setupRig(ctx, e, c.receivers, c.publishers, c.size, room)
	defer r.close()
	if err != nil {
		return nil, err
	}
	connect := time.Since(t0)
	res, err := r.runPhase(ctx, "fanout", 0, c.rate, c.duration, c.drain)
	if err != nil {
		return nil, err
	}
	if !e.v1() {
		room = "lobby"
	}
	out := &fanoutResult{Scenario: "fanout", URL: e.target.display, Proto: e.proto, Room: room,
		Receivers: c.receivers, Publishers: c.publishers, Size: c.size, ConnectS: round3(connect.Seconds()),
		phaseResult: *res, Warnings: e.warningList()}
	o := &outcome{
		Title:  fmt.Sprintf("fanout: %d receivers, %d publishers, %g msgs/s for %s (%s)", c.receivers, c.publishers, c.rate, c.duration, e.proto),
		Result: out,
		Rows: append([]row{
			{"target", e.target.display},
			{"connections", fmt.Sprintf("%d receivers + %d publishers in %s, connected in %.2fs", c.receivers, c.publishers, room, connect.Seconds())},
		}, phaseRows(res)...),
		Latency:      res.hist,
		LatencyTitle: "Delivery latency (receive time − send time in the message)",
		Charts:       throughputCharts(res),
	}
	if err := r.drops(); err != nil {
		o.Failure = err
	}
	return o, nil
}

// phaseRows formats a phase's result for a table.
func phaseRows(res *phaseResult) []row {
	rows := []row{
		{"sent / refused", fmt.Sprintf("%s / %s (%s)", fmtCount(res.Sent), fmtCount(res.Refused), fmtRate(res.SentPerS))},
		{"expected / delivered", fmt.Sprintf("%s / %s", fmtCount(res.Expected), fmtCount(res.Delivered))},
		{"lost / duplicated / out of order", fmt.Sprintf("%s / %s / %s", fmtCount(res.Lost), fmtCount(res.Duplicated), fmtCount(res.OutOfOrder))},
		{"deliveries/s", fmtRate(res.DeliveriesPerS)},
	}
	rows = append(rows, latencyRows("latency", res.Latency)...)
	rows = append(rows, row{"publisher lag, worst", fmtMS(res.PublisherLagMS)})
	if res.ServerCPUS > 0 {
		rows = append(rows,
			row{"server CPU", fmt.Sprintf("%.2fs (%.1f%% of one core)", res.ServerCPUS, 100*res.ServerCPUS/res.ElapsedS)},
			row{"server CPU per million deliveries", fmt.Sprintf("%.3fs", res.ServerCPUPerM)},
			row{"server RSS after", fmtBytes(res.ServerRSSAfter)})
	}
	rows = append(rows, row{"bench CPU", fmt.Sprintf("%.2fs (%.1f%% of one core)", res.BenchCPUS, 100*res.BenchCPUS/res.ElapsedS)})
	if res.OtherCPUS > 0 {
		rows = append(rows, row{"other processes' CPU", fmt.Sprintf("%.2fs (%.1f%% of one core)", res.OtherCPUS, 100*res.OtherCPUS/res.ElapsedS)})
	}
	if res.StoreAppends != nil {
		rows = append(rows, row{"server store appends over 50ms", fmt.Sprintf("%s of %s", fmtCount(*res.StoreSlowAppends), fmtCount(*res.StoreAppends))})
	}
	if res.Dropped > 0 {
		rows = append(rows, row{"connections dropped", fmtCount(res.Dropped)})
	}
	if res.LastRefusal != "" {
		rows = append(rows, row{"last refusal", res.LastRefusal})
	}
	if res.SendError != "" {
		rows = append(rows, row{"send error", res.SendError})
	}
	return rows
}

// throughputCharts draws deliveries and sends apart: at fan-out they
// differ by the number of receivers.
func throughputCharts(res *phaseResult) []chart {
	return []chart{
		{Title: "Deliveries per second", YLabel: "deliveries/s", X: perSecondX(len(res.DeliveredSerie)),
			Lines: []line{{"deliveries/s", res.DeliveredSerie}}},
		{Title: "Messages sent per second", YLabel: "messages/s", X: perSecondX(len(res.SentSeries)),
			Lines: []line{{"sent/s", res.SentSeries}}},
	}
}
