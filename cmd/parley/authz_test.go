package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley"
)

// TestAuthz runs every action of every actor in every room kind, over the
// WebSocket and the JSON API of a real server, and checks per row: the
// answer is the one the policy below gives; a refused action changed
// nothing in the store and reached no one, and where the room is hidden
// its answer is the one a missing room gets; an allowed one did what it
// says, in the name of the connection's own identity. At the end of each
// kind it checks that no connection outside the room (outsiders in the
// lobby and a public room, and every actor the room is hidden from) ever
// received a frame of it: no message, presence, typing, member, topic,
// edit or delete event, and no history page.
func TestAuthz(t *testing.T) {
	for _, kind := range []parley.RoomKind{parley.RoomPublic, parley.RoomPrivate, parley.RoomDirect} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newAuthzEnv(t, kind)
			e.standings = authzStandings(kind)
			// In order: a row's barriers (ping round trips) hold only while
			// no other row of the server acts.
			for _, r := range authzTable(kind) {
				t.Run(r.actor+"/"+r.action+"/"+r.via, func(t *testing.T) { e.run(t, r) })
			}
			t.Run("no-leak", e.checkNoLeak)
		})
	}
}

// authzStanding is what an actor is in the room under test.
type authzStanding struct {
	visible bool // the room's existence is not private from them
	banned  bool
	muted   bool
	rank    int  // 2 may moderate members, 3 moderators too; admins are 4
	member  bool // the room is in their list (private and direct rooms)
	guest   bool
	noAuth  bool // their credential is refused
}

func authzStandings(kind parley.RoomKind) map[string]authzStanding {
	noAuth := authzStanding{noAuth: true}
	st := map[string]authzStanding{"expired": noAuth, "disabled": noAuth}
	switch kind {
	case parley.RoomPublic:
		// Anyone signed in may use it; a kick is no ban, so the kicked
		// come back.
		st["admin"] = authzStanding{visible: true, rank: 4}
		st["owner"] = authzStanding{visible: true, rank: 3}
		st["moderator"] = authzStanding{visible: true, rank: 2}
		st["banned"] = authzStanding{visible: true, banned: true}
		st["muted"] = authzStanding{visible: true, muted: true}
		st["guest"] = authzStanding{visible: true, guest: true}
		for _, role := range []string{"member", "nonmember", "invited", "kicked"} {
			st[role] = authzStanding{visible: true}
		}
	case parley.RoomPrivate:
		// Members only; the site admin may do anything; a kick or a ban
		// ends the membership, and with it the room's existence.
		st["admin"] = authzStanding{visible: true, rank: 4}
		st["owner"] = authzStanding{visible: true, rank: 3, member: true}
		st["moderator"] = authzStanding{visible: true, rank: 2, member: true}
		st["member"] = authzStanding{visible: true, member: true}
		st["invited"] = authzStanding{visible: true, member: true}
		st["muted"] = authzStanding{visible: true, muted: true, member: true}
		st["guest"] = authzStanding{guest: true}
		for _, role := range []string{"nonmember", "kicked", "banned"} {
			st[role] = authzStanding{}
		}
	case parley.RoomDirect:
		// The two and no one else, the admin included; no moderation.
		// Here owner is the one who opened it, member the other; the
		// moderator, invited, kicked, banned and muted got their
		// standing in another room.
		st["owner"] = authzStanding{visible: true, member: true}
		st["member"] = authzStanding{visible: true, member: true}
		st["guest"] = authzStanding{guest: true}
		for _, role := range []string{"admin", "moderator", "nonmember", "invited", "kicked", "banned", "muted"} {
			st[role] = authzStanding{}
		}
	}
	return st
}

