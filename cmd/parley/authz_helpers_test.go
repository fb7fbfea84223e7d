package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/auth"
)

// This file builds the world TestAuthz acts in: a real server per room
// kind, the twelve actors with their standings made through the real API,
// and observers that see what the server sends and what it stores.

const (
	authzPassword = "correct horse battery staple"
	authzSecret   = "authz-test-jwt-secret-0123456789abcdef"
)

// authzActors are the actors of every room kind, in the order their rows run.
var authzActors = []string{"admin", "owner", "moderator", "member", "nonmember", "invited",
	"kicked", "banned", "muted", "guest", "expired", "disabled"}

// authzPeer is a parley.v1 connection whose every received frame is logged, so
// the end of a test can check all of them for leaks.
type authzPeer struct {
	c   *client
	log []frame
}

func dialAuthzPeer(tb testing.TB, s *testServer, query string, header http.Header) *authzPeer {
	tb.Helper()
	conn, resp, err := dialRaw(s, query, []string{"parley.v1"}, header)
	if err != nil {
		tb.Fatalf("dial %s: %v (%s)", query, err, respBody(resp))
	}
	p := &authzPeer{c: newClient(tb, conn)}
	if w := p.pull(tb); w.str("type") != "welcome" {
		tb.Fatalf("first frame %v, want welcome", w)
	} else {
		p.c.welcome = w
	}
	return p
}

func (p *authzPeer) userID() string { id, _ := p.c.user(); return id }

// pull returns the next frame, failing tb after waitTimeout.
func (p *authzPeer) pull(tb testing.TB) frame {
	tb.Helper()
	select {
	case f := <-p.c.frames:
		p.log = append(p.log, f)
		return f
	case <-p.c.closed:
		select {
		case f := <-p.c.frames:
			p.log = append(p.log, f)
			return f
		default:
		}
		tb.Fatalf("connection closed while waiting for a frame: %v", p.c.closeErr)
	case <-time.After(waitTimeout):
		tb.Fatal("no frame within the timeout")
	}
	return nil
}

func (p *authzPeer) write(tb testing.TB, v any) {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	p.c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if err := p.c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		tb.Fatalf("write: %v", err)
	}
}

// do sends v with a fresh id and returns the reply carrying that id and the
// frames that arrived before it.
func (p *authzPeer) do(tb testing.TB, v map[string]any) (reply frame, before []frame) {
	tb.Helper()
	id := p.c.id()
	v["id"] = id
	p.write(tb, v)
	for {
		f := p.pull(tb)
		if f.str("id") == id {
			return f, before
		}
		before = append(before, f)
	}
}

// sync returns everything the server queued for p before it read a fresh
// ping: frames are written in order, so the pong comes after all of them.
func (p *authzPeer) sync(tb testing.TB) []frame {
	tb.Helper()
	_, before := p.do(tb, map[string]any{"type": "ping"})
	return before
}

// drain takes whatever has arrived, without waiting.
func (p *authzPeer) drain() {
	for {
		select {
		case f := <-p.c.frames:
			p.log = append(p.log, f)
		default:
			return
		}
	}
}

// authzErrCode is a reply's error code, "" when it is not an error.
func authzErrCode(reply frame) string {
	if reply.str("type") == "error" {
		return reply.str("code")
	}
	return ""
}

// authzActor is one actor of a room kind.
type authzActor struct {
	role  string      // admin, owner, ...
	user  parley.User // as the server named it
	token string      // session token, guest token or JWT: the API's Bearer and the upgrade's credential
	ws    *authzPeer  // nil for the actors the upgrade refuses
	own   int64       // a message of theirs in the room under test, 0 if none
}

// authzEnv is one server and one room under test, of one kind.
type authzEnv struct {
	s       *testServer
	kind    parley.RoomKind
	room    string // the room under test
	status  string // where standings are made: the room, or for direct rooms the plaza
	plaza   string // a public room where outsiders sit
	actors  map[string]*authzActor
	watcher *authzActor // a plain member of a public or private room, not an actor
	// A and B's second connections watch a direct room.
	ownerWatch, memberWatch *authzPeer
	outsiders               []*authzPeer
	standings               map[string]authzStanding
	users                   int // fresh target users made so far
	nonces                  int
}

