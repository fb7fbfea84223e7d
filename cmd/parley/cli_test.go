package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// jwtTestSecret is long enough for serve's 32-byte minimum.
const jwtTestSecret = "test-secret-0123456789-abcdefghij"

// cli runs the parley command line with stdin and an empty environment
// (plus env), as main would.
func cli(tb testing.TB, stdin string, env map[string]string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return out.String(), errb.String(), err
}

// startServerLogging is startServer with the server's logs, at debug level,
// written to w instead of the test log.
func startServerLogging(tb testing.TB, w io.Writer, mutate func(*serveConfig)) *testServer {
	tb.Helper()
	c := defaultConfig(tb)
	if mutate != nil {
		mutate(&c)
	}
	if err := c.validate(); err != nil {
		tb.Fatal(err)
	}
	a, err := newApp(c, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{app: a, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.run(ctx, ln) }()
	tb.Cleanup(func() { s.stop(tb) })
	return s
}

// api calls the server's JSON API.
type api struct {
	base   string // http://host:port or https://host:port
	client *http.Client
}

func httpAPI(s *testServer) api { return api{base: "http://" + s.addr, client: http.DefaultClient} }

type apiResponse struct {
	*http.Response
	body map[string]any
	raw  string
}

func (r apiResponse) str(path ...string) string {
	var v any = r.body
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

func (a api) do(tb testing.TB, method, path, token string, body any) apiResponse {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := apiResponse{Response: resp, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

func (a api) login(tb testing.TB, name, password string) apiResponse {
	tb.Helper()
	return a.do(tb, "POST", "/api/login", "", map[string]string{"name": name, "password": password})
}

func TestUserCommands(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Registration = "closed" })
	data := s.app.cfg.Data
	a := httpAPI(s)

	out, errOut, err := cli(t, "first password\n", nil, "user", "add", "ann", "--admin", "--data", data)
	if err != nil || !strings.Contains(out, "created admin account ann") {
		t.Fatalf("user add --admin: %v %q %q", err, out, errOut)
	}
	if strings.Contains(out+errOut, "first password") {
		t.Error("user add echoed the password")
	}
	// Flags may also come first, and --data from the environment.
	if out, _, err := cli(t, "bob password\r\n", map[string]string{"PARLEY_DATA": data}, "user", "add", "bob"); err != nil || !strings.Contains(out, "created account bob") {
		t.Fatalf("user add bob: %v %q", err, out)
	}
	if _, _, err := cli(t, "whatever123\n", nil, "user", "add", "--data", data, "ANN"); err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "taken") {
		t.Errorf("a taken name: %v (exit %d)", err, exitCode(err))
	}
	if _, _, err := cli(t, "short\n", nil, "user", "add", "--data", data, "carol"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("a short password: %v", err)
	}

	out, _, err = cli(t, "", nil, "user", "list", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("user list:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[0] != "ann" || f[2] != "true" || f[3] != "false" {
		t.Errorf("ann's row: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "bob" || f[2] != "false" || f[3] != "false" {
		t.Errorf("bob's row: %q", lines[2])
	}

	// The running server sees the new accounts.
	ann := a.login(t, "ann", "first password")
	if ann.StatusCode != 200 {
		t.Fatalf("ann's login: %s", ann.raw)
	}
	if me := a.do(t, "GET", "/api/me", ann.str("token"), nil); me.body["user"].(map[string]any)["admin"] != true {
		t.Errorf("ann is not an admin: %s", me.raw)
	}
	bob := a.login(t, "bob", "bob password")
	if bob.StatusCode != 200 {
		t.Fatalf("bob's login: %s", bob.raw)
	}

	// passwd ends the old sessions; the old password stops working.
	if out, _, err := cli(t, "second password\n", nil, "user", "passwd", "ann", "--data", data); err != nil || !strings.Contains(out, "sessions are ended") {
		t.Fatalf("passwd: %v %q", err, out)
	}
	if me := a.do(t, "GET", "/api/me", ann.str("token"), nil); me.StatusCode != 401 {
		t.Errorf("ann's old session after passwd: HTTP %d", me.StatusCode)
	}
	if r := a.login(t, "ann", "first password"); r.StatusCode != 401 {
		t.Errorf("the old password: HTTP %d", r.StatusCode)
	}
	if r := a.login(t, "ann", "second password"); r.StatusCode != 200 {
		t.Errorf("the new password: HTTP %d %s", r.StatusCode, r.raw)
	}

	// disable ends the sessions and refuses logins with the usual answer.
	if out, _, err := cli(t, "", nil, "user", "disable", "--data", data, "bob"); err != nil || !strings.Contains(out, "bob is disabled") {
		t.Fatalf("disable: %v %q", err, out)
	}
	if me := a.do(t, "GET", "/api/me", bob.str("token"), nil); me.StatusCode != 401 {
		t.Errorf("bob's session after disable: HTTP %d", me.StatusCode)
	}
	if _, resp, err := dialRaw(s, "token="+url.QueryEscape(bob.str("token")), []string{"parley.v1"}, nil); err == nil || resp.StatusCode != 401 {
		t.Errorf("bob's WebSocket after disable: %v %s", err, respBody(resp))
	}
	disabled := a.login(t, "bob", "bob password")
	wrong := a.login(t, "ann", "not her password")
	if disabled.StatusCode != 401 || disabled.raw != wrong.raw {
		t.Errorf("a disabled account's login: HTTP %d %s; a wrong password: %s", disabled.StatusCode, disabled.raw, wrong.raw)
	}
	out, _, _ = cli(t, "", nil, "user", "list", "--data", data)
	if !strings.Contains(out, "bob") || !strings.Contains(strings.Split(out, "\n")[2], "true") {
		t.Errorf("user list after disable:\n%s", out)
	}

	for _, sub := range []string{"passwd", "disable"} {
		if _, _, err := cli(t, "a password\n", nil, "user", sub, "--data", data, "ghost"); err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "ghost") {
			t.Errorf("user %s ghost: %v", sub, err)
		}
	}
}

func TestCommandLineUsage(t *testing.T) {
	data := t.TempDir()
	tok := []string{"token", "--user", "42", "--name", "Ann", "--jwt-secret", jwtTestSecret}
	empty := t.TempDir()
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
		env   map[string]string
	}{
		{args: []string{"serve", "--bogus"}, want: "-bogus"},
		{args: []string{"serve", "--rate", "NaN"}, want: "--rate must be a number above 0"},
		{args: []string{"serve", "--rate", "Inf"}, want: "--rate must be a number above 0"},
		{args: []string{"serve", "--max-text", "1000000000000000000"}, want: "--max-text must be between 1 and 65536"},
		{args: []string{"serve", "--shutdown-grace", "0s"}, want: "--shutdown-grace must be above 0"},
		{args: []string{"serve", "--max-text", "65536"}, want: "--queue-bytes must hold two of the largest frames"},
		{args: []string{"serve"}, env: map[string]string{"PARLEY_HEARTBEAT": "5"}, want: `PARLEY_HEARTBEAT="5" is not a duration`},
		{args: []string{"migrate", "--bad"}, want: "-bad"},
		{args: []string{"bench"}, want: "no scenario given"},
		{args: []string{"bench", "nosuch"}, want: `unknown scenario "nosuch"`},
		{args: []string{"user", "list", "--data", empty}, want: "no database in --data"},
		{[]string{"user"}, "", "needs a subcommand", nil},
		{[]string{"user", "frob"}, "", `unknown subcommand "frob"`, nil},
		{[]string{"user", "add", "--data", data}, "pw\n", "takes 1 argument(s), got 0", nil},
		{[]string{"user", "add", "--data", data, "a", "b"}, "pw\n", "takes 1 argument(s), got 2", nil},
		{[]string{"user", "list", "--data", data, "x"}, "", "takes 0 argument(s), got 1", nil},
		{[]string{"user", "add", "--data", data, "carol"}, "", "no password on stdin", nil},
		{[]string{"user", "add", "--data", data, "carol"}, "\n", "no password on stdin", nil},
		{[]string{"user", "add", "--bogus", "carol"}, "pw\n", "-bogus", nil},
		{[]string{"token"}, "", "--user and --name are required", nil},
		{[]string{"token", "--user", "42", "--name", "Ann"}, "", "--jwt-secret", nil},
		{append(tok, "--ttl", "-1h"), "", "--ttl must be positive", nil},
		{append(tok, "--ttl", "soon"), "", "soon", nil},
		{append(tok, "--rooms", "Big Room"), "", "--rooms", nil},
		{append(tok, "--rooms", ","), "", "--rooms names no room", nil},
		{append(tok, "extra"), "", `unexpected argument "extra"`, nil},
	} {
		_, stderr, err := cli(t, tc.stdin, tc.env, tc.args...)
		if exitCode(err) != 2 || !strings.Contains(err.Error()+stderr, tc.want) {
			t.Errorf("parley %s: exit %d, %v; want exit 2 and a message with %q", strings.Join(tc.args, " "), exitCode(err), err, tc.want)
		}
	}
	if _, _, err := cli(t, "", nil, "user", "help"); exitCode(err) != 0 {
		t.Errorf("user help: %v", err)
	}
}

// mintToken runs "parley token" and returns the JWT it prints.
func mintToken(tb testing.TB, args ...string) string {
	tb.Helper()
	out, errOut, err := cli(tb, "", nil, append([]string{"token"}, args...)...)
	if err != nil {
		tb.Fatalf("parley token: %v %s", err, errOut)
	}
	tok := strings.TrimSpace(out)
	if strings.Count(tok, ".") != 2 || strings.Contains(tok, "\n") {
		tb.Fatalf("parley token printed %q, want one JWT", out)
	}
	return tok
}

func TestTokenCommand(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.JWTSecret = jwtTestSecret })
	tok := mintToken(t, "--user", "42", "--name", "Ann", "--ttl", "1h", "--jwt-secret", jwtTestSecret)

	c := dial(t, s, "token="+tok)
	if id, name := c.user(); id != "ext:42" || name != "Ann" || c.token() != "" {
		t.Fatalf("welcome %v, want ext:42 Ann and no token", c.welcome)
	}
	c.join("lobby", nil)
	if ack := c.send("lobby", "hi from Ann", "n1"); ack.num("seq") != 1 {
		t.Errorf("send: %v", ack)
	}
	// The same token in the Authorization header, and on the API.
	hc, resp, err := dialRaw(s, "", []string{"parley.v1"}, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("Bearer JWT: %v %s", err, respBody(resp))
	}
	if id, _ := newClient(t, hc).expect("welcome").user("user"); id != "ext:42" {
		t.Errorf("Bearer JWT is %q", id)
	}
	if me := httpAPI(s).do(t, "GET", "/api/me", tok, nil); me.str("user", "id") != "ext:42" || me.str("user", "kind") != "external" {
		t.Errorf("me with the JWT: %s", me.raw)
	}

	// The secret from the environment gives the same token shape.
	envOut, _, err := cli(t, "", map[string]string{"PARLEY_JWT_SECRET": jwtTestSecret}, "token", "--user", "7", "--name", "Bo")
	if err != nil {
		t.Fatal(err)
	}
	if c := dial(t, s, "token="+strings.TrimSpace(envOut)); func() string { id, _ := c.user(); return id }() != "ext:7" {
		t.Errorf("token with PARLEY_JWT_SECRET: %v", c.welcome)
	}

	// Other secrets, and servers without one, refuse it.
	forged := mintToken(t, "--user", "42", "--name", "Ann", "--jwt-secret", strings.Repeat("z", 40))
	if _, resp, err := dialRaw(s, "token="+forged, []string{"parley.v1"}, nil); err == nil || resp.StatusCode != 401 {
		t.Errorf("a token of another secret: %v %s", err, respBody(resp))
	}
	plain := startServer(t, nil)
	if _, resp, err := dialRaw(plain, "token="+tok, []string{"parley.v1"}, nil); err == nil || resp.StatusCode != 401 {
		t.Errorf("a JWT on a server without --jwt-secret: %v %s", err, respBody(resp))
	}
}