// authzWant is the policy the rows check: "" when the action is allowed,
// otherwise the error code it must be refused with.
func authzWant(kind parley.RoomKind, st authzStanding, action, via string) string {
	if st.noAuth {
		return parley.EUNAUTHORIZED
	}
	switch action {
	case "rooms":
		return ""
	case "create-private", "open-direct":
		if st.guest {
			return parley.EFORBIDDEN
		}
		return ""
	case "send-from", "post-from":
		return parley.EBADREQUEST // a client never names the sender
	}
	canJoin := st.visible && !st.banned
	if via == "ws" && (action == "history" || action == "page" || action == "typing" || action == "send") {
		// These act on a room joined on this connection. Without the join
		// the answer is "join first", the same for every room, existing or
		// not, so it says nothing about a private one.
		if !canJoin || action == "send" && st.muted {
			return parley.EFORBIDDEN
		}
		return ""
	}
	if !st.visible {
		return parley.ENOTFOUND
	}
	if st.banned {
		return parley.EFORBIDDEN
	}
	switch action {
	case "join", "history", "page", "delete-own":
		return ""
	case "post", "edit-own":
		if st.muted { // an edit publishes new text as much as a send does
			return parley.EFORBIDDEN
		}
		return ""
	case "edit-other":
		return parley.EFORBIDDEN // nobody edits someone else's words
	}
	// Moderation: delete-other, invite, kick, ban, unban, mute, topic,
	// kick-moderator, set-role.
	need := 2
	if action == "kick-moderator" || action == "set-role" {
		need = 3
	}
	if kind == parley.RoomDirect || st.rank < need {
		return parley.EFORBIDDEN
	}
	return ""
}

type authzRow struct {
	actor, action, via string
	want               string // "" allowed, else the error code
}

var (
	authzWSActions = []string{"join", "history", "page", "typing", "send", "send-from", "edit-own", "edit-other",
		"delete-own", "delete-other", "invite", "kick", "kick-moderator", "ban", "unban", "mute", "set-role", "topic",
		"rooms", "create-private", "open-direct"}
	authzHTTPActions = []string{"history", "page", "post", "post-from", "rooms", "create-private"}
)

// authzTable is the matrix: every actor, every action, both transports.
// Actors the upgrade refuses have one WebSocket row, the upgrade itself.
// Own messages are edited and deleted where the actor has one: one sent
// before a kick, ban or mute, or one its send row stored.
func authzTable(kind parley.RoomKind) []authzRow {
	st := authzStandings(kind)
	var rows []authzRow
	for _, actor := range authzActors {
		s := st[actor]
		if s.noAuth {
			rows = append(rows, authzRow{actor, "connect", "ws", parley.EUNAUTHORIZED})
		} else {
			sentBefore := kind != parley.RoomDirect && slices.Contains([]string{"kicked", "banned", "muted"}, actor)
			hasOwn := sentBefore || authzWant(kind, s, "send", "ws") == ""
			for _, act := range authzWSActions {
				if (act == "edit-own" || act == "delete-own") && !hasOwn || act == "open-direct" && kind != parley.RoomDirect {
					continue
				}
				rows = append(rows, authzRow{actor, act, "ws", authzWant(kind, s, act, "ws")})
			}
		}
		for _, act := range authzHTTPActions {
			rows = append(rows, authzRow{actor, act, "http", authzWant(kind, s, act, "http")})
		}
	}
	return rows
}

// authzFixture is what a row acts on, made fresh for it.
type authzFixture struct {
	target  parley.User // the user a moderation row acts on
	victim  int64       // someone else's message
	other   parley.User // someone else, whose name a forged "from" uses
	created string      // the room a create row names
}

func (e *authzEnv) fixture(t *testing.T, r authzRow, a *authzActor) authzFixture {
	t.Helper()
	fx := authzFixture{other: e.authorFor(a).user}
	owner := e.actors["owner"].ws
	switch r.action {
	case "edit-other", "delete-other":
		fx.victim = e.post(t, e.authorFor(a), e.room, "someone else's words")
	case "invite", "kick", "kick-moderator", "ban", "unban", "mute", "set-role":
		fx.target = e.freshUser(t)
		if e.kind == parley.RoomDirect {
			break // nobody can give anyone a standing there
		}
		target := map[string]any{"room": e.room, "user": fx.target.ID}
		with := func(typ string, extra ...any) map[string]any {
			m := map[string]any{"type": typ}
			for k, v := range target {
				m[k] = v
			}
			for i := 0; i < len(extra); i += 2 {
				m[extra[i].(string)] = extra[i+1]
			}
			return m
		}
		switch r.action {
		case "unban":
			authzMust(t, owner, with("ban"))
		case "kick-moderator":
			authzMust(t, owner, with("invite"))
			authzMust(t, owner, with("set_role", "role", "moderator"))
		case "kick", "ban", "mute", "set-role":
			authzMust(t, owner, with("invite"))
		}
	case "create-private":
		fx.created = fmt.Sprintf("mk-%s-%s", r.actor, r.via)
	}
	return fx
}

