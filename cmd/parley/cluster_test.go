package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/parleytest"
)

// startCluster starts n nodes on one PostgreSQL database and one Redis, as
// "parley serve --store ... --broker ..." on n machines would run.
func startCluster(t *testing.T, n int, dsn, redisAddr string, mutate func(*serveConfig)) []*testServer {
	t.Helper()
	nodes := make([]*testServer, n)
	for i := range nodes {
		nodes[i] = startServer(t, func(c *serveConfig) {
			c.Store, c.Broker = dsn, "redis://"+redisAddr
			c.PresenceRefresh = 200 * time.Millisecond
			c.Rate, c.Burst = 1000, 1000
			if mutate != nil {
				mutate(c)
			}
		})
	}
	return nodes
}

// register makes an account on node s and returns its session token.
func register(t *testing.T, s *testServer, name string) string {
	t.Helper()
	resp, err := http.Post("http://"+s.addr+"/api/register", "application/json",
		strings.NewReader(fmt.Sprintf(`{"name":%q,"password":"correct horse battery"}`, name)))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register %s: %v %s", name, err, respBody(resp))
	}
	var body struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&body)
	return body.Token
}

// nextOf returns the next frame of type typ, skipping others.
func (c *client) nextOf(typ string) frame {
	c.tb.Helper()
	for {
		if f := c.next(); f.str("type") == typ {
			return f
		}
	}
}

func TestClusterThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and Redis")
	}
	dsn := parleytest.StartPostgres(t)
	rds := parleytest.StartRedis(t)
	nodes := startCluster(t, 3, dsn, rds.Addr, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]

	alice := dial(t, a, queryName("alice"))
	bob := dial(t, b, queryName("bob"))
	carol := dial(t, c, queryName("carol"))
	alice.join("lobby", nil)
	bob.join("lobby", nil)
	carol.join("lobby", nil)

	// Presence crosses nodes: alice hears of bob and carol.
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for !seen["bob"] || !seen["carol"] {
		select {
		case f := <-alice.frames:
			if f.str("type") == "presence" && f.str("event") == "join" {
				_, n := f.user("user")
				seen[n] = true
			}
		case <-deadline:
			t.Fatalf("alice saw the presence of %v only", seen)
		}
	}

	// Messages from every node reach every node, each exactly once, in seq
	// order.
	const perNode = 20
	for i := range perNode {
		for j, cl := range []*client{alice, bob, carol} {
			cl.sendJSON(map[string]any{"type": "send", "room": "lobby", "text": fmt.Sprintf("n%d-%d", j, i), "nonce": fmt.Sprintf("%d-%d", j, i)})
		}
	}
	for _, cl := range []*client{alice, bob, carol} {
		assertSeqs(t, cl.messages(3*perNode), 1)
	}

	// Typing crosses nodes, and not back to the typer.
	bob.sendJSON(map[string]any{"type": "typing", "room": "lobby"})
	if f := carol.nextOf("typing"); func() string { _, n := f.user("user"); return n }() != "bob" {
		t.Errorf("carol got %v", f)
	}

	// An edit crosses nodes.
	ack := alice.send("lobby", "tpyo", "edit-me")
	alice.sendJSON(map[string]any{"type": "edit", "room": "lobby", "seq": ack.num("seq"), "text": "typo fixed"})
	if f := carol.nextOf("message_edited"); f.str("text") != "typo fixed" || f.num("seq") != ack.num("seq") {
		t.Errorf("carol got %v", f)
	}

	// A node that joins late learns who is online from the others.
	dave := dial(t, c, queryName("dave"))
	joined, _ := dave.join("lobby", nil)
	if online := joined["online"].([]any); len(online) < 2 {
		// The joined frame may come before the other nodes answer; the
		// presence events that follow complete the list.
		got := map[string]bool{}
		for _, u := range online {
			got[u.(map[string]any)["name"].(string)] = true
		}
		deadline := time.After(5 * time.Second)
		for !got["alice"] || !got["bob"] {
			select {
			case f := <-dave.frames:
				if f.str("type") == "presence" && f.str("event") == "join" {
					_, n := f.user("user")
					got[n] = true
				}
			case <-deadline:
				t.Fatalf("dave never learned of alice and bob: %v", got)
			}
		}
	}
}

