package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGuestIdentity(t *testing.T) {
	s := startServer(t, nil)

	alice := dial(t, s, queryName("alice"))
	id, name := alice.user()
	if name != "alice" || id == "" || alice.token() == "" {
		t.Fatalf("welcome = %v, want user alice with an id and a token", alice.welcome)
	}
	if hb := alice.welcome["heartbeat_s"]; hb != 25.0 {
		t.Errorf("heartbeat_s = %v, want 25", hb)
	}
	limits, _ := alice.welcome["limits"].(map[string]any)
	if limits["max_text"] != 1024.0 || limits["rate"] != 10.0 || limits["burst"] != 20.0 || limits["max_frame"].(float64) < 4*1024 {
		t.Errorf("limits = %v", limits)
	}

	again := dial(t, s, "token="+alice.token())
	if id2, name2 := again.user(); id2 != id || name2 != "alice" || again.token() != "" {
		t.Errorf("token came back as %v, want the same user and no new token", again.welcome)
	}

	other := dial(t, s, queryName("Alice"))
	if _, n := other.user(); n != "Alice-2" {
		t.Errorf("second Alice got %q, want Alice-2 (names are unique case-insensitively)", n)
	}
	anon := dial(t, s, "")
	if _, n := anon.user(); !strings.HasPrefix(n, "guest-") {
		t.Errorf("guest without a name got %q, want guest-NNNN", n)
	}

	for _, bad := range []string{"a b", strings.Repeat("x", 33), "<script>", "ä"} {
		_, resp, err := dialRaw(s, queryName(bad), []string{"parley.v1"}, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("name %q: got %v, %s; want HTTP 400", bad, err, respBody(resp))
			continue
		}
		var body struct{ Code, Message string }
		json.NewDecoder(resp.Body).Decode(&body)
		if body.Code != "bad_request" || body.Message == "" {
			t.Errorf("name %q: body %+v, want a bad_request with a message", bad, body)
		}
	}
	_, resp, err := dialRaw(s, "token=nonsense", []string{"parley.v1"}, nil)
	if err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown token: %v %s, want HTTP 401", err, respBody(resp))
	}
}

func TestGuestsDisabled(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Guests = false })
	_, resp, err := dialRaw(s, queryName("alice"), []string{"parley.v1"}, nil)
	if err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("guest with --guests=false: %v %s, want HTTP 401", err, respBody(resp))
	}
}

func TestSubprotocolAndOrigin(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.AllowedOrigins = "https://app.example" })

	_, resp, err := dialRaw(s, "", []string{"chat", "mqtt"}, nil)
	if err == nil || resp.StatusCode != http.StatusBadRequest || !strings.Contains(respBody(resp), "parley.v1") {
		t.Errorf("foreign subprotocols: %v %s, want HTTP 400 naming parley.v1", err, respBody(resp))
	}
	c, resp, err := dialRaw(s, "", []string{"mqtt", "parley.v1"}, nil)
	if err != nil || c.Subprotocol() != "parley.v1" {
		t.Fatalf("parley.v1 among others: %v %s", err, respBody(resp))
	}
	c.Close()

	for origin, want := range map[string]int{
		"https://evil.example": http.StatusForbidden,
		"http://" + s.addr:     http.StatusSwitchingProtocols,
		"https://app.example":  http.StatusSwitchingProtocols,
		"":                     http.StatusSwitchingProtocols,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := dialRaw(s, "", []string{"parley.v1"}, h)
		if resp == nil || resp.StatusCode != want {
			t.Errorf("origin %q: %v %s, want HTTP %d", origin, err, respBody(resp), want)
		}
		if c != nil {
			c.Close()
		}
	}

	resp, err = http.Get("http://" + s.addr + "/ws")
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET /ws: %v %s, want HTTP 400", err, respBody(resp))
	}
}

