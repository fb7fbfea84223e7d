package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// ErrUsage marks command-line mistakes (a bad flag value, an unknown
// scenario), so the caller can exit with status 2.
var ErrUsage = errors.New("usage")

const usage = `Usage: parley bench SCENARIO --url ws://HOST:PORT/ws [flags]

Loads a chat server over WebSocket and measures it. Scenarios:

  idle     open --conns connections into --rooms rooms and hold them:
           connect rate and server memory per connection (--pid)
  fanout   --receivers in one room, --publishers sending --rate msgs/s:
           loss, duplicates, order, deliveries/s, latency, server CPU,
           and from a Parley server's /metrics its store appends over 50ms
           (a message is delivered after its commit)
  ramp     fanout steps at rising rates until p99 passes --p99-bound or
           anything is lost: the highest rate that held
  sends    --conns connections each sending as fast as acks come back,
           --inflight at a time: acked messages/s and ack latency; with a
           list of depths (--inflight 1,2,4,8) the most acks/s whose p99
           stays within --p99-bound
  storm    --conns clients drop at once, --missed messages are sent, all
           reconnect and resume: time until every client caught up
  soak     idle connections, fan-out, joins/leaves, reconnects and history
           for --duration: whether server memory and goroutines stay flat

"parley bench SCENARIO --help" lists a scenario's flags. The bench speaks
parley.v1; --proto text measures any server that broadcasts text frames
(idle, fanout, ramp). Only loopback targets are allowed without
--allow-remote. Start Parley with high limits for benchmarks:

  parley serve --rate 100000 --burst 100000 --log-level warn
`

// common are the flags every scenario takes.
type common struct {
	url         string
	proto       string
	timeout     time.Duration
	allowRemote bool
	pid         int
	json        bool
	report      string
	workers     int
	dialTimeout time.Duration
	compression bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "ws://127.0.0.1:9502/ws", "the server's WebSocket `URL`")
	fs.StringVar(&c.proto, "proto", protoV1, "`dialect`: parley.v1, or text (each text frame sent is broadcast to every connection)")
	fs.DurationVar(&c.timeout, "timeout", 0, "stop the whole run after this `duration` (default: the scenario's planned time + 1m)")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a target that is not loopback (only a server you may load)")
	fs.IntVar(&c.pid, "pid", 0, "the server's process `id`, to read its memory and CPU time from /proc")
	fs.BoolVar(&c.json, "json", false, "print the result as JSON instead of a table")
	fs.StringVar(&c.report, "report", "", "also write an HTML report with charts to this `file`")
	fs.IntVar(&c.workers, "workers", 32, "connections opened in parallel")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 10*time.Second, "bound on each connection's TCP and WebSocket handshake")
	fs.BoolVar(&c.compression, "compression", false, "offer permessage-deflate (no context takeover) on every connection and fail unless the server accepts it (parley serve --compression); compressed frames are inflated before they are read")
}

func (c *common) check() error {
	k := &checker{}
	if c.proto == "v1" {
		c.proto = protoV1
	}
	if c.proto != protoV1 && c.proto != protoText {
		k.fail("--proto must be parley.v1 or text, not %q", c.proto)
	}
	k.dur("timeout", c.timeout, 0, 48*time.Hour)
	k.int("pid", c.pid, 0, 1<<22)
	k.int("workers", c.workers, 1, 4096)
	k.dur("dial-timeout", c.dialTimeout, 100*time.Millisecond, 10*time.Minute)
	return k.err
}

// scenario is one of the bench's workloads.
type scenario interface {
	// flags registers the scenario's own flags.
	flags(fs *flag.FlagSet)
	// check validates them; errors name the flag.
	check(c *common) error
	// conns is how many connections it holds at most.
	conns() int
	// planned is how long it should take, for the default --timeout.
	planned() time.Duration
	run(ctx context.Context, e *env) (*outcome, error)
}

var scenarios = map[string]func() scenario{
	"idle":   func() scenario { return &idleConfig{} },
	"fanout": func() scenario { return &fanoutConfig{} },
	"ramp":   func() scenario { return &rampConfig{} },
	"sends":  func() scenario { return &sendsConfig{} },
	"storm":  func() scenario { return &stormConfig{} },
	"soak":   func() scenario { return &soakConfig{} },
}