func TestTokenRooms(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.JWTSecret = jwtTestSecret })
	dial(t, s, queryName("gus")).join("lobby", nil) // the lobby exists
	tok := mintToken(t, "--user", "9", "--name", "Cy", "--rooms", "dev,ops", "--jwt-secret", jwtTestSecret)
	c := dial(t, s, "token="+tok)
	if joined, _ := c.join("dev", nil); joined.str("room") != "dev" {
		t.Fatalf("join dev: %v", joined)
	}
	c.send("dev", "in dev", "n1")
	for _, req := range []map[string]any{
		{"type": "join", "room": "lobby"},
		{"type": "join", "room": "elsewhere"},
		{"type": "create_room", "room": "mine"},
	} {
		if reply := c.request(req); reply.str("type") != "error" || reply.str("code") != "forbidden" {
			t.Errorf("%v: %v, want forbidden", req, reply)
		}
	}
	if reply := c.request(map[string]any{"type": "send", "room": "lobby", "text": "x", "nonce": "n2"}); reply.str("code") != "forbidden" {
		t.Errorf("send to lobby: %v", reply)
	}
	a := httpAPI(s)
	if r := a.do(t, "POST", "/api/rooms/lobby/messages", tok, map[string]string{"text": "x", "nonce": "n3"}); r.StatusCode != 403 || r.str("code") != "forbidden" {
		t.Errorf("API post to lobby: HTTP %d %s", r.StatusCode, r.raw)
	}
	if r := a.do(t, "POST", "/api/rooms/dev/messages", tok, map[string]string{"text": "x", "nonce": "n3"}); r.StatusCode != 200 {
		t.Errorf("API post to dev: HTTP %d %s", r.StatusCode, r.raw)
	}
	// The room list hides rooms the token does not allow.
	if r := a.do(t, "GET", "/api/rooms", tok, nil); strings.Contains(r.raw, "lobby") || !strings.Contains(r.raw, "dev") {
		t.Errorf("rooms: %s", r.raw)
	}
}