func TestOrderAckAndBroadcast(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Rate, c.Burst = 1000, 1000 })
	a := dial(t, s, queryName("alice"))
	b := dial(t, s, queryName("bob"))
	joined, backlog := a.join("general", nil)
	if joined.num("head") != 0 || len(backlog) != 0 || joined.str("room") != "general" {
		t.Fatalf("joined a new room: %v with %d messages", joined, len(backlog))
	}
	joined, _ = b.join("general", nil)
	if online := joined["online"].([]any); len(online) != 2 {
		t.Errorf("online = %v, want alice and bob", online)
	}
	if p := a.next(); p.str("type") != "presence" || p.str("event") != "join" {
		t.Errorf("alice got %v, want bob's presence join", p)
	} else if _, n := p.user("user"); n != "bob" {
		t.Errorf("presence names %q, want bob", n)
	}

	const n = 30
	for _, c := range []*client{a, b} {
		go func() {
			_, name := c.user()
			for i := range n / 2 {
				c.sendJSON(map[string]any{"type": "send", "id": fmt.Sprint(i), "room": "general", "text": fmt.Sprintf("%s%d", name, i), "nonce": fmt.Sprintf("n%d", i)})
			}
		}()
	}
	for _, c := range []*client{a, b} {
		var msgs, acks []frame
		for len(msgs) < n || len(acks) < n/2 {
			switch f := c.next(); f.str("type") {
			case "message":
				msgs = append(msgs, f)
			case "ack":
				acks = append(acks, f)
			default:
				t.Fatalf("unexpected %v", f)
			}
		}
		assertSeqs(t, msgs, 1)
		for i, ack := range acks {
			if ack.str("nonce") != fmt.Sprintf("n%d", i) || ack.str("id") != fmt.Sprint(i) || ack.str("room") != "general" || ack.num("seq") < 1 {
				t.Errorf("ack %d = %v", i, ack)
			}
		}
		if _, from := msgs[0].user("from"); from != "alice" && from != "bob" {
			t.Errorf("from = %v", msgs[0]["from"])
		}
		if ts := msgs[0].str("ts"); len(ts) != len("2006-01-02T15:04:05.000Z") || !strings.HasSuffix(ts, "Z") {
			t.Errorf("ts = %q, want RFC 3339 UTC with milliseconds", ts)
		}
	}
}

func TestSendRequiresJoin(t *testing.T) {
	s := startServer(t, nil)
	a := dial(t, s, queryName("alice"))
	reply := a.request(map[string]any{"type": "send", "room": "lobby", "text": "hi", "nonce": "n1"})
	if reply.str("type") != "error" || reply.str("code") != "forbidden" {
		t.Errorf("send without join: %v, want forbidden", reply)
	}
	reply = a.request(map[string]any{"type": "history", "room": "lobby"})
	if reply.str("code") != "forbidden" {
		t.Errorf("history without join: %v, want forbidden", reply)
	}
	reply = a.request(map[string]any{"type": "leave", "room": "lobby"})
	if reply.str("code") != "not_found" {
		t.Errorf("leave without join: %v, want not_found", reply)
	}
	a.join("lobby", nil)
	if reply := a.request(map[string]any{"type": "leave", "room": "lobby"}); reply.str("type") != "left" {
		t.Errorf("leave: %v", reply)
	}
	if reply := a.request(map[string]any{"type": "send", "room": "lobby", "text": "hi", "nonce": "n1"}); reply.str("code") != "forbidden" {
		t.Errorf("send after leave: %v, want forbidden", reply)
	}
}

func TestNonceExactlyOnce(t *testing.T) {
	s := startServer(t, nil)
	a := dial(t, s, queryName("alice"))
	watcher := dial(t, s, queryName("watcher"))
	a.join("lobby", nil)
	watcher.join("lobby", nil)

	first := a.send("lobby", "hello", "nonce-1")
	// The retry comes on a new connection, as after a reconnect.
	a2 := dial(t, s, "token="+a.token())
	a2.join("lobby", ptr(first.num("seq")))
	retry := a2.send("lobby", "hello", "nonce-1")
	if retry.num("seq") != first.num("seq") {
		t.Errorf("retry got seq %d, want the original %d", retry.num("seq"), first.num("seq"))
	}
	next := a2.send("lobby", "world", "nonce-2")
	if next.num("seq") != first.num("seq")+1 {
		t.Errorf("next message got seq %d, want %d", next.num("seq"), first.num("seq")+1)
	}
	msgs := watcher.messages(2)
	assertSeqs(t, msgs, first.num("seq"))
	if msgs[0].str("text") != "hello" || msgs[1].str("text") != "world" {
		t.Errorf("watcher saw %v", msgs)
	}
	hist := a2.request(map[string]any{"type": "history", "room": "lobby"})
	if got := len(hist["messages"].([]any)); got != 2 {
		t.Errorf("history holds %d messages, want 2", got)
	}
	// Another user may use the same nonce.
	b := dial(t, s, queryName("bob"))
	b.join("lobby", nil)
	if ack := b.send("lobby", "mine", "nonce-1"); ack.num("seq") != next.num("seq")+1 {
		t.Errorf("bob's nonce-1 got seq %d, want a new one", ack.num("seq"))
	}
}

