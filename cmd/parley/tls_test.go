package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// tlsClients returns an https API client and a wss dialer that use conf.
func tlsClients(s *testServer, conf *tls.Config) (api, *websocket.Dialer) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: waitTimeout}
	return api{base: "https://" + s.addr, client: client},
		&websocket.Dialer{TLSClientConfig: conf, Subprotocols: []string{"parley.v1"}, HandshakeTimeout: waitTimeout}
}

// dialTLS opens wss://addr/ws?query and reads the welcome.
func dialTLS(tb testing.TB, d *websocket.Dialer, s *testServer, query string) *client {
	tb.Helper()
	c, resp, err := d.Dial("wss://"+s.addr+"/ws?"+query, nil)
	if err != nil {
		tb.Fatalf("wss dial: %v (%s)", err, respBody(resp))
	}
	cl := newClient(tb, c)
	cl.welcome = cl.expect("welcome")
	return cl
}

// checkTLSServer checks what any TLS configuration must give: the page and
// /healthz over https, a chat round trip over wss, a Secure session cookie,
// and nothing over plain http or ws.
func checkTLSServer(t *testing.T, s *testServer, a api, d *websocket.Dialer) {
	t.Helper()
	resp, err := a.client.Get(a.base + "/")
	if err != nil {
		t.Fatalf("https page: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(string(page)), "<html") || resp.TLS == nil {
		t.Errorf("https page: HTTP %d, %d bytes", resp.StatusCode, len(page))
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("https page has no CSP")
	}
	if h := a.do(t, "GET", "/healthz", "", nil); h.StatusCode != 200 || h.str("status") != "ok" {
		t.Errorf("https healthz: HTTP %d %s", h.StatusCode, h.raw)
	}

	alice := dialTLS(t, d, s, queryName("alice"))
	bob := dialTLS(t, d, s, queryName("bob"))
	alice.join("lobby", nil)
	bob.join("lobby", nil)
	ack := alice.send("lobby", "over wss", "n1")
	if m := bob.expect("message"); m.str("text") != "over wss" || m.num("seq") != ack.num("seq") {
		t.Errorf("bob got %v", m)
	}

	reg := a.do(t, "POST", "/api/register", "", map[string]string{"name": "carol", "password": "carol password"})
	var cookie *http.Cookie
	for _, c := range reg.Cookies() {
		if c.Name == "parley_session" {
			cookie = c
		}
	}
	if reg.StatusCode != 201 || cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Errorf("register over https: HTTP %d, cookie %+v; want Secure, HttpOnly, SameSite=Lax", reg.StatusCode, cookie)
	}
	if me := a.do(t, "GET", "/api/me", reg.str("token"), nil); me.str("user", "name") != "carol" {
		t.Errorf("me over https: %s", me.raw)
	}

	// Plain http to the TLS port gets no page: Go's TLS server answers a
	// plaintext request with a bare 400 and closes.
	plain := &http.Client{Timeout: waitTimeout}
	if resp, err := plain.Get("http://" + s.addr + "/healthz"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(body), `"ok"`) {
			t.Errorf("plain http to the TLS port: HTTP %d %s", resp.StatusCode, body)
		}
	}
	if c, _, err := dialRaw(s, queryName("eve"), []string{"parley.v1"}, nil); err == nil {
		c.Close()
		t.Error("a plain ws:// dial to the TLS port succeeded")
	}
}

func TestTLSSelfSigned(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.TLSSelfSigned = true })
	a, d := tlsClients(s, &tls.Config{InsecureSkipVerify: true})
	checkTLSServer(t, s, a, d)

	// The certificate is for localhost and short-lived, and a client that
	// verifies refuses it.
	conn, err := tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if cert.VerifyHostname("localhost") != nil || cert.VerifyHostname("127.0.0.1") != nil || cert.NotAfter.Sub(time.Now()) > 8*24*time.Hour {
		t.Errorf("self-signed certificate: names %v %v, valid until %v", cert.DNSNames, cert.IPAddresses, cert.NotAfter)
	}
	verifying, _ := tlsClients(s, &tls.Config{})
	if _, err := verifying.client.Get(verifying.base + "/healthz"); err == nil {
		t.Error("a verifying client accepted the self-signed certificate")
	}
}

// writeCert makes a CA-free self-signed certificate for 127.0.0.1 and
// localhost, writes it and its key as PEM files, and returns their paths
// and a pool that trusts it.
func writeCert(tb testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{CommonName: "parley test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSCertFiles(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	s := startServer(t, func(c *serveConfig) { c.TLSCert, c.TLSKey = certFile, keyFile })
	// This client verifies: it trusts exactly the test certificate.
	a, d := tlsClients(s, &tls.Config{RootCAs: pool})
	checkTLSServer(t, s, a, d)

	resp, err := a.client.Get(a.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.TLS.Version; v < tls.VersionTLS12 {
		t.Errorf("TLS version %x, want 1.2 or later", v)
	}
	// TLS 1.1 and older are refused.
	old := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", s.addr, old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 client connected")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	certFile, keyFile, _ := writeCert(t)
	for _, tc := range []struct {
		c    func(*serveConfig)
		want string
	}{
		{func(c *serveConfig) { c.TLSCert = certFile }, "--tls-cert and --tls-key go together"},
		{func(c *serveConfig) { c.TLSKey = keyFile }, "--tls-cert and --tls-key go together"},
		{func(c *serveConfig) { c.TLSCert, c.TLSKey, c.TLSSelfSigned = certFile, keyFile, true }, "either --tls-self-signed"},
	} {
		c := defaultConfig(t)
		tc.c(&c)
		if err := c.validate(); err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate: %v, want a usage error with %q", err, tc.want)
		}
	}
	// Files that don't hold a matching pair are refused at start.
	c := defaultConfig(t)
	c.TLSCert, c.TLSKey = certFile, certFile
	if _, err := c.tlsConfig(); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Errorf("a certificate as its own key: %v", err)
	}
	c.TLSCert, c.TLSKey = filepath.Join(t.TempDir(), "missing.pem"), keyFile
	if _, err := c.tlsConfig(); err == nil {
		t.Error("a missing certificate file was accepted")
	}
}
