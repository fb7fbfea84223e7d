package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleychat/parley/auth"
	"github.com/parleychat/parley/httpapi"
	"github.com/parleychat/parley/hub"
	"github.com/parleychat/parley/protocol"
	"github.com/parleychat/parley/sqlite"
	"github.com/parleychat/parley/ws"
)

// env is the API on a real hub and SQLite store, served by httptest, with
// the WebSocket endpoint beside it and every log line captured.
type env struct {
	srv  *httptest.Server
	hub  *hub.Hub
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type envConfig struct {
	closedRegistration bool
	limits             protocol.Limits
}

func newEnv(tb testing.TB, c envConfig) *env {
	tb.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := sqlite.Open(filepath.Join(tb.TempDir(), "db"), sqlite.Options{Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	if c.limits.Rate == 0 {
		c.limits.Rate, c.limits.Burst = 1000, 1000
	}
	if c.limits.MaxText == 0 {
		c.limits.MaxText = 100
	}
	h := hub.New(store, hub.Options{Limits: c.limits, Framer: ws.Framer{}, Logger: log})
	accounts := &auth.Accounts{Store: store, Throttle: auth.NewThrottle(nil)}
	authn := &auth.Authenticator{Guests: auth.Guests{Users: store}, Accounts: accounts, AllowGuests: true}
	router := httpapi.NewRouter(httpapi.Config{
		WS: ws.NewHandler(h, authn, ws.Options{Logger: log}),
		API: &httpapi.API{Auth: authn, Accounts: accounts, Chat: h,
			OpenRegistration: !c.closedRegistration, MaxText: c.limits.MaxText, Logger: log},
		Web:    http.NotFoundHandler(),
		Logger: log,
	})
	srv := httptest.NewServer(router)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
		store.Close()
	})
	return &env{srv: srv, hub: h, logs: logs}
}

// response is a decoded API answer.
type response struct {
	*http.Response
	body map[string]any
	raw  string
}

func (r response) str(path ...string) string {
	var v any = r.body
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

func (r response) cookie() *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == auth.SessionCookie {
			return c
		}
	}
	return nil
}

// do sends a request with a JSON body (a string is sent as is) and a
// bearer token, both optional.
func (e *env) do(tb testing.TB, method, path, token string, body any) response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(tb, req)
}

func (e *env) send(tb testing.TB, req *http.Request) response {
	tb.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Response: resp, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	checkHeaders(tb, req.Method+" "+req.URL.Path, resp)
	if resp.StatusCode >= 400 {
		checkErrorBody(tb, req.Method+" "+req.URL.Path, r)
	}
	return r
}

// checkHeaders checks the security headers every response carries.
func checkHeaders(tb testing.TB, what string, resp *http.Response) {
	tb.Helper()
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			tb.Errorf("%s: CSP %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		tb.Errorf("%s: CSP %q allows inline script or eval", what, csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
		tb.Errorf("%s: headers %v lack nosniff, no-referrer or DENY", what, h)
	}
}

// checkErrorBody checks that an error answer is JSON {code, message} and
// nothing else.
func checkErrorBody(tb testing.TB, what string, r response) {
	tb.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Errorf("%s: error with Content-Type %q: %s", what, ct, r.raw)
		return
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.raw), &body); err != nil {
		tb.Errorf("%s: error body %q is not JSON", what, r.raw)
		return
	}
	code, _ := body["code"].(string)
	msg, _ := body["message"].(string)
	if len(body) != 2 || code == "" || msg == "" {
		tb.Errorf("%s: error body %s, want exactly {code, message}", what, r.raw)
	}
}

func expect(tb testing.TB, what string, r response, status int, code string) {
	tb.Helper()
	if r.StatusCode != status || r.str("code") != code {
		tb.Errorf("%s: HTTP %d %s, want %d %s", what, r.StatusCode, r.raw, status, code)
	}
}

type creds struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

