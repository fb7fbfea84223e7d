package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/parleychat/parley/protocol"
)

// serveConfig is everything "parley serve" is told.
type serveConfig struct {
	Addr            string
	Data            string
	Guests          bool
	AllowedOrigins  string
	MaxText         int
	Heartbeat       time.Duration
	Rate            float64
	Burst           int
	QueueBytes      int
	GCPercent       int
	Coalesce        time.Duration
	MaxReplay       int
	LogFormat       string
	LogLevel        string
	ShutdownGrace   time.Duration
	Store           string
	Broker          string
	PresenceRefresh time.Duration
	PresenceLinger  time.Duration
	PresenceLimit   int
	Revalidate      time.Duration
	TrustedProxies  string
	ConformanceEcho bool
	Compression     bool
	Registration    string
	SessionTTL      time.Duration
	JWTSecret       string
	JWTKeys         string
	TLSCert         string
	TLSKey          string
	TLSSelfSigned   bool
}

func newServeFlags(c *serveConfig, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("parley serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", ":9502", "`address` to listen on (host:port)")
	fs.StringVar(&c.Data, "data", "./parley-data", "`directory` for Parley's state (the SQLite database)")
	fs.BoolVar(&c.Guests, "guests", true, "let anyone connect as a guest with a chosen name")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "comma-separated `origins` allowed to open /ws besides the server's own; * allows any")
	fs.IntVar(&c.MaxText, "max-text", 1024, "longest message, in `characters` (Unicode code points)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", 25*time.Second, "`interval` of server pings; a peer silent for two intervals is closed")
	fs.Float64Var(&c.Rate, "rate", 10, "sustained `messages` per second per connection")
	fs.IntVar(&c.Burst, "burst", 20, "messages a connection may send at once before --rate applies")
	fs.IntVar(&c.GCPercent, "gc-percent", 25, "the Go collector's GOGC: how far the heap may grow past what is live before a collection; lower keeps each idle connection's memory down for a little CPU (the GOGC environment variable, when set, wins)")
	fs.IntVar(&c.QueueBytes, "queue-bytes", 1<<20, "outgoing queue cap per connection in `bytes`; a client that overflows it is closed with 4008")
	fs.DurationVar(&c.Coalesce, "coalesce", 0, "shortest `interval` between two fan-out passes of a room; busy rooms merge messages into fewer writes anyway, a longer interval merges more at the price of latency (0: none)")
	fs.IntVar(&c.MaxReplay, "max-replay", 1000, "most missed `messages` a reconnecting client gets replayed; it pages back for more")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&c.Store, "store", "", "PostgreSQL `URL` (postgres://user:pass@host/db) for cluster mode; empty keeps SQLite in --data")
	fs.StringVar(&c.Broker, "broker", "", "Redis `URL` (redis://host:6379/0) connecting the nodes of a cluster; empty for a single node")
	fs.DurationVar(&c.PresenceLinger, "presence-linger", 5*time.Second, "how long a user whose last connection to a room dropped still shows as online there, so a quick reconnect announces no leave and join (0: leave at once)")
	fs.IntVar(&c.PresenceLimit, "presence-limit", 500, "rooms with more users online than this announce no arrivals or departures, and list only the first this many in joined frames (with the total in online_count); 0: no limit")
	fs.DurationVar(&c.PresenceRefresh, "presence-refresh", 10*time.Second, "cluster mode: how often a node confirms its users to the others; a dead node's users leave presence within about 3 intervals")
	fs.DurationVar(&c.Revalidate, "revalidate", 15*time.Second, "how often open connections' sessions are rechecked; a logout, password change or disabled account closes them (4001) within this")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated `CIDRs` of reverse proxies (e.g. 127.0.0.1/32) whose X-Forwarded-For names the client for login throttling")
	fs.BoolVar(&c.Compression, "compression", false, "accept permessage-deflate from clients that offer it (browsers do): less bandwidth for some CPU; each broadcast is compressed once for all such clients")
	fs.BoolVar(&c.ConformanceEcho, "conformance-echo", false, "serve /ws/echo, which echoes every message through Parley's WebSocket stack, for the Autobahn testsuite; never in production")
	fs.StringVar(&c.Registration, "registration", "open", "who may create accounts (`mode`): open (anyone, at POST /api/register) or closed (admins, with parley user add)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 30*24*time.Hour, "how long a login lasts")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HMAC `secret` for HS256 JWTs from your own app (better set as PARLEY_JWT_SECRET)")
	fs.StringVar(&c.JWTKeys, "jwt-key", "", "comma-separated PEM `files` of RSA or Ed25519 public keys for RS256 / EdDSA JWTs")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "certificate `file` (PEM); with --tls-key serves https and wss on --addr")
	fs.StringVar(&c.TLSKey, "tls-key", "", "private key `file` (PEM) for --tls-cert")
	fs.BoolVar(&c.TLSSelfSigned, "tls-self-signed", false, "serve https and wss with a throwaway self-signed certificate, for trying TLS out")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "how long a stop may take before connections are dropped")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: parley serve [flags]\n\nRuns the Parley chat server: the chat page at /, WebSocket at /ws,\n/healthz and /metrics. Every flag can also be set with an environment\nvariable PARLEY_<FLAG>, e.g. PARLEY_ADDR=:8080 or PARLEY_ALLOWED_ORIGINS=...;\na flag on the command line wins.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command