// authzOutcome is what the server answered.
type authzOutcome struct {
	code   string
	reply  frame   // the WebSocket reply or the API's body
	before []frame // what the actor's connection got before the reply
}

// run runs one row: fixture, then the action between two snapshots.
func (e *authzEnv) run(t *testing.T, r authzRow) {
	a := e.actors[r.actor]
	fx := e.fixture(t, r, a)
	w := e.watcherFor(a)
	if a.ws != nil {
		a.ws.sync(t)
	}
	w.sync(t)
	var before authzRoomState
	if r.want != "" {
		before = e.state(t, fx.created, fx.target.ID)
	}

	out := e.act(t, r, a, fx, e.room)
	if out.code != r.want {
		t.Fatalf("answered %q (%v); want %q", out.code, out.reply, r.want)
	}
	seen := w.sync(t)
	if r.want == "" {
		e.verify(t, r, a, fx, out, seen)
		return
	}
	if after := e.state(t, fx.created, fx.target.ID); !reflect.DeepEqual(before, after) {
		t.Errorf("the refused action changed the store:\nbefore %+v\nafter  %+v", before, after)
	}
	if len(seen) > 0 {
		t.Errorf("the refused action reached a member of the room: %v", seen)
	}
	if a.ws != nil {
		if extra := append(out.before, a.ws.sync(t)...); len(extra) > 0 {
			t.Errorf("the actor got more than its refusal: %v", extra)
		}
	}
	if !e.standings[r.actor].visible && r.action != "join" && (r.want == parley.ENOTFOUND || r.want == parley.EFORBIDDEN) {
		e.sameAsMissing(t, r, a, fx, out)
	}
}

// sameAsMissing checks that a refusal tells an outsider nothing: the same
// request about a room that doesn't exist gets the same answer. (A join is
// left out: joining a missing room creates it, which is how public rooms
// come about; a missing dm- room is not_found there too.)
func (e *authzEnv) sameAsMissing(t *testing.T, r authzRow, a *authzActor, fx authzFixture, out authzOutcome) {
	t.Helper()
	missing := "nowhere"
	if e.kind == parley.RoomDirect {
		missing = parley.DirectRoomName("nobody", "noone")
	}
	if a.ws != nil {
		a.ws.sync(t)
	}
	got := e.act(t, r, a, fx, missing)
	msg := strings.ReplaceAll(out.reply.str("message"), e.room, missing)
	if got.code != out.code || got.reply.str("message") != msg {
		t.Errorf("about %s the answer is %v; about a room that doesn't exist, %v", e.room, out.reply, got.reply)
	}
	if _, err := e.s.app.db.Room(t.Context(), missing); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("asking about %s made it exist (%v)", missing, err)
	}
}