const pw = "correct horse battery"

// register makes an account and returns its session token.
func (e *env) register(tb testing.TB, name string) string {
	tb.Helper()
	r := e.do(tb, "POST", "/api/register", "", creds{name, pw})
	if r.StatusCode != http.StatusCreated || r.str("token") == "" {
		tb.Fatalf("register %s: HTTP %d %s", name, r.StatusCode, r.raw)
	}
	return r.str("token")
}

func TestRegister(t *testing.T) {
	e := newEnv(t, envConfig{})
	r := e.do(t, "POST", "/api/register", "", creds{"ann", pw})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("register: HTTP %d %s", r.StatusCode, r.raw)
	}
	tok := r.str("token")
	if !strings.HasPrefix(tok, "ps_") || r.str("user", "name") != "ann" || r.str("user", "id") == "" || r.str("user", "kind") != "account" {
		t.Errorf("register answered %s", r.raw)
	}
	if exp, err := time.Parse(time.RFC3339, r.str("expires")); err != nil || exp.Sub(time.Now()) < 29*24*time.Hour {
		t.Errorf("expires %q, want about 30 days from now", r.str("expires"))
	}
	c := r.cookie()
	if c == nil {
		t.Fatal("no session cookie")
	}
	if c.Value != tok || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
		t.Errorf("cookie %+v, want the token, HttpOnly, SameSite=Lax, Path=/, not Secure over http", c)
	}
	if _, admin := r.body["user"].(map[string]any)["admin"]; admin {
		t.Errorf("a registered user is an admin: %s", r.raw)
	}

	expect(t, "same name, other case", e.do(t, "POST", "/api/register", "", creds{"ANN", pw}), 409, "conflict")
	expect(t, "short password", e.do(t, "POST", "/api/register", "", creds{"bob", "short"}), 400, "bad_request")
	expect(t, "bad name", e.do(t, "POST", "/api/register", "", creds{"b o b", pw}), 400, "bad_request")
	expect(t, "guest- name", e.do(t, "POST", "/api/register", "", creds{"guest-12", pw}), 400, "bad_request")
	expect(t, "no body", e.do(t, "POST", "/api/register", "", nil), 400, "bad_request")

	closed := newEnv(t, envConfig{closedRegistration: true})
	expect(t, "closed registration", closed.do(t, "POST", "/api/register", "", creds{"ann", pw}), 403, "forbidden")
}