// line from its PARLEY_<NAME> environment variable. Positional arguments
// are refused unless positional is true.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, positional bool) error {
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if fs.NArg() > 0 && !positional {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v := getenv(env); v != "" && !given[f.Name] && err == nil {
			if setErr := fs.Set(f.Name, v); setErr != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, env, v, setErr)
				if g, ok := f.Value.(flag.Getter); ok {
					if _, isDuration := g.Get().(time.Duration); isDuration {
						err = fmt.Errorf("%w: %s=%q is not a duration; write one with its unit, such as 5s, 250ms or 1m", errUsage, env, v)
					}
				}
			}
		}
	})
	return err
}

func envName(flagName string) string {
	return "PARLEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// maxMaxText bounds --max-text: a frame may be six bytes per character
// (JSON escapes) and must fit the outgoing queue many times over.
const maxMaxText = 65536

// validate names the first setting that can't work.
func (c *serveConfig) validate() error {
	switch {
	case c.MaxText < 1 || c.MaxText > maxMaxText:
		return fmt.Errorf("%w: --max-text must be between 1 and %d, not %d", errUsage, maxMaxText, c.MaxText)
	case c.Heartbeat < 100*time.Millisecond:
		return fmt.Errorf("%w: --heartbeat must be at least 100ms, not %s", errUsage, c.Heartbeat)
	case !(c.Rate > 0) || math.IsInf(c.Rate, 1): // NaN fails every comparison
		return fmt.Errorf("%w: --rate must be a number above 0, not %g", errUsage, c.Rate)
	case c.Burst < 1:
		return fmt.Errorf("%w: --burst must be at least 1, not %d", errUsage, c.Burst)
	case c.QueueBytes < 64<<10:
		return fmt.Errorf("%w: --queue-bytes must be at least 65536, not %d", errUsage, c.QueueBytes)
	case c.QueueBytes < 2*protocol.MaxFrameFor(c.MaxText):
		// No message's frame comes near that size (the server's encoder
		// escapes at most six bytes a character), but a queue that can't
		// hold two would close connections for receiving long messages.
		return fmt.Errorf("%w: --queue-bytes must hold two of the largest frames --max-text %d allows, %d bytes, not %d", errUsage, c.MaxText, 2*protocol.MaxFrameFor(c.MaxText), c.QueueBytes)
	case c.Coalesce < 0 || c.Coalesce > time.Second:
		return fmt.Errorf("%w: --coalesce must be between 0 and 1s, not %s", errUsage, c.Coalesce)
	case c.MaxReplay < 1:
		return fmt.Errorf("%w: --max-replay must be at least 1, not %d", errUsage, c.MaxReplay)
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("%w: --log-format must be text or json, not %q", errUsage, c.LogFormat)
	case c.ShutdownGrace <= 0:
		return fmt.Errorf("%w: --shutdown-grace must be above 0, not %s: clients are told the server is going away (1001) within it", errUsage, c.ShutdownGrace)
	case c.Data == "":
		return fmt.Errorf("%w: --data must name a directory", errUsage)
	case c.PresenceLinger < 0 || c.PresenceLinger > time.Hour:
		return fmt.Errorf("%w: --presence-linger must be between 0 and 1h, not %s", errUsage, c.PresenceLinger)
	case c.GCPercent < 10 || c.GCPercent > 1000:
		return fmt.Errorf("%w: --gc-percent must be between 10 and 1000, not %d", errUsage, c.GCPercent)
	case c.PresenceLimit < 0:
		return fmt.Errorf("%w: --presence-limit must be 0 (no limit) or more, not %d", errUsage, c.PresenceLimit)
	case c.PresenceRefresh < 100*time.Millisecond:
		return fmt.Errorf("%w: --presence-refresh must be at least 100ms, not %s", errUsage, c.PresenceRefresh)
	case c.Revalidate < 100*time.Millisecond:
		return fmt.Errorf("%w: --revalidate must be at least 100ms, not %s", errUsage, c.Revalidate)
	case c.Registration != "open" && c.Registration != "closed":
		return fmt.Errorf("%w: --registration must be open or closed, not %q", errUsage, c.Registration)
	case c.SessionTTL < time.Minute:
		return fmt.Errorf("%w: --session-ttl must be at least 1m, not %s", errUsage, c.SessionTTL)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	case c.TLSSelfSigned && c.TLSCert != "":
		return fmt.Errorf("%w: use either --tls-self-signed or --tls-cert/--tls-key", errUsage)
	case c.JWTSecret != "" && len(c.JWTSecret) < 32:
		return fmt.Errorf("%w: --jwt-secret must be at least 32 bytes, so it can't be guessed", errUsage)
	}
	return nil
}

func (c *serveConfig) allowedOrigins() []string { return splitList(c.AllowedOrigins) }

// trustedProxies parses --trusted-proxies; a bare address means just it.
func (c *serveConfig) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range splitList(c.TrustedProxies) {
		if !strings.Contains(v, "/") {
			addr, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("%w: --trusted-proxies: %q is not an address or CIDR", errUsage, v)
			}
			out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("%w: --trusted-proxies: %q is not an address or CIDR", errUsage, v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}