func TestResumeIsLossless(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Rate, c.Burst = 10000, 10000 })
	writer := dial(t, s, queryName("writer"))
	writer.join("room1", nil)
	for i := range 20 {
		writer.send("room1", fmt.Sprintf("m%d", i), fmt.Sprintf("n%d", i))
	}

	// While the writer keeps sending, readers resume from various points;
	// each must see every later seq exactly once and in order.
	const more = 200
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range more {
			writer.sendJSON(map[string]any{"type": "send", "room": "room1", "text": fmt.Sprintf("live%d", i), "nonce": fmt.Sprintf("live%d", i)})
			select {
			case <-stop:
				return
			default:
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for _, since := range []int64{0, 5, 19} {
		r := dial(t, s, queryName(fmt.Sprintf("reader%d", since)))
		joined, backlog := r.join("room1", &since)
		head := joined.num("head")
		if head < 20 {
			t.Fatalf("head %d, want at least 20", head)
		}
		rest := r.messages(int(20 + more - since - int64(len(backlog))))
		all := append(backlog, rest...)
		assertSeqs(t, all, since+1)
	}
	close(stop)
	wg.Wait()

	// At or past the head nothing is replayed.
	r := dial(t, s, queryName("late"))
	time.Sleep(100 * time.Millisecond)
	head := writer.request(map[string]any{"type": "history", "room": "room1", "limit": 1})
	last := int64(head["messages"].([]any)[0].(map[string]any)["seq"].(float64))
	_, backlog := r.join("room1", ptr(last))
	if len(backlog) != 0 {
		t.Errorf("since=head replayed %d messages", len(backlog))
	}
	r2 := dial(t, s, queryName("later"))
	if _, backlog := r2.join("room1", ptr(last+100)); len(backlog) != 0 {
		t.Errorf("since past head replayed %d messages", len(backlog))
	}
}

func TestReplayLimits(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Rate, c.Burst, c.MaxReplay = 10000, 10000, 30 })
	w := dial(t, s, queryName("writer"))
	w.join("big", nil)
	for i := range 80 {
		w.send("big", fmt.Sprintf("m%d", i), fmt.Sprintf("n%d", i))
	}
	r := dial(t, s, queryName("reader"))
	_, backlog := r.join("big", ptr(int64(0)))
	if len(backlog) != 30 {
		t.Fatalf("since 0 with max-replay 30 replayed %d", len(backlog))
	}
	assertSeqs(t, backlog, 51)
	// The client pages back for the rest.
	page := r.request(map[string]any{"type": "history", "room": "big", "before": 51, "limit": 200})
	msgs := page["messages"].([]any)
	if len(msgs) != 50 || page["more"] != false {
		t.Fatalf("history before 51: %d messages, more=%v", len(msgs), page["more"])
	}
	for i, m := range msgs {
		if seq := m.(map[string]any)["seq"].(float64); int(seq) != i+1 {
			t.Fatalf("history[%d].seq = %v", i, seq)
		}
	}
	page = r.request(map[string]any{"type": "history", "room": "big", "limit": 10})
	if msgs := page["messages"].([]any); len(msgs) != 10 || page["more"] != true || msgs[9].(map[string]any)["seq"].(float64) != 80 {
		t.Errorf("newest page: %v", page)
	}

	// A join without since replays the last 50 (within max-replay here).
	s2 := startServer(t, func(c *serveConfig) { c.Rate, c.Burst = 10000, 10000 })
	w2 := dial(t, s2, queryName("writer"))
	w2.join("lobby", nil)
	for i := range 60 {
		w2.send("lobby", fmt.Sprintf("m%d", i), fmt.Sprintf("n%d", i))
	}
	r2 := dial(t, s2, queryName("reader"))
	_, backlog = r2.join("lobby", nil)
	if len(backlog) != 50 {
		t.Fatalf("join without since replayed %d, want 50", len(backlog))
	}
	assertSeqs(t, backlog, 11)
}

func TestBadInputChangesNothing(t *testing.T) {
	s := startServer(t, nil)
	a := dial(t, s, queryName("alice"))
	a.join("lobby", nil)
	chinese := strings.Repeat("中", 1024)
	for _, tc := range []struct {
		raw  string
		code string
	}{
		{`not json`, "bad_request"},
		{`[1,2]`, "bad_request"},
		{`{"type":"dance"}`, "bad_request"},
		{`{"room":"lobby"}`, "bad_request"},
		{`{"type":"send","room":"lobby","text":"hi"}`, "bad_request"},
		{`{"type":"send","room":"lobby","nonce":"x"}`, "bad_request"},
		{`{"type":"send","room":"lobby","text":"","nonce":"x"}`, "bad_request"},
		{`{"type":"send","room":"lobby","text":"   ","nonce":"x"}`, "bad_request"},
		{`{"type":"send","room":"lobby","text":"hi","nonce":"x","from":{"id":"u1","name":"admin"}}`, "bad_request"},
		{`{"type":"send","room":"Lobby","text":"hi","nonce":"x"}`, "bad_request"},
		{`{"type":"send","room":"lobby","text":"` + strings.Repeat("a", 1025) + `","nonce":"x"}`, "too_large"},
		{`{"type":"send","room":"lobby","text":"` + chinese + `中","nonce":"x"}`, "too_large"},
		{`{"type":"join","room":"lobby","since":-1}`, "bad_request"},
		{`{"type":"history","room":"lobby","limit":201}`, "bad_request"},
	} {
		a.sendRaw([]byte(tc.raw))
		f := a.expect("error")
		if f.str("code") != tc.code || f.str("message") == "" {
			t.Errorf("%.60s: got %v, want %s with a message", tc.raw, f, tc.code)
		}
	}
	if pong := a.request(map[string]any{"type": "ping"}); pong.str("type") != "pong" {
		t.Fatalf("connection unusable after bad input: %v", pong)
	}
	hist := a.request(map[string]any{"type": "history", "room": "lobby"})
	if n := len(hist["messages"].([]any)); n != 0 {
		t.Fatalf("bad input stored %d messages", n)
	}
	// The error reply carries the request's id even when the frame is bad.
	a.sendRaw([]byte(`{"type":"send","id":"x7","room":"lobby"}`))
	if f := a.expect("error"); f.str("id") != "x7" {
		t.Errorf("error reply id = %q, want x7", f.str("id"))
	}
	if ack := a.send("lobby", chinese, "cn"); ack.num("seq") != 1 {
		t.Errorf("1024 Chinese characters: %v", ack)
	}
}