func TestLoginLogoutMe(t *testing.T) {
	e := newEnv(t, envConfig{})
	first := e.register(t, "ann")

	r := e.do(t, "POST", "/api/login", "", creds{"Ann", pw})
	if r.StatusCode != http.StatusOK || r.str("user", "name") != "ann" || r.cookie() == nil {
		t.Fatalf("login: HTTP %d %s", r.StatusCode, r.raw)
	}
	tok := r.str("token")
	if tok == first {
		t.Error("a login reused the registration's token")
	}

	wrong := e.do(t, "POST", "/api/login", "", creds{"ann", "not the password"})
	unknown := e.do(t, "POST", "/api/login", "", creds{"nobody", pw})
	expect(t, "wrong password", wrong, 401, "unauthorized")
	expect(t, "unknown name", unknown, 401, "unauthorized")
	if wrong.raw != unknown.raw {
		t.Errorf("a wrong password says %s, an unknown name %s; they must not differ", wrong.raw, unknown.raw)
	}
	if wrong.cookie() != nil {
		t.Error("a failed login set a cookie")
	}

	// /api/me by header, cookie and ?token=.
	me := e.do(t, "GET", "/api/me", tok, nil)
	if me.StatusCode != 200 || me.str("user", "name") != "ann" || me.str("user", "kind") != "account" {
		t.Errorf("me: HTTP %d %s", me.StatusCode, me.raw)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/me", nil)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: tok})
	if me := e.send(t, req); me.StatusCode != 200 || me.str("user", "name") != "ann" {
		t.Errorf("me by cookie: HTTP %d %s", me.StatusCode, me.raw)
	}
	if me := e.do(t, "GET", "/api/me?token="+tok, "", nil); me.StatusCode != 200 {
		t.Errorf("me by ?token=: HTTP %d %s", me.StatusCode, me.raw)
	}
	expect(t, "me without credentials", e.do(t, "GET", "/api/me", "", nil), 401, "unauthorized")
	expect(t, "me with a bad token", e.do(t, "GET", "/api/me", "ps_nope", nil), 401, "unauthorized")

	// Logout ends the session it names, and clears the cookie.
	out := e.do(t, "POST", "/api/logout", tok, nil)
	if out.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: HTTP %d %s", out.StatusCode, out.raw)
	}
	if c := out.cookie(); c == nil || c.Value != "" || c.MaxAge >= 0 || !c.HttpOnly {
		t.Errorf("logout cookie %+v, want it cleared", c)
	}
	expect(t, "me after logout", e.do(t, "GET", "/api/me", tok, nil), 401, "unauthorized")
	if me := e.do(t, "GET", "/api/me", first, nil); me.StatusCode != 200 {
		t.Errorf("the other session ended too: HTTP %d", me.StatusCode)
	}
	if out := e.do(t, "POST", "/api/logout", "", nil); out.StatusCode != http.StatusNoContent {
		t.Errorf("logout without a session: HTTP %d", out.StatusCode)
	}

	// A guest's token works on the API as a guest.
	c, resp, err := websocket.DefaultDialer.Dial(wsURL(e, "name=gus"), http.Header{"Sec-WebSocket-Protocol": {"parley.v1"}})
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	defer c.Close()
	var welcome struct{ Token string }
	if err := c.ReadJSON(&welcome); err != nil {
		t.Fatal(err)
	}
	if me := e.do(t, "GET", "/api/me", welcome.Token, nil); me.str("user", "name") != "gus" || me.str("user", "kind") != "guest" {
		t.Errorf("me as a guest: %s", me.raw)
	}
}

func wsURL(e *env, query string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws?" + query
}

func TestLoginThrottled(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.register(t, "ann")
	for i := range 5 {
		expect(t, "wrong password", e.do(t, "POST", "/api/login", "", creds{"ann", "wrong password " + string(rune('a'+i))}), 401, "unauthorized")
	}
	r := e.do(t, "POST", "/api/login", "", creds{"ann", pw})
	expect(t, "sixth attempt, right password", r, 429, "rate_limited")
	expect(t, "another name from the same address", e.do(t, "POST", "/api/login", "", creds{"bob", pw}), 429, "rate_limited")
}