// TestClusterPrivateRoomStaysPrivate checks that a private room's traffic
// reaches its members on any node and nobody else on any node.
func TestClusterPrivateRoomStaysPrivate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and Redis")
	}
	dsn := parleytest.StartPostgres(t)
	rds := parleytest.StartRedis(t)
	nodes := startCluster(t, 2, dsn, rds.Addr, nil)
	owner := dial(t, nodes[0], "token="+register(t, nodes[0], "owner"))
	member := dial(t, nodes[1], "token="+register(t, nodes[1], "member"))
	outsider := dial(t, nodes[1], "token="+register(t, nodes[1], "outsider"))
	memberID, _ := member.user()

	if f := owner.request(map[string]any{"type": "create_room", "room": "secret", "kind": "private", "members": []string{memberID}}); f.str("type") != "room" {
		t.Fatalf("create_room: %v", f)
	}
	owner.join("secret", nil)
	member.join("secret", nil)
	if f := outsider.request(map[string]any{"type": "join", "room": "secret"}); f.str("code") != "not_found" {
		t.Fatalf("outsider joining: %v, want not_found", f)
	}
	outsider.join("lobby", nil)

	owner.send("secret", "for members only", "s1")
	member.sendJSON(map[string]any{"type": "typing", "room": "secret"})
	if m := member.nextOf("message"); m.str("text") != "for members only" {
		t.Fatalf("member got %v", m)
	}
	// Nothing of the room reaches the outsider on the member's node.
	deadline := time.After(time.Second)
	for {
		select {
		case f := <-outsider.frames:
			if f.str("room") == "secret" {
				t.Fatalf("the outsider received %v", f)
			}
			continue
		case <-deadline:
		}
		break
	}
}

// TestClusterRedisRestart: messages sent while Redis is down reach the
// other node once it is back, and nothing acknowledged is lost.
func TestClusterRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and Redis")
	}
	dsn := parleytest.StartPostgres(t)
	rds := parleytest.StartRedis(t)
	nodes := startCluster(t, 2, dsn, rds.Addr, nil)
	a := dial(t, nodes[0], queryName("alice"))
	b := dial(t, nodes[1], queryName("bob"))
	a.join("lobby", nil)
	b.join("lobby", nil)
	a.send("lobby", "before", "n0")
	if m := b.nextOf("message"); m.str("text") != "before" {
		t.Fatalf("bob got %v", m)
	}

	rds.Kill()
	for i := 1; i <= 5; i++ {
		a.send("lobby", fmt.Sprintf("during %d", i), fmt.Sprintf("n%d", i))
	}
	if err := rds.Restart(); err != nil {
		t.Fatal(err)
	}
	// After resubscribing, bob's node catches up from the store.
	assertSeqs(t, b.messages(5), 2)
	a.send("lobby", "after", "n9")
	if m := b.nextOf("message"); m.str("text") != "after" || m.num("seq") != 7 {
		t.Errorf("bob got %v, want seq 7 'after'", m)
	}
}

