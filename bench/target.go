package bench

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// target is the server under test.
type target struct {
	u        *url.URL
	display  string // the URL as given, for messages
	host     string // without port or brackets
	loopback bool
}

// parseTarget checks --url: a ws:// or wss:// URL whose host is loopback
// unless allowRemote.
func parseTarget(raw string, allowRemote bool) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--url %q is not a URL: %w", raw, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("--url %q must start with ws:// or wss://", raw)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("--url %q names no host", raw)
	}
	t := &target{u: u, display: raw, host: host, loopback: isLoopback(host)}
	if !t.loopback && !allowRemote {
		return nil, fmt.Errorf("--url %q: %s is not a loopback address (127.0.0.0/8, ::1, localhost); loading another machine needs --allow-remote, and only one you are allowed to load", raw, host)
	}
	return t, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// wsURL returns the target URL with q added to its query.
func (t *target) wsURL(q url.Values) string {
	if len(q) == 0 {
		return t.u.String()
	}
	u := *t.u
	all := u.Query()
	for k, vs := range q {
		all[k] = vs
	}
	u.RawQuery = all.Encode()
	return u.String()
}

// metricsURL is where a Parley server on the same listener serves
// Prometheus metrics.
func (t *target) metricsURL() string {
	u := url.URL{Scheme: "http", Host: t.u.Host, Path: "/metrics"}
	if t.u.Scheme == "wss" {
		u.Scheme = "https"
	}
	return u.String()
}

// sourceAddrs returns the local addresses to spread connections over: for
// an IPv4 loopback target, 127.0.0.1 to 127.0.0.n, each with its own
// ~28,000 ephemeral ports, so many connections (and the TIME_WAIT sockets
// earlier runs left) never exhaust them. Addresses this machine cannot bind
// (macOS only has 127.0.0.1) are left out; nil means the system's choice.
func (t *target) sourceAddrs(n int) []net.IP {
	if !t.loopback {
		return nil
	}
	if ip := net.ParseIP(t.host); ip == nil || ip.To4() == nil {
		if !strings.EqualFold(t.host, "localhost") {
			return nil // ::1
		}
	}
	var out []net.IP
	for x := 1; x <= n; x++ {
		ip := net.IPv4(127, 0, 0, byte(x))
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: ip})
		if err != nil {
			break
		}
		ln.Close()
		out = append(out, ip)
	}
	return out
}