func TestRooms(t *testing.T) {
	e := newEnv(t, envConfig{})
	ann := e.register(t, "ann")
	bob := e.register(t, "bob")
	bobID := e.do(t, "GET", "/api/me", bob, nil).str("user", "id")

	r := e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "secret", "kind": "private", "topic": "plans", "members": []string{bobID}})
	if r.StatusCode != http.StatusCreated || r.str("room", "name") != "secret" || r.str("room", "kind") != "private" ||
		r.str("room", "topic") != "plans" || r.str("room", "role") != "owner" {
		t.Fatalf("create: HTTP %d %s", r.StatusCode, r.raw)
	}
	if r := e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "open"}); r.StatusCode != 201 || r.str("room", "kind") != "public" {
		t.Errorf("create without a kind: HTTP %d %s, want a public room", r.StatusCode, r.raw)
	}
	expect(t, "existing name", e.do(t, "POST", "/api/rooms", bob, map[string]any{"name": "secret"}), 409, "conflict")
	expect(t, "bad name", e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "Big Room"}), 400, "bad_request")
	expect(t, "direct kind", e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "x", "kind": "direct"}), 400, "bad_request")
	expect(t, "dm- name", e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "dm-abc"}), 400, "bad_request")
	expect(t, "unknown member", e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "y", "members": []string{"u_nobody"}}), 404, "not_found")
	expect(t, "topic too long", e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "z", "topic": strings.Repeat("t", 257)}), 413, "too_large")
	expect(t, "topic with NUL", e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "z", "topic": "a\x00"}), 400, "bad_request")
	expect(t, "member id with NUL", e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "z", "members": []string{"u\x00"}}), 400, "bad_request")
	expect(t, "no credentials", e.do(t, "POST", "/api/rooms", "", map[string]any{"name": "w"}), 401, "unauthorized")

	list := e.do(t, "GET", "/api/rooms", bob, nil)
	rooms, _ := list.body["rooms"].([]any)
	if list.StatusCode != 200 || len(rooms) != 1 || rooms[0].(map[string]any)["name"] != "secret" || rooms[0].(map[string]any)["role"] != "member" {
		t.Errorf("bob's rooms: %s, want secret as a member", list.raw)
	}
	carol := e.register(t, "carol")
	if list := e.do(t, "GET", "/api/rooms", carol, nil); !strings.Contains(list.raw, `"rooms":[]`) {
		t.Errorf("carol's rooms: %s, want an empty list", list.raw)
	}

	// Outsiders can't tell a private room from a missing one.
	hidden := e.do(t, "GET", "/api/rooms/secret/messages", carol, nil)
	missing := e.do(t, "GET", "/api/rooms/nothing-here/messages", carol, nil)
	expect(t, "private room, outsider", hidden, 404, "not_found")
	expect(t, "missing room", missing, 404, "not_found")
	expect(t, "post to a private room, outsider", e.do(t, "POST", "/api/rooms/secret/messages", carol, map[string]string{"text": "hi", "nonce": "n"}), 404, "not_found")
	if r := e.do(t, "POST", "/api/rooms/secret/messages", bob, map[string]string{"text": "hi", "nonce": "n"}); r.StatusCode != 200 {
		t.Errorf("post to a private room as a member: HTTP %d %s", r.StatusCode, r.raw)
	}
}