// TestClusterPostgresOutage: while PostgreSQL is unreachable a send gets
// unavailable and is not acknowledged, /healthz names the store, and the
// node recovers by itself when PostgreSQL returns.
func TestClusterPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and Redis")
	}
	pg := parleytest.StartPostgresServer(t)
	dsn := pg.CreateDatabase(t)
	rds := parleytest.StartRedis(t)
	node := startCluster(t, 1, dsn, rds.Addr, nil)[0]
	a := dial(t, node, queryName("alice"))
	a.join("lobby", nil)
	a.send("lobby", "one", "n1")

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	reply := a.request(map[string]any{"type": "send", "room": "lobby", "text": "lost?", "nonce": "n2"})
	if reply.str("code") != "unavailable" {
		t.Fatalf("send during the outage: %v, want unavailable", reply)
	}
	if reply := a.request(map[string]any{"type": "history", "room": "lobby"}); reply.str("code") != "unavailable" || reply.str("message") == "" {
		t.Errorf("history during the outage: %v, want unavailable with a message", reply)
	}
	resp, err := http.Get("http://" + node.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Status string
		Checks map[string]string
	}
	json.NewDecoder(resp.Body).Decode(&health)
	if resp.StatusCode != http.StatusServiceUnavailable || health.Checks["store"] != "down" || health.Checks["broker"] != "ok" {
		t.Errorf("healthz during the outage: %d %+v", resp.StatusCode, health)
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		reply := a.request(map[string]any{"type": "send", "room": "lobby", "text": "two", "nonce": "n2"})
		if reply.str("type") == "ack" {
			if reply.num("seq") != 2 {
				t.Errorf("after recovery: seq %d, want 2 (the refused send must not have been stored)", reply.num("seq"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not recover: %v", reply)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + node.addr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("healthz after recovery: %v %s", err, respBody(resp))
	}
}

// TestClusterNodeKilled runs two real processes; one is killed with
// SIGKILL. Its client resumes on the other node without loss or
// duplicates, and its user leaves presence there within 30 seconds.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, Redis and two server processes")
	}
	dsn := parleytest.StartPostgres(t)
	rds := parleytest.StartRedis(t)
	flags := []string{"--store", dsn, "--broker", "redis://" + rds.Addr, "--rate", "1000", "--burst", "1000", "--presence-refresh", "1s"}
	addrA, addrB := freeAddr(t), freeAddr(t)
	pa := startProcess(t, t.TempDir(), addrA, flags...)
	startProcess(t, t.TempDir(), addrB, flags...)
	nodeA, nodeB := &testServer{addr: addrA}, &testServer{addr: addrB}

	// The watcher joins first, so the victim's arrival reaches it as a
	// presence event from the other node.
	watcher := dial(t, nodeB, queryName("watcher"))
	watcher.join("lobby", nil)
	victim := dial(t, nodeA, queryName("victim"))
	victim.join("lobby", nil)
	writer := dial(t, nodeB, queryName("writer"))
	writer.join("lobby", nil)
	for i := 1; i <= 10; i++ {
		writer.send("lobby", fmt.Sprintf("m%d", i), fmt.Sprintf("a%d", i))
	}
	got := victim.messages(10)
	assertSeqs(t, got, 1)
	// Wait until the watcher's node knows of the victim.
	for {
		if f := watcher.next(); f.str("type") == "presence" && f.str("event") == "join" {
			if _, n := f.user("user"); n == "victim" {
				break
			}
		}
	}

	pa.cmd.Process.Signal(syscall.SIGKILL)
	pa.cmd.Wait()
	killed := time.Now()
	for i := 11; i <= 20; i++ {
		writer.send("lobby", fmt.Sprintf("m%d", i), fmt.Sprintf("a%d", i))
	}
	// The victim's client reconnects to the surviving node and resumes.
	back := dial(t, nodeB, "token="+victim.token())
	_, backlog := back.join("lobby", ptr(int64(10)))
	assertSeqs(t, backlog, 11)
	if len(backlog) != 10 {
		t.Fatalf("resumed %d messages, want 10", len(backlog))
	}
	back.conn.Close()

	// The dead node's presence entry for the victim expires.
	deadline := time.After(30 * time.Second)
	for {
		select {
		case f := <-watcher.frames:
			if f.str("type") == "presence" && f.str("event") == "leave" {
				if _, n := f.user("user"); n == "victim" {
					t.Logf("the victim left presence %v after the kill", time.Since(killed).Round(time.Millisecond))
					return
				}
			}
		case <-deadline:
			t.Fatal("the killed node's user never left presence")
		}
	}
}

// TestUserCommandsOnPostgres: in cluster mode accounts live in PostgreSQL,
// and parley user must reach them there (--store or PARLEY_STORE), or a
// cluster could get no first admin.
func TestUserCommandsOnPostgres(t *testing.T) {
	dsn := parleytest.StartPostgres(t)
	data := t.TempDir()
	if _, errOut, err := cli(t, "a long password\n", nil, "user", "add", "--store", dsn, "--admin", "root"); err != nil {
		t.Fatalf("user add --store: %v %s", err, errOut)
	}
	out, errOut, err := cli(t, "", map[string]string{"PARLEY_STORE": dsn, "PARLEY_DATA": data}, "user", "list")
	if err != nil || !strings.Contains(out, "root") {
		t.Fatalf("user list with PARLEY_STORE: %q, %v %s; want root listed", out, err, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "parley.db")); !os.IsNotExist(err) {
		t.Errorf("user list with PARLEY_STORE touched SQLite in --data: %v", err)
	}
	// The server on that store lets root in.
	s := startServer(t, func(c *serveConfig) { c.Store = dsn })
	r := httpAPI(s).login(t, "root", "a long password")
	if u, _ := r.body["user"].(map[string]any); r.StatusCode != 200 || u["admin"] != true {
		t.Errorf("login as root: HTTP %d %s", r.StatusCode, r.raw)
	}
}