func TestOversizeFrameAndInvalidUTF8Close(t *testing.T) {
	s := startServer(t, nil)
	a := dial(t, s, queryName("alice"))
	maxFrame := int(a.welcome["limits"].(map[string]any)["max_frame"].(float64))
	a.sendRaw([]byte(`{"type":"ping","id":"` + strings.Repeat("a", maxFrame) + `"}`))
	if code := a.closeCode(); code != 1009 {
		t.Errorf("oversize frame closed with %d, want 1009", code)
	}
	b := dial(t, s, queryName("bob"))
	b.sendRaw([]byte("{\"type\":\"ping\",\"id\":\"\xff\xfe\"}"))
	if code := b.closeCode(); code != 1007 {
		t.Errorf("invalid UTF-8 closed with %d, want 1007", code)
	}
	// Others are unaffected.
	c := dial(t, s, queryName("carol"))
	if pong := c.request(map[string]any{"type": "ping"}); pong.str("type") != "pong" {
		t.Errorf("carol: %v", pong)
	}
}

func TestRateLimit(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Rate, c.Burst = 1, 3 })
	a := dial(t, s, queryName("alice"))
	a.join("lobby", nil)
	for i := range 3 {
		a.send("lobby", "hi", fmt.Sprintf("n%d", i))
	}
	// Joins, pings and history don't count.
	a.request(map[string]any{"type": "ping"})
	a.request(map[string]any{"type": "history", "room": "lobby"})
	reply := a.request(map[string]any{"type": "send", "room": "lobby", "text": "too fast", "nonce": "n9"})
	if reply.str("code") != "rate_limited" || reply.num("retry_after_ms") < 1 || reply.num("retry_after_ms") > 1000 {
		t.Fatalf("4th send: %v, want rate_limited with retry_after_ms in (0, 1000]", reply)
	}
	time.Sleep(time.Duration(reply.num("retry_after_ms"))*time.Millisecond + 50*time.Millisecond)
	if ack := a.send("lobby", "later", "n10"); ack.num("seq") != 4 {
		t.Errorf("send after waiting: seq %d, want 4 (the refused one was not stored)", ack.num("seq"))
	}

	// Sustained abuse closes the connection with 4029. The server may close
	// it before the last of these are written: a write then fails, which
	// ends the abuse, not the test.
	for i := range 60 {
		if a.trySendRaw(fmt.Appendf(nil, `{"type":"send","room":"lobby","text":"spam","nonce":"s%d"}`, i)) != nil {
			break
		}
	}
	if code := a.closeCode(); code != 4029 {
		t.Errorf("abuse closed with %d, want 4029", code)
	}
}

func TestTypingAndPresence(t *testing.T) {
	s := startServer(t, nil)
	a := dial(t, s, queryName("alice"))
	b := dial(t, s, queryName("bob"))
	a.join("lobby", nil)
	b.join("lobby", nil)
	if p := a.next(); p.str("event") != "join" {
		t.Fatalf("want bob's join, got %v", p)
	}
	b.sendJSON(map[string]any{"type": "typing", "room": "lobby"})
	if f := a.next(); f.str("type") != "typing" {
		t.Errorf("want typing, got %v", f)
	} else if _, n := f.user("user"); n != "bob" {
		t.Errorf("typing names %q", n)
	}
	// A second connection of bob's changes nothing for alice's presence.
	b2 := dial(t, s, "token="+b.token())
	b2.join("lobby", nil)
	b2.conn.Close()
	a.quiet(300 * time.Millisecond)
	b.conn.Close()
	f := a.next()
	if f.str("type") != "presence" || f.str("event") != "leave" {
		t.Errorf("want bob's leave, got %v", f)
	}
}