func TestMessages(t *testing.T) {
	e := newEnv(t, envConfig{limits: protocol.Limits{MaxText: 10, Rate: 1000, Burst: 1000}})
	ann := e.register(t, "ann")
	if r := e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "dev"}); r.StatusCode != 201 {
		t.Fatalf("create: %s", r.raw)
	}
	// A WebSocket member hears what the API posts.
	c, _, err := websocket.DefaultDialer.Dial(wsURL(e, "name=watcher"), http.Header{"Sec-WebSocket-Protocol": {"parley.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteJSON(map[string]any{"type": "join", "room": "dev"})

	post := func(text, nonce string) response {
		return e.do(t, "POST", "/api/rooms/dev/messages", ann, map[string]string{"text": text, "nonce": nonce})
	}
	r := post("hello 中文", "n1")
	if r.StatusCode != 200 || r.body["seq"] != 1.0 || r.str("room") != "dev" || r.str("nonce") != "n1" {
		t.Fatalf("post: HTTP %d %s", r.StatusCode, r.raw)
	}
	if r := post("hello 中文", "n1"); r.StatusCode != 200 || r.body["seq"] != 1.0 {
		t.Errorf("repeated nonce: HTTP %d %s, want the original seq 1", r.StatusCode, r.raw)
	}
	if r := post("again", "n2"); r.body["seq"] != 2.0 {
		t.Errorf("second message: %s", r.raw)
	}
	expect(t, "text over max", post(strings.Repeat("x", 11), "n3"), 413, "too_large")
	expect(t, "empty text", post("  ", "n3"), 400, "bad_request")
	expect(t, "no nonce", post("hi", ""), 400, "bad_request")
	expect(t, "long nonce", post("hi", strings.Repeat("n", 65)), 400, "bad_request")
	expect(t, "text with NUL", post("hi \x00", "n3"), 400, "bad_request")
	expect(t, "nonce with NUL", post("hi", "n\x00"), 400, "bad_request")
	expect(t, "bad room", e.do(t, "POST", "/api/rooms/Dev/messages", ann, map[string]string{"text": "hi", "nonce": "x"}), 400, "bad_request")
	expect(t, "no credentials", e.do(t, "POST", "/api/rooms/dev/messages", "", map[string]string{"text": "hi", "nonce": "x"}), 401, "unauthorized")
	expect(t, "a from field", e.do(t, "POST", "/api/rooms/dev/messages", ann, map[string]any{"text": "hi", "nonce": "x", "from": "bob"}), 400, "bad_request")

	var got []string
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 2 {
		var f map[string]any
		if err := c.ReadJSON(&f); err != nil {
			t.Fatalf("watcher: %v after %v", err, got)
		}
		if f["type"] == "message" {
			got = append(got, f["text"].(string))
		}
	}
	if got[0] != "hello 中文" || got[1] != "again" {
		t.Errorf("the WebSocket member heard %q", got)
	}

	h := e.do(t, "GET", "/api/rooms/dev/messages", ann, nil)
	msgs, _ := h.body["messages"].([]any)
	if h.StatusCode != 200 || len(msgs) != 2 || h.body["more"] != false || h.str("room") != "dev" {
		t.Fatalf("history: HTTP %d %s", h.StatusCode, h.raw)
	}
	m := msgs[0].(map[string]any)
	if m["seq"] != 1.0 || m["text"] != "hello 中文" || m["nonce"] != "n1" || m["from"].(map[string]any)["name"] != "ann" || m["ts"] == nil {
		t.Errorf("history[0] = %v", m)
	}
	h = e.do(t, "GET", "/api/rooms/dev/messages?limit=1", ann, nil)
	if msgs, _ := h.body["messages"].([]any); len(msgs) != 1 || h.body["more"] != true || msgs[0].(map[string]any)["seq"] != 2.0 {
		t.Errorf("newest page of 1: %s", h.raw)
	}
	h = e.do(t, "GET", "/api/rooms/dev/messages?before=2", ann, nil)
	if msgs, _ := h.body["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["seq"] != 1.0 {
		t.Errorf("before=2: %s", h.raw)
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "before=-1", "before=1.5"} {
		expect(t, "history?"+q, e.do(t, "GET", "/api/rooms/dev/messages?"+q, ann, nil), 400, "bad_request")
	}
}

func TestPostRateLimit(t *testing.T) {
	e := newEnv(t, envConfig{limits: protocol.Limits{Rate: 0.01, Burst: 3}})
	ann := e.register(t, "ann")
	bob := e.register(t, "bob")
	e.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "dev"})
	for i := range 3 {
		if r := e.do(t, "POST", "/api/rooms/dev/messages", ann, map[string]string{"text": "hi", "nonce": string(rune('a' + i))}); r.StatusCode != 200 {
			t.Fatalf("post %d: HTTP %d %s", i, r.StatusCode, r.raw)
		}
	}
	r := e.do(t, "POST", "/api/rooms/dev/messages", ann, map[string]string{"text": "hi", "nonce": "z"})
	expect(t, "fourth post", r, 429, "rate_limited")
	// The limit is per user.
	if r := e.do(t, "POST", "/api/rooms/dev/messages", bob, map[string]string{"text": "hi", "nonce": "z"}); r.StatusCode != 200 {
		t.Errorf("another user: HTTP %d %s", r.StatusCode, r.raw)
	}
	h := e.do(t, "GET", "/api/rooms/dev/messages", ann, nil)
	if msgs, _ := h.body["messages"].([]any); len(msgs) != 4 {
		t.Errorf("%d messages stored, want 4 (the refused one is not)", len(msgs))
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, envConfig{})
	ann := e.register(t, "ann")

	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/nope"},
		{"POST", "/api/nope"},
		{"GET", "/api/"},
		{"GET", "/api/register"},
		{"GET", "/api/rooms/dev"},
		{"DELETE", "/api/me"},
		{"PUT", "/api/rooms"},
		{"PATCH", "/api/rooms/dev/messages"},
		{"OPTIONS", "/api/me"},
	} {
		r := e.do(t, tc.method, tc.path, ann, nil)
		expect(t, tc.method+" "+tc.path, r, 404, "not_found")
	}

	big := `{"name":"ann","password":"` + strings.Repeat("x", 70<<10) + `"}`
	expect(t, "body over 64 KiB", e.do(t, "POST", "/api/login", "", big), 413, "too_large")
	expect(t, "big message body", e.do(t, "POST", "/api/rooms/lobby/messages", ann, `{"text":"`+strings.Repeat("x", 70<<10)+`","nonce":"n"}`), 413, "too_large")
	expect(t, "unknown field", e.do(t, "POST", "/api/login", "", `{"name":"ann","password":"x","admin":true}`), 400, "bad_request")
	expect(t, "trailing data", e.do(t, "POST", "/api/login", "", `{"name":"ann","password":"x"} {}`), 400, "bad_request")
	expect(t, "not JSON", e.do(t, "POST", "/api/login", "", `name=ann`), 400, "bad_request")
	expect(t, "wrong type", e.do(t, "POST", "/api/register", "", `{"name":1,"password":"x"}`), 400, "bad_request")
	expect(t, "array", e.do(t, "POST", "/api/register", "", `[]`), 400, "bad_request")

	// Pages outside /api/ carry the headers too.
	for _, p := range []string{"/", "/healthz", "/ws"} {
		resp, err := e.srv.Client().Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		checkHeaders(t, "GET "+p, resp)
	}
}