// act performs the row's action on room: the room under test, or one that
// doesn't exist.
func (e *authzEnv) act(t *testing.T, r authzRow, a *authzActor, fx authzFixture, room string) authzOutcome {
	t.Helper()
	text := fmt.Sprintf("%s %s via %s", r.actor, r.action, r.via)
	var head int64
	if r.action == "page" {
		var err error
		if head, err = e.s.app.db.Head(t.Context(), e.room); err != nil {
			t.Fatal(err)
		}
	}
	if r.via == "http" {
		var status int
		var body frame
		msgs := "/api/rooms/" + room + "/messages"
		switch r.action {
		case "history":
			status, body = e.api(t, http.MethodGet, msgs, a.token, nil)
		case "page":
			status, body = e.api(t, http.MethodGet, fmt.Sprintf("%s?before=%d&limit=10", msgs, head), a.token, nil)
		case "post":
			status, body = e.api(t, http.MethodPost, msgs, a.token, map[string]any{"text": text, "nonce": e.nonce()})
		case "post-from":
			status, body = e.api(t, http.MethodPost, msgs, a.token, map[string]any{"text": text, "nonce": e.nonce(),
				"from": map[string]string{"id": fx.other.ID, "name": fx.other.Name}})
		case "rooms":
			status, body = e.api(t, http.MethodGet, "/api/rooms", a.token, nil)
		case "create-private":
			status, body = e.api(t, http.MethodPost, "/api/rooms", a.token, map[string]any{"name": fx.created, "kind": "private"})
		default:
			t.Fatalf("no HTTP action %s", r.action)
		}
		return authzOutcome{code: authzAPICode(t, status, body), reply: body}
	}

	var req map[string]any
	switch r.action {
	case "connect":
		// The credential is refused at the upgrade, as a query parameter
		// and as a header alike.
		var codes []string
		for _, h := range []http.Header{nil, {"Authorization": {"Bearer " + a.token}}} {
			q := ""
			if h == nil {
				q = "token=" + url.QueryEscape(a.token)
			}
			conn, resp, err := dialRaw(e.s, q, []string{"parley.v1"}, h)
			if err == nil {
				conn.Close()
				t.Fatalf("the upgrade with the %s token succeeded", r.actor)
			}
			var body frame
			if resp == nil || json.NewDecoder(resp.Body).Decode(&body) != nil {
				t.Fatalf("upgrade: %v %s", err, respBody(resp))
			}
			codes = append(codes, authzAPICode(t, resp.StatusCode, body))
		}
		if codes[0] != codes[1] {
			t.Fatalf("query and header answered %v", codes)
		}
		return authzOutcome{code: codes[0]}
	case "typing":
		// Typing has no reply when allowed: a ping behind it bounds the wait.
		id := a.ws.c.id()
		a.ws.write(t, map[string]any{"type": "typing", "room": room, "id": id})
		var out authzOutcome
		for _, f := range a.ws.sync(t) {
			if f.str("id") == id {
				out.reply, out.code = f, authzErrCode(f)
			} else {
				out.before = append(out.before, f)
			}
		}
		return out
	case "join":
		req = map[string]any{"type": "join", "room": room}
	case "history":
		req = map[string]any{"type": "history", "room": room, "limit": 50}
	case "page":
		req = map[string]any{"type": "history", "room": room, "before": head, "limit": 10}
	case "send":
		req = map[string]any{"type": "send", "room": room, "text": text, "nonce": e.nonce()}
	case "send-from":
		req = map[string]any{"type": "send", "room": room, "text": text, "nonce": e.nonce(),
			"from": map[string]string{"id": fx.other.ID, "name": fx.other.Name}}
	case "edit-own":
		req = map[string]any{"type": "edit", "room": room, "seq": a.own, "text": text}
	case "edit-other":
		req = map[string]any{"type": "edit", "room": room, "seq": fx.victim, "text": text}
	case "delete-own":
		req = map[string]any{"type": "delete", "room": room, "seq": a.own}
	case "delete-other":
		req = map[string]any{"type": "delete", "room": room, "seq": fx.victim}
	case "invite", "kick", "ban", "unban":
		req = map[string]any{"type": r.action, "room": room, "user": fx.target.ID}
	case "kick-moderator":
		req = map[string]any{"type": "kick", "room": room, "user": fx.target.ID}
	case "mute":
		req = map[string]any{"type": "mute", "room": room, "user": fx.target.ID, "seconds": 3600}
	case "set-role":
		req = map[string]any{"type": "set_role", "room": room, "user": fx.target.ID, "role": "moderator"}
	case "topic":
		req = map[string]any{"type": "topic", "room": room, "topic": text}
	case "rooms":
		req = map[string]any{"type": "rooms"}
	case "create-private":
		req = map[string]any{"type": "create_room", "room": fx.created, "kind": "private"}
	case "open-direct":
		peer := e.actors["owner"].user.ID
		if r.actor == "owner" {
			peer = e.actors["member"].user.ID
		}
		req = map[string]any{"type": "open_direct", "user": peer}
	default:
		t.Fatalf("no WebSocket action %s", r.action)
	}
	reply, before := a.ws.do(t, req)
	return authzOutcome{code: authzErrCode(reply), reply: reply, before: before}
}