func TestExpiredCredentialCloses4001(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.JWTSecret = jwtTestSecret })
	tok := mintToken(t, "--user", "5", "--name", "Eve", "--ttl", "2s", "--jwt-secret", jwtTestSecret)
	c := dial(t, s, "token="+tok)
	c.join("lobby", nil)
	start := time.Now()
	if code := c.closeCode(); code != 4001 {
		t.Errorf("close code %d, want 4001", code)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed %v after joining, want at the token's exp (at most 2s)", d)
	}
}

// TestSecretsNeverLogged drives every path that handles a password or a
// token, failures included, and then searches the server's logs.
func TestSecretsNeverLogged(t *testing.T) {
	logs := &syncBuffer{}
	s := startServerLogging(t, logs, func(c *serveConfig) { c.JWTSecret = jwtTestSecret })
	a := httpAPI(s)
	const password = "Unique-Password-9731"

	reg := a.do(t, "POST", "/api/register", "", map[string]string{"name": "ann", "password": password})
	session := reg.str("token")
	if session == "" {
		t.Fatalf("register: %s", reg.raw)
	}
	login := a.login(t, "ann", password).str("token")
	a.login(t, "ann", password+"x")
	a.login(t, "nobody", password)
	a.do(t, "POST", "/api/register", "", map[string]string{"name": "bad name", "password": password})
	a.do(t, "GET", "/api/me?token="+url.QueryEscape(login), "", nil)
	jwt := mintToken(t, "--user", "42", "--name", "Ann", "--jwt-secret", jwtTestSecret)
	forged := mintToken(t, "--user", "42", "--name", "Ann", "--jwt-secret", strings.Repeat("q", 40))

	guest := dial(t, s, queryName("gus"))
	guest.join("lobby", nil)
	guest.send("lobby", "hello", "n1")
	for _, q := range []string{"token=" + session, "token=" + guest.token(), "token=" + jwt} {
		c := dial(t, s, q)
		c.join("lobby", nil)
		c.conn.Close()
	}
	for _, q := range []string{"token=" + forged, "token=ps_" + password, "token=pg_" + password} {
		if c, _, err := dialRaw(s, q, []string{"parley.v1"}, nil); err == nil {
			c.Close()
		}
	}
	a.do(t, "POST", "/api/logout", session, nil)
	s.stop(t) // flushes the "connection closed" lines

	out := logs.String()
	if !strings.Contains(out, "connection opened") || !strings.Contains(out, "stopped") {
		t.Fatalf("the logs were not captured:\n%s", out)
	}
	for what, secret := range map[string]string{
		"password": password, "session token": session, "login token": login,
		"guest token": guest.token(), "JWT": jwt, "forged JWT": forged,
		"JWT signature": jwt[strings.LastIndex(jwt, ".")+1:], "JWT secret": jwtTestSecret,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the %s", what)
		}
	}
	// What is logged: who connected, by name and id, and from where.
	for _, want := range []string{"user=ann", "user_id=ext:42", "user=gus", "remote=127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("the logs lack %q", want)
		}
	}
}