// TestSecretsStayOutOfLogs runs through everything that handles a password
// or token, failures included, and then reads every log line.
func TestSecretsStayOutOfLogs(t *testing.T) {
	e := newEnv(t, envConfig{})
	const secret = "Zebra-Password-4242"
	r := e.do(t, "POST", "/api/register", "", creds{"ann", secret})
	tok := r.str("token")
	login := e.do(t, "POST", "/api/login", "", creds{"ann", secret}).str("token")
	e.do(t, "POST", "/api/login", "", creds{"ann", secret + "-wrong"})
	e.do(t, "POST", "/api/login", "", creds{"nobody", secret})
	e.do(t, "GET", "/api/me", tok, nil)
	e.do(t, "GET", "/api/me?token="+login, "", nil)
	e.do(t, "GET", "/api/me", "ps_"+secret, nil)
	e.do(t, "POST", "/api/rooms/lobby/messages", tok, map[string]string{"text": "hi", "nonce": "n"})

	for _, q := range []string{"token=" + tok, "token=ps_" + secret, "name=gus"} {
		c, _, err := websocket.DefaultDialer.Dial(wsURL(e, q), http.Header{"Sec-WebSocket-Protocol": {"parley.v1"}})
		if err == nil {
			var welcome map[string]any
			c.ReadJSON(&welcome)
			if g, _ := welcome["token"].(string); g != "" {
				defer func() {
					if strings.Contains(e.logs.String(), g) {
						t.Error("the logs contain a guest's token")
					}
				}()
			}
			c.WriteJSON(map[string]any{"type": "join", "room": "lobby"})
			c.Close()
		}
	}
	e.do(t, "POST", "/api/logout", tok, nil)
	time.Sleep(100 * time.Millisecond) // let the closed connections log

	logs := e.logs.String()
	if !strings.Contains(logs, "connection opened") {
		t.Fatalf("the logs were not captured:\n%s", logs)
	}
	for what, s := range map[string]string{"password": secret, "session token": tok, "login token": login} {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain the %s:\n%s", what, logs)
		}
	}
}