// Main runs "parley bench": args start with the scenario. It prints the
// result on stdout and the live progress line and warnings on stderr. It
// returns an error wrapping flag.ErrHelp after printing help, one wrapping
// ErrUsage for bad flags, and otherwise one saying what went wrong.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no scenario given; choose idle, fanout, ramp, sends, storm or soak", ErrUsage)
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("bench: %w", flag.ErrHelp)
	}
	newScenario, ok := scenarios[name]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown scenario %q; choose idle, fanout, ramp, sends, storm or soak", ErrUsage, name)
	}
	sc := newScenario()
	var c common
	fs := flag.NewFlagSet("parley bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	sc.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: parley bench %s --url ws://HOST:PORT/ws [flags]\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (flags go after the scenario: parley bench %s --url ...)", ErrUsage, fs.Arg(0), name)
	}
	if err := c.check(); err != nil {
		return err
	}
	if err := sc.check(&c); err != nil {
		return err
	}
	tgt, err := parseTarget(c.url, c.allowRemote)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if c.pid != 0 {
		if _, err := sampleProc(c.pid); err != nil {
			return fmt.Errorf("%w: --pid %d: %v", ErrUsage, c.pid, err)
		}
	}
	if err := ensureDescriptors(sc.conns()); err != nil {
		return err
	}
	if c.report != "" {
		// Found out now, not after a run of many minutes.
		if err := checkWritable(c.report); err != nil {
			return fmt.Errorf("%w: --report: %v", ErrUsage, err)
		}
	}
	timeout := c.timeout
	if timeout == 0 {
		timeout = sc.planned() + time.Minute + time.Duration(sc.conns())*5*time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	proto := ""
	if c.proto == protoV1 {
		proto = protoV1
	}
	e := &env{
		target:  tgt,
		proto:   c.proto,
		dial:    &dialer{target: tgt, protocol: proto, sources: tgt.sourceAddrs(16), timeout: c.dialTimeout, compression: c.compression},
		pid:     c.pid,
		run:     rand.Uint32(),
		workers: c.workers,
		stderr:  stderr,
		prog:    startProgress(stderr),
	}
	out, err := sc.run(ctx, e)
	e.prog.close()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("bench %s: the run did not finish within --timeout %s: %w", name, timeout, err)
		}
		return fmt.Errorf("bench %s: %w", name, err)
	}
	out.Warnings = e.warningList()
	if c.json {
		err = writeJSON(stdout, out)
	} else {
		err = writeTable(stdout, out)
	}
	if err != nil {
		return fmt.Errorf("bench %s: writing the result: %w", name, err)
	}
	if c.report != "" {
		if err := writeReport(c.report, out, args); err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
	}
	if out.Failure != nil {
		return fmt.Errorf("bench %s: %w", name, out.Failure)
	}
	return nil
}

// checker collects the first invalid flag.
type checker struct{ err error }

func (k *checker) fail(format string, args ...any) {
	if k.err == nil {
		k.err = fmt.Errorf("%w: "+format, append([]any{ErrUsage}, args...)...)
	}
}

func (k *checker) int(name string, v, lo, hi int) {
	if v < lo || v > hi {
		k.fail("--%s must be between %d and %d, not %d", name, lo, hi, v)
	}
}

func (k *checker) float(name string, v, lo, hi float64) {
	if !(v >= lo && v <= hi) {
		k.fail("--%s must be between %g and %g, not %g", name, lo, hi, v)
	}
}

func (k *checker) dur(name string, v, lo, hi time.Duration) {
	if v < lo || v > hi {
		k.fail("--%s must be between %s and %s, not %s", name, lo, hi, v)
	}
}

// needV1 refuses text mode for scenarios built on parley.v1 requests.
func (k *checker) needV1(c *common, scenario, why string) {
	if c.proto != protoV1 {
		k.fail("--proto %s: the %s scenario needs parley.v1 (%s)", c.proto, scenario, why)
	}
}

// maxMessages bounds what one run publishes, so every loop is bounded.
const maxMessages = 100_000_000

// maxConns bounds connection counts before the descriptor check.
const maxConns = 1_000_000

func (k *checker) messages(rateFlag string, rate float64, d time.Duration) {
	if n := rate * d.Seconds(); n > maxMessages {
		k.fail("--%s × duration is %.0f messages; at most %d per run", rateFlag, n, maxMessages)
	}
}