// find returns the first frame of type typ about the room that pred accepts.
func authzFind(frames []frame, room, typ string, pred func(frame) bool) frame {
	for _, f := range frames {
		if f.str("type") == typ && f.str("room") == room && (pred == nil || pred(f)) {
			return f
		}
	}
	return nil
}

func authzBy(key, id string) func(frame) bool {
	return func(f frame) bool { got, _ := f.user(key); return got == id }
}

// verify checks that an allowed action did what it says, as its actor.
func (e *authzEnv) verify(t *testing.T, r authzRow, a *authzActor, fx authzFixture, out authzOutcome, seen []frame) {
	t.Helper()
	room, reply := e.room, out.reply
	text := fmt.Sprintf("%s %s via %s", r.actor, r.action, r.via)
	sees := func(typ string, pred func(frame) bool) {
		t.Helper()
		if authzFind(seen, room, typ, pred) == nil {
			t.Errorf("the room was not told: no %s frame among %v", typ, seen)
		}
	}
	member := func(event string) func(frame) bool {
		return func(f frame) bool {
			u, _ := f.user("user")
			return f.str("event") == event && u == fx.target.ID && authzBy("by", a.user.ID)(f)
		}
	}
	standing := func() parley.Membership { return e.membership(t, room, fx.target.ID) }

	switch r.via + "/" + r.action {
	case "ws/join":
		if reply.str("type") != "joined" || reply.str("room") != room {
			t.Errorf("join answered %v", reply)
		}
	case "ws/history", "ws/page", "http/history", "http/page":
		msgs, _ := reply["messages"].([]any)
		if (r.via == "ws" && reply.str("type") != "history") || reply.str("room") != room || len(msgs) == 0 {
			t.Errorf("history answered %v", reply)
		}
		for _, m := range msgs {
			if frame(m.(map[string]any)).str("room") != room {
				t.Errorf("history of %s holds %v", room, m)
			}
		}
		if r.via == "http" {
			e.checkFroms(t, []frame{{"type": "history", "messages": msgs}})
		}
	case "ws/typing":
		sees("typing", authzBy("user", a.user.ID))
	case "ws/send", "http/post":
		seq := reply.num("seq")
		if r.via == "ws" && (reply.str("type") != "ack" || reply.str("room") != room) || seq == 0 {
			t.Fatalf("send answered %v", reply)
		}
		if m := e.message(t, seq); m.From != a.user || m.Text != text {
			t.Errorf("stored %+v, want a message from %+v", m, a.user)
		}
		from := func(f frame) bool { return f.num("seq") == seq && authzBy("from", a.user.ID)(f) }
		sees("message", from)
		if r.via == "ws" && authzFind(out.before, room, "message", from) == nil {
			t.Errorf("the sender's connection did not get its message from itself before the ack: %v", out.before)
		}
		a.own = seq
	case "ws/edit-own":
		if m := e.message(t, a.own); m.Text != text || m.EditedAt.IsZero() {
			t.Errorf("after the edit the store has %+v", m)
		}
		sees("message_edited", func(f frame) bool { return f.num("seq") == a.own && authzBy("by", a.user.ID)(f) })
	case "ws/delete-own", "ws/delete-other":
		seq := a.own
		if r.action == "delete-other" {
			seq = fx.victim
		}
		if m := e.message(t, seq); !m.Deleted || m.Text != "" {
			t.Errorf("after the delete the store has %+v", m)
		}
		sees("message_deleted", func(f frame) bool { return f.num("seq") == seq && authzBy("by", a.user.ID)(f) })
	case "ws/invite":
		if standing().Role != parley.RoleMember {
			t.Errorf("after the invite the target stands %+v", standing())
		}
		sees("member", member("invited"))
	case "ws/kick", "ws/kick-moderator":
		if standing().Role != parley.RoleNone {
			t.Errorf("after the kick the target stands %+v", standing())
		}
		sees("member", member("kicked"))
	case "ws/ban":
		if m := standing(); !m.Banned || m.Role != parley.RoleNone {
			t.Errorf("after the ban the target stands %+v", m)
		}
		sees("member", member("banned"))
	case "ws/unban":
		if standing().Banned {
			t.Errorf("after the unban the target stands %+v", standing())
		}
		sees("member", member("unbanned"))
	case "ws/mute":
		if m := standing(); !m.Muted(time.Now().Add(59 * time.Minute)) {
			t.Errorf("after the mute the target stands %+v", m)
		}
		sees("member", member("muted"))
	case "ws/set-role":
		if standing().Role != parley.RoleModerator {
			t.Errorf("after set_role the target stands %+v", standing())
		}
		sees("member", member("role"))
	case "ws/topic":
		if got, err := e.s.app.db.Room(t.Context(), room); err != nil || got.Topic != text {
			t.Errorf("after the topic the room is %+v, %v", got, err)
		}
		sees("topic", authzBy("by", a.user.ID))
	case "ws/rooms", "http/rooms":
		e.checkList(t, a, authzRoomNames(reply["rooms"]))
	case "ws/create-private", "http/create-private":
		got, err := e.s.app.db.Room(t.Context(), fx.created)
		if err != nil || got.Kind != parley.RoomPrivate || e.membership(t, fx.created, a.user.ID).Role != parley.RoleOwner {
			t.Errorf("created %+v, %v; want a private room owned by %s", got, err, r.actor)
		}
	case "ws/open-direct":
		info, _ := reply["room"].(map[string]any)
		name, _ := info["name"].(string)
		participant := r.actor == "owner" || r.actor == "member"
		if reply.str("type") != "room" || (name == room) != participant {
			t.Errorf("open_direct as %s answered %v; the room under test is %s", r.actor, reply, room)
		}
	default:
		t.Fatalf("nothing verifies %s/%s", r.via, r.action)
	}
}