var authzHTTP = &http.Client{Timeout: waitTimeout}

// api calls the JSON API with token as Bearer and returns the status and body.
func (e *authzEnv) api(tb testing.TB, method, path, token string, body any) (int, frame) {
	tb.Helper()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			tb.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, "http://"+e.s.addr+path, &buf)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := authzHTTP.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var f frame
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		tb.Fatalf("%s %s: HTTP %d with a body that is not JSON: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, f
}

// authzStatusFor is the HTTP status each outcome must come with.
var statusFor = map[string]int{
	"":                   http.StatusOK,
	parley.EBADREQUEST:   http.StatusBadRequest,
	parley.EUNAUTHORIZED: http.StatusUnauthorized,
	parley.EFORBIDDEN:    http.StatusForbidden,
	parley.ENOTFOUND:     http.StatusNotFound,
}

// authzAPICode is an API answer's error code, "" for a success; it fails tb when
// the status disagrees with the code.
func authzAPICode(tb testing.TB, status int, body frame) string {
	tb.Helper()
	if status == http.StatusOK || status == http.StatusCreated {
		return ""
	}
	code := body.str("code")
	if want, ok := statusFor[code]; !ok || want != status {
		tb.Errorf("HTTP %d with code %q: the status and the code disagree", status, code)
	}
	return code
}

func (e *authzEnv) session(tb testing.TB, path, name string) (parley.User, string) {
	tb.Helper()
	status, body := e.api(tb, http.MethodPost, path, "", map[string]string{"name": name, "password": authzPassword})
	if status != http.StatusOK && status != http.StatusCreated {
		tb.Fatalf("%s %s: HTTP %d %v", path, name, status, body)
	}
	id, n := body.user("user")
	return parley.User{ID: id, Name: n}, body.str("token")
}

