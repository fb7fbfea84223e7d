package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleychat/parley/parleytest"
)

// nginxConf is the deployment config the test runs, not a copy of it.
const nginxConf = "../../deploy/nginx/parley.conf"

// nginxFront is a real nginx running deploy/nginx/parley.conf in front of
// a cluster, on loopback ports.
type nginxFront struct {
	addr  string // host:port of the TLS server
	plain string // host:port of the port-80 server
	roots *x509.CertPool
	cmd   *exec.Cmd
	logs  *syncBuffer
}

// findNginx returns the nginx binary, failing (never skipping) when it is
// missing: a machine without it must not pass silently.
func findNginx(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if path, err := exec.LookPath("nginx"); err == nil {
		return path
	}
	tb.Fatal("nginx is not installed (no /usr/sbin/nginx, none on PATH); run scripts/install-test-deps (as root or with sudo) to install it")
	return ""
}

// startNginx runs deploy/nginx/parley.conf with the nodes' addresses, its
// own ports, a throwaway certificate and its files in a temporary
// directory, and stops it by its PID when tb ends.
func startNginx(tb testing.TB, nodes []string) *nginxFront {
	tb.Helper()
	bin := findNginx(tb)
	conf, err := os.ReadFile(nginxConf)
	if err != nil {
		tb.Fatal(err)
	}
	// Not t.TempDir: that is 0700, and when the test runs as root nginx's
	// workers run as www-data and write their scratch files here.
	dir, err := os.MkdirTemp("", "parley-nginx-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	roots := writeNginxCert(tb, dir)

	f := &nginxFront{addr: freeAddr(tb), plain: freeAddr(tb), roots: roots, logs: &syncBuffer{}}
	text := string(conf)
	replace := func(old, new string) {
		tb.Helper()
		if !strings.Contains(text, old) {
			tb.Fatalf("%s no longer contains %q, which the test replaces; update the test with the config", nginxConf, old)
		}
		text = strings.ReplaceAll(text, old, new)
	}
	for i, addr := range nodes {
		replace(fmt.Sprintf("server 10.0.0.1%d:9502 ", i+1), "server "+addr+" ")
	}
	replace("listen 80;", "listen "+f.plain+";")
	replace("listen 443 ssl;", "listen "+f.addr+" ssl;")
	replace("/etc/letsencrypt/live/chat.example.com/", dir+"/")
	replace("/var/log/nginx/", dir+"/")
	// nginx's scratch directories, which default to /var/lib/nginx.
	var temps strings.Builder
	for _, kind := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", kind, filepath.Join(dir, kind))
	}
	replace("\nhttp {\n", "\nhttp {\n"+temps.String())
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}

	f.cmd = exec.Command(bin, "-c", path, "-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+"; error_log stderr;")
	f.cmd.Stdout, f.cmd.Stderr = f.logs, f.logs
	if err := f.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { f.cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		// SIGTERM is nginx's fast shutdown: the master stops its workers,
		// open WebSockets included, and exits.
		f.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			f.cmd.Process.Kill()
			<-exited
			tb.Errorf("nginx did not stop within 10s of SIGTERM\n%s", f.logs)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			tb.Fatalf("nginx exited while starting:\n%s", f.logs)
		default:
		}
		c, err := net.Dial("tcp", f.addr)
		if err == nil {
			c.Close()
			return f
		}
		if time.Now().After(deadline) {
			tb.Fatalf("nginx did not listen on %s: %v\n%s", f.addr, err, f.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeNginxCert writes a self-signed certificate for 127.0.0.1 where the config
// expects fullchain.pem and privkey.pem, and returns a pool trusting it.
func writeNginxCert(tb testing.TB, dir string) *x509.CertPool {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "parley nginx test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := errors.Join(os.WriteFile(filepath.Join(dir, "fullchain.pem"), certPEM, 0o644),
		os.WriteFile(filepath.Join(dir, "privkey.pem"), keyPEM, 0o600)); err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return roots
}

// httpClient returns a client trusting the front's certificate that
// doesn't follow redirects and connects from local (nil: any address).
func (f *nginxFront) httpClient(local net.IP) *http.Client {
	d := &net.Dialer{Timeout: waitTimeout}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	return &http.Client{
		Timeout:       waitTimeout,
		Transport:     &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: f.roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (f *nginxFront) get(tb testing.TB, url string, local net.IP) *http.Response {
	tb.Helper()
	resp, err := f.httpClient(local).Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v\n%s", url, err, f.logs)
	}
	resp.Body.Close()
	return resp
}

// dialRaw opens wss://front/ws?query as a browser on origin would.
func (f *nginxFront) dialRaw(query, origin string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: waitTimeout, TLSClientConfig: &tls.Config{RootCAs: f.roots}}
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return d.Dial("wss://"+f.addr+"/ws?"+query, h)
}

// dial is the test's dial helper, through nginx, from the page's own
// origin.
func (f *nginxFront) dial(tb testing.TB, query string) *client {
	tb.Helper()
	c, resp, err := f.dialRaw(query, "https://"+f.addr)
	if err != nil {
		tb.Fatalf("dial %s through nginx: %v (%s)\n%s", query, err, respBody(resp), f.logs)
	}
	cl := newClient(tb, c)
	cl.welcome = cl.expect("welcome")
	return cl
}

// nodeOf returns the index of the node that logged name's connection.
func nodeOf(tb testing.TB, nodes []*proc, name string) int {
	tb.Helper()
	needle := `msg="connection opened" user=` + name + " "
	deadline := time.Now().Add(waitTimeout)
	for {
		for i, n := range nodes {
			if strings.Contains(n.logs.String(), needle) {
				return i
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no node logged the connection of %s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNginxInFrontOfCluster runs deploy/nginx/parley.conf in a real nginx in
// front of three real nodes on PostgreSQL and Redis: the page, health, the
// same-origin check, WebSockets spread over the nodes without stickiness,
// and a node killed with SIGKILL that nginx routes around while a client
// resumes elsewhere losing nothing.
func TestNginxInFrontOfCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, Redis, nginx and three server processes")
	}
	findNginx(t) // fail before starting anything
	dsn := parleytest.StartPostgres(t)
	rds := parleytest.StartRedis(t)
	flags := []string{"--store", dsn, "--broker", "redis://" + rds.Addr, "--rate", "1000", "--burst", "1000", "--presence-refresh", "1s"}
	nodes := make([]*proc, 3)
	addrs := make([]string, len(nodes))
	for i := range nodes {
		addrs[i] = freeAddr(t)
		nodes[i] = startProcess(t, t.TempDir(), addrs[i], flags...)
	}
	front := startNginx(t, addrs)
	base := "https://" + front.addr

	// The page, with Parley's headers and nginx's HSTS.
	resp := front.get(t, base+"/", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") ||
		resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("GET /: %d, CSP %q, HSTS %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), resp.Header.Get("Strict-Transport-Security"))
	}
	if resp := front.get(t, base+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %d", resp.StatusCode)
	}
	if resp := front.get(t, "http://"+front.plain+"/", nil); resp.StatusCode != http.StatusMovedPermanently ||
		!strings.HasPrefix(resp.Header.Get("Location"), "https://") {
		t.Errorf("GET http:// : %d to %q, want 301 to https", resp.StatusCode, resp.Header.Get("Location"))
	}
	// /metrics answers internal addresses only: 127.0.0.1 is on the list,
	// 127.0.0.2 (loopback too, so the test can connect from it) is not.
	if resp := front.get(t, base+"/metrics", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics from 127.0.0.1: %d, want 200", resp.StatusCode)
	}
	if resp := front.get(t, base+"/metrics", net.ParseIP("127.0.0.2")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /metrics from 127.0.0.2: %d, want 403", resp.StatusCode)
	}
	// Behind TLS at nginx, the session cookie is still marked Secure.
	reg, err := front.httpClient(nil).Post(base+"/api/register", "application/json",
		strings.NewReader(`{"name":"erin","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	reg.Body.Close()
	if reg.StatusCode != http.StatusCreated || !strings.Contains(reg.Header.Get("Set-Cookie"), "Secure") {
		t.Errorf("register through nginx: %d, Set-Cookie %q; want 201 and a Secure cookie", reg.StatusCode, reg.Header.Get("Set-Cookie"))
	}

	// The origin check sees the public host:port: another site is refused.
	if _, resp, err := front.dialRaw(queryName("mallory"), "https://evil.example"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("upgrade from another origin: %v (%s), want 403", err, respBody(resp))
	}

	// Three clients land on three nodes: nothing is sticky.
	alice, bob, carol := front.dial(t, queryName("alice")), front.dial(t, queryName("bob")), front.dial(t, queryName("carol"))
	on := map[string]int{"alice": nodeOf(t, nodes, "alice"), "bob": nodeOf(t, nodes, "bob"), "carol": nodeOf(t, nodes, "carol")}
	t.Logf("nodes: %v", on)
	if on["alice"] == on["bob"] || on["bob"] == on["carol"] || on["alice"] == on["carol"] {
		t.Fatalf("nginx put alice, bob and carol on nodes %v; least_conn should spread them over all three", on)
	}
	for _, c := range []*client{alice, bob, carol} {
		c.join("lobby", nil)
	}
	// Alice and bob, on different nodes, hear each other in one order.
	const each = 5
	for i := range each {
		alice.sendJSON(map[string]any{"type": "send", "room": "lobby", "text": fmt.Sprintf("a%d", i), "nonce": fmt.Sprintf("a%d", i)})
		bob.sendJSON(map[string]any{"type": "send", "room": "lobby", "text": fmt.Sprintf("b%d", i), "nonce": fmt.Sprintf("b%d", i)})
	}
	for _, c := range []*client{alice, bob, carol} {
		msgs := c.messages(2 * each)
		assertSeqs(t, msgs, 1)
		from := map[string]int{}
		for _, m := range msgs {
			_, n := m.user("from")
			from[n]++
		}
		if from["alice"] != each || from["bob"] != each {
			t.Fatalf("a client got messages from %v, want %d from alice and from bob", from, each)
		}
	}

	// SIGKILL alice's node. nginx ends her WebSocket with it.
	dead := nodes[on["alice"]]
	dead.cmd.Process.Signal(syscall.SIGKILL)
	dead.cmd.Wait()
	select {
	case <-alice.closed:
	case <-time.After(waitTimeout):
		t.Fatal("alice's connection through nginx outlived her node")
	}
	for i := range each {
		bob.send("lobby", fmt.Sprintf("after %d", i), fmt.Sprintf("k%d", i))
	}
	// New connections and requests still work: nginx skips the dead node.
	for i := range 4 {
		c := front.dial(t, queryName(fmt.Sprintf("late%d", i)))
		c.join("lobby", nil)
	}
	if resp := front.get(t, base+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz after the kill: %d", resp.StatusCode)
	}
	// Alice reconnects through nginx with her token and resumes from the
	// last seq she saw: the messages sent meanwhile, then live ones.
	back := front.dial(t, "token="+alice.token())
	_, backlog := back.join("lobby", ptr(int64(2*each)))
	if len(backlog) != each {
		t.Fatalf("resumed %d messages, want %d", len(backlog), each)
	}
	assertSeqs(t, backlog, 2*each+1)
	bob.send("lobby", "live", "live")
	if m := back.nextOf("message"); m.num("seq") != 3*each+1 || m.str("text") != "live" {
		t.Errorf("after the resume alice got %v, want seq %d 'live'", m, 3*each+1)
	}
}