// checkList checks a rooms list: the room under test is in it exactly for
// its members, and every room in it is one the actor is a member of.
func (e *authzEnv) checkList(t *testing.T, a *authzActor, names []string) {
	t.Helper()
	listed := slices.Contains(names, e.room)
	if m := e.membership(t, e.room, a.user.ID); listed != (m.Role != parley.RoleNone) {
		t.Errorf("%s is listed: %v, but its membership is %+v", e.room, listed, m)
	}
	if e.kind != parley.RoomPublic && listed != e.standings[a.role].member {
		t.Errorf("%s is listed: %v; want %v", e.room, listed, e.standings[a.role].member)
	}
	for _, n := range names {
		if e.membership(t, n, a.user.ID).Role == parley.RoleNone {
			t.Errorf("the list names %s, which %s is not a member of", n, a.role)
		}
	}
}

// checkNoLeak runs after every row of a kind: it proves the outsiders'
// connections are alive, lets every connection go quiet, and then reads
// everything each one ever received.
func (e *authzEnv) checkNoLeak(t *testing.T) {
	owner := e.actors["owner"]
	want := map[string]int64{
		e.plaza:      e.post(t, owner, e.plaza, "the plaza is open"),
		parley.Lobby: e.post(t, owner, parley.Lobby, "so is the lobby"),
	}
	for _, o := range e.outsiders {
		for got := 0; got < len(want); {
			if f := o.pull(t); f.str("type") == "message" && want[f.str("room")] == f.num("seq") {
				got++
			}
		}
	}
	for _, p := range e.peers() {
		p.sync(t)
	}
	time.Sleep(150 * time.Millisecond) // a bounded quiet period for anything late
	for _, p := range e.peers() {
		p.drain()
		e.checkFroms(t, p.log)
	}
	for i, o := range e.outsiders {
		for _, f := range o.log {
			if r := f.str("room"); r != "" && r != parley.Lobby && r != e.plaza {
				t.Errorf("outsider %d, in the lobby and %s only, received %v", i, e.plaza, f)
			}
		}
	}
	for _, role := range authzActors {
		a, st := e.actors[role], e.standings[role]
		if a.ws == nil || st.visible && !st.banned {
			continue
		}
		for _, f := range a.ws.log {
			if authzNamesRoom(f, e.room) {
				t.Errorf("%s, who may not use %s, received %v", role, e.room, f)
			}
		}
	}
}