// freshUser makes an account that no row has touched, to be acted on.
func (e *authzEnv) freshUser(tb testing.TB) parley.User {
	tb.Helper()
	e.users++
	u, err := e.s.app.db.CreateAccount(context.Background(), fmt.Sprintf("target%d", e.users), "unused", false)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func (e *authzEnv) nonce() string { e.nonces++; return fmt.Sprintf("n%d", e.nonces) }

// authzMust fails tb unless the request succeeded.
func authzMust(tb testing.TB, p *authzPeer, v map[string]any) frame {
	tb.Helper()
	reply, _ := p.do(tb, v)
	if authzErrCode(reply) != "" {
		tb.Fatalf("%v: %v", v, reply)
	}
	return reply
}

// post stores a message as a over HTTP and returns its seq.
func (e *authzEnv) post(tb testing.TB, a *authzActor, room, text string) int64 {
	tb.Helper()
	status, body := e.api(tb, http.MethodPost, "/api/rooms/"+room+"/messages", a.token, map[string]string{"text": text, "nonce": e.nonce()})
	if status != http.StatusOK {
		tb.Fatalf("post as %s to %s: HTTP %d %v", a.role, room, status, body)
	}
	return body.num("seq")
}

func newAuthzEnv(t *testing.T, kind parley.RoomKind) *authzEnv {
	t.Helper()
	ctx := context.Background()
	s := startServer(t, func(c *serveConfig) {
		c.Rate, c.Burst = 1000, 1000
		c.JWTSecret = authzSecret
	})
	e := &authzEnv{s: s, kind: kind, plaza: "plaza", actors: map[string]*authzActor{}}
	accounts := &auth.Accounts{Store: s.app.db}

	// The site admin is made as `parley user add --admin` makes it, then
	// signs in like anyone.
	if _, err := accounts.Create(ctx, "admin", authzPassword, true); err != nil {
		t.Fatal(err)
	}
	add := func(role string, u parley.User, token string) *authzActor {
		a := &authzActor{role: role, user: u, token: token}
		e.actors[role] = a
		return a
	}
	u, tok := e.session(t, "/api/login", "admin")
	add("admin", u, tok)
	for _, role := range []string{"owner", "moderator", "member", "nonmember", "invited", "kicked", "banned", "muted", "disabled"} {
		u, tok := e.session(t, "/api/register", role)
		add(role, u, tok)
	}
	u, tok = e.session(t, "/api/register", "watcher")
	e.watcher = &authzActor{role: "watcher", user: u, token: tok}
	u, tok = e.session(t, "/api/register", "outsider")
	outsider := &authzActor{role: "outsider", user: u, token: tok}

	// Connections: half present the token as ?token=, half as a header.
	for i, role := range []string{"admin", "owner", "moderator", "member", "nonmember", "invited", "kicked", "banned", "muted"} {
		a := e.actors[role]
		if i%2 == 0 {
			a.ws = dialAuthzPeer(t, s, "token="+url.QueryEscape(a.token), nil)
		} else {
			a.ws = dialAuthzPeer(t, s, "", http.Header{"Authorization": {"Bearer " + a.token}})
		}
		if a.ws.userID() != a.user.ID {
			t.Fatalf("%s connected as %v, want %v", role, a.ws.c.welcome, a.user)
		}
	}
	e.watcher.ws = dialAuthzPeer(t, s, "token="+e.watcher.token, nil)
	guest := dialAuthzPeer(t, s, queryName("guest"), nil)
	id, name := guest.c.user()
	add("guest", parley.User{ID: id, Name: name}, guest.c.token()).ws = guest

	// A JWT that expired a minute ago, beyond the verifier's leeway.
	jv, err := auth.NewJWTVerifier([]byte(authzSecret), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := jv.Sign("expired", "expired", nil, -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	add("expired", parley.User{ID: parley.ExternalIDPrefix + "expired", Name: "expired"}, expired)

	owner, member := e.actors["owner"], e.actors["member"]
	authzMust(t, owner.ws, map[string]any{"type": "create_room", "room": e.plaza, "kind": "public"})
	switch kind {
	case parley.RoomPublic:
		e.room = "town"
		authzMust(t, owner.ws, map[string]any{"type": "create_room", "room": e.room, "kind": "public"})
	case parley.RoomPrivate:
		e.room = "vault"
		status, body := e.api(t, http.MethodPost, "/api/rooms", owner.token, map[string]any{
			"name": e.room, "kind": "private", "members": []string{member.user.ID, e.watcher.user.ID}})
		if status != http.StatusCreated {
			t.Fatalf("creating the private room: HTTP %d %v", status, body)
		}
	case parley.RoomDirect:
		reply := authzMust(t, owner.ws, map[string]any{"type": "open_direct", "user": member.user.ID})
		room, _ := reply["room"].(map[string]any)
		peerID, _ := room["peer"].(map[string]any)["id"].(string)
		e.room, _ = room["name"].(string)
		if e.room != parley.DirectRoomName(owner.user.ID, member.user.ID) || peerID != member.user.ID {
			t.Fatalf("open_direct answered %v", reply)
		}
	}
	e.status = e.room
	if kind == parley.RoomDirect {
		e.status = e.plaza
	}
	public := kind != parley.RoomPrivate

	// Standings, made as the issue says: the owner invites, promotes, kicks,
	// bans and mutes; members of a public room join it themselves.
	admitTo := func(a *authzActor) {
		if public {
			authzMust(t, a.ws, map[string]any{"type": "join", "room": e.status})
		} else {
			authzMust(t, owner.ws, map[string]any{"type": "invite", "room": e.status, "user": a.user.ID})
			authzMust(t, a.ws, map[string]any{"type": "join", "room": e.status})
		}
	}
	admitTo(e.actors["moderator"])
	authzMust(t, owner.ws, map[string]any{"type": "set_role", "room": e.status, "user": e.actors["moderator"].user.ID, "role": "moderator"})
	authzMust(t, owner.ws, map[string]any{"type": "invite", "room": e.status, "user": e.actors["invited"].user.ID})
	for role, f := range map[string]map[string]any{
		"kicked": {"type": "kick"},
		"banned": {"type": "ban"},
		"muted":  {"type": "mute", "seconds": 3600},
	} {
		a := e.actors[role]
		admitTo(a)
		reply, _ := a.ws.do(t, map[string]any{"type": "send", "room": e.status, "text": role + " was here", "nonce": e.nonce()})
		if reply.str("type") != "ack" {
			t.Fatalf("%s sending before its %s: %v", role, f["type"], reply)
		}
		if e.status == e.room {
			a.own = reply.num("seq")
		}
		f["room"], f["user"] = e.status, a.user.ID
		authzMust(t, owner.ws, f)
	}

	// The room has messages of both kinds of author before any row runs.
	e.post(t, owner, e.room, "welcome to "+e.room)
	if kind == parley.RoomDirect {
		e.post(t, member, e.room, "hi back")
		e.ownerWatch = dialAuthzPeer(t, s, "token="+owner.token, nil)
		e.memberWatch = dialAuthzPeer(t, s, "token="+member.token, nil)
		authzMust(t, e.ownerWatch, map[string]any{"type": "join", "room": e.room})
		authzMust(t, e.memberWatch, map[string]any{"type": "join", "room": e.room})
	} else {
		if kind == parley.RoomPublic {
			authzMust(t, member.ws, map[string]any{"type": "join", "room": e.room})
		}
		authzMust(t, e.watcher.ws, map[string]any{"type": "join", "room": e.room})
		e.post(t, e.watcher, e.room, "watching")
	}

	// Outsiders sit in the lobby and the plaza for the whole test.
	e.outsiders = []*authzPeer{dialAuthzPeer(t, s, "token="+outsider.token, nil), dialAuthzPeer(t, s, queryName("outguest"), nil)}
	for _, o := range e.outsiders {
		authzMust(t, o, map[string]any{"type": "join", "room": parley.Lobby})
		authzMust(t, o, map[string]any{"type": "join", "room": e.plaza})
	}

	if kind == parley.RoomPublic {
		e.liveTokenExpires(t, jv)
	}

	// Disabling ends the account's sessions.
	if _, err := accounts.Disable(ctx, "disabled"); err != nil {
		t.Fatal(err)
	}

	// Every row starts from here: what setup caused has been delivered.
	for _, p := range e.peers() {
		p.sync(t)
		e.checkFroms(t, p.log)
		p.log = nil
	}
	return e
}

// liveTokenExpires connects a JWT user to the room while its token is
// valid and checks that the server closes it with 4001 when the token
// expires and that the room sees it leave. (A token past its expiry opens
// nothing: the expired actor's rows show that.)
func (e *authzEnv) liveTokenExpires(t *testing.T, jv *auth.JWTVerifier) {
	t.Helper()
	token, err := jv.Sign("live", "live", nil, 2500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	live := dialAuthzPeer(t, e.s, "token="+token, nil)
	authzMust(t, live, map[string]any{"type": "join", "room": e.room})
	select {
	case <-live.c.closed:
	case <-time.After(waitTimeout):
		t.Fatal("a connection outlived its token by seconds")
	}
	if ce, ok := live.c.closeErr.(*websocket.CloseError); !ok || ce.Code != 4001 {
		t.Fatalf("expiring token closed the connection with %v, want close code 4001", live.c.closeErr)
	}
	for w := e.watcher.ws; ; {
		f := w.pull(t)
		if f.str("type") == "presence" && f.str("event") == "leave" && f.str("room") == e.room {
			if id, _ := f.user("user"); id == parley.ExternalIDPrefix+"live" {
				break
			}
		}
	}
}

// peers are every connection of the env.
func (e *authzEnv) peers() []*authzPeer {
	var ps []*authzPeer
	for _, role := range authzActors {
		if a := e.actors[role]; a.ws != nil {
			ps = append(ps, a.ws)
		}
	}
	ps = append(ps, e.watcher.ws)
	if e.ownerWatch != nil {
		ps = append(ps, e.ownerWatch, e.memberWatch)
	}
	return append(ps, e.outsiders...)
}

// watcherFor is a connection in the room of a user other than a: it must
// see what a may do there and nothing of what a may not.
func (e *authzEnv) watcherFor(a *authzActor) *authzPeer {
	if e.kind != parley.RoomDirect {
		return e.watcher.ws
	}
	if a.role == "owner" {
		return e.memberWatch
	}
	return e.ownerWatch
}

// authorFor writes the messages a may try to edit or delete as someone else's.
func (e *authzEnv) authorFor(a *authzActor) *authzActor {
	switch {
	case e.kind != parley.RoomDirect:
		return e.watcher
	case a.role == "owner":
		return e.actors["member"]
	default:
		return e.actors["owner"]
	}
}

// authzRoomState is what a refused action must leave as it was.
type authzRoomState struct {
	Exists   bool
	Topic    string
	Messages []string
	Members  map[string]parley.Membership
	Created  bool // the room a create row names
}

func (e *authzEnv) state(tb testing.TB, created string, extra ...string) authzRoomState {
	tb.Helper()
	ctx := context.Background()
	db := e.s.app.db
	var st authzRoomState
	room, err := db.Room(ctx, e.room)
	st.Exists, st.Topic = err == nil, room.Topic
	head, err := db.Head(ctx, e.room)
	if err != nil {
		tb.Fatal(err)
	}
	msgs, err := db.Messages(ctx, e.room, 0, head, int(head)+1)
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range msgs {
		st.Messages = append(st.Messages, fmt.Sprintf("%d %s %q edited=%v deleted=%v", m.Seq, m.From.ID, m.Text, !m.EditedAt.IsZero(), m.Deleted))
	}
	st.Members = map[string]parley.Membership{}
	ids := append([]string{e.watcher.user.ID}, extra...)
	for _, a := range e.actors {
		ids = append(ids, a.user.ID)
	}
	for _, id := range ids {
		if st.Members[id], err = db.Membership(ctx, e.room, id); err != nil {
			tb.Fatal(err)
		}
	}
	if created != "" {
		_, err := db.Room(ctx, created)
		st.Created = err == nil
	}
	return st
}

func (e *authzEnv) membership(tb testing.TB, room, userID string) parley.Membership {
	tb.Helper()
	m, err := e.s.app.db.Membership(context.Background(), room, userID)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func (e *authzEnv) message(tb testing.TB, seq int64) parley.Message {
	tb.Helper()
	m, err := e.s.app.db.Message(context.Background(), e.room, seq)
	if err != nil {
		tb.Fatalf("message %d: %v", seq, err)
	}
	return m
}

// checkFroms checks every message a connection received, live or in a
// history page, against the store: its from is who stored it.
func (e *authzEnv) checkFroms(tb testing.TB, frames []frame) {
	tb.Helper()
	check := func(m map[string]any) {
		f := frame(m)
		stored, err := e.s.app.db.Message(context.Background(), f.str("room"), f.num("seq"))
		if id, _ := f.user("from"); err != nil || id != stored.From.ID {
			tb.Errorf("message %s/%d arrived from %q; the store has it from %q (%v)", f.str("room"), f.num("seq"), id, stored.From.ID, err)
		}
	}
	for _, f := range frames {
		switch f.str("type") {
		case "message":
			check(f)
		case "history":
			msgs, _ := f["messages"].([]any)
			for _, m := range msgs {
				check(m.(map[string]any))
			}
		}
	}
}

// authzRoomNames returns the names in a rooms list.
func authzRoomNames(list any) []string {
	var names []string
	items, _ := list.([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			name, _ := m["name"].(string)
			names = append(names, name)
		}
	}
	return names
}

// authzNamesRoom reports whether f carries anything of room.
func authzNamesRoom(f frame, room string) bool {
	if f.str("room") == room {
		return true
	}
	if r, ok := f["room"].(map[string]any); ok && r["name"] == room {
		return true
	}
	return slices.Contains(authzRoomNames(f["rooms"]), room)
}
