package main

// End-to-end tests of the browser client (web/): a real headless Chromium,
// driven from Go with chromedp, against a real Parley server, doing what a
// person does. They need /usr/bin/chromium (scripts/install-test-deps).
// Set PARLEY_SCREENSHOTS=DIR to keep screenshots of the steps; a failing
// test always saves one per page and logs where.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Two people chat in the lobby; one makes a private room with the other
// in it and moderates there; then a direct conversation from the people
// list; edits; signing out.
func TestBrowserRoomAndDirectChat(t *testing.T) {
	s := startServer(t, nil)
	b := newBrowser(t)
	alice := b.newPage("alice")
	bob := b.newPage("bob")
	alice.register(s, "alice", "alice-password")
	bob.register(s, "bob", "bob-password")

	alice.say("hello bob 👋")
	bob.waitMessage("alice", "hello bob 👋")

	// Typing shows on the other side, then the message.
	bob.typeInto("#composer-input", "hi alice, good to")
	alice.waitFor("bob's typing indicator", `document.querySelector("#typing-text").textContent === "bob is typing…"`,
		`document.querySelector("#typing-text").textContent`)
	bob.typeInto("#composer-input", " see you")
	bob.pressEnter("#composer-input")
	alice.waitMessage("bob", "hi alice, good to see you")
	alice.waitFor("the typing line to clear", `document.querySelector("#typing-text").textContent === ""`, `document.querySelector("#typing-text").textContent`)

	// Consecutive messages from one sender are one group.
	alice.say("one more thing")
	alice.say("and another")
	bob.waitMessage("alice", "and another")
	var grouped []bool
	bob.eval(`[...document.querySelectorAll("#log li.msg")].slice(-3).map((li) => li.classList.contains("cont"))`, &grouped)
	if len(grouped) != 3 || grouped[0] || grouped[1] || !grouped[2] {
		t.Errorf("the last three messages (bob, alice, alice) grouped as %v, want [false false true]", grouped)
	}

	// Links: http(s) only, opened without the opener or a referrer.
	alice.say("docs at https://example.com/guide?x=1, not javascript:alert(1)")
	bob.waitMessage("alice", "docs at https://example.com/guide?x=1, not javascript:alert(1)")
	var links []map[string]string
	bob.eval(`[...document.querySelectorAll("#log li.msg:last-child .content a")].map((a) => ({href: a.href, rel: a.rel, text: a.textContent}))`, &links)
	if len(links) != 1 || links[0]["href"] != "https://example.com/guide?x=1" || links[0]["rel"] != "noopener noreferrer" || links[0]["text"] != "https://example.com/guide?x=1" {
		t.Errorf("links = %v, want one to https://example.com/guide?x=1 with rel noopener noreferrer", links)
	}
	bob.snapshot("lobby")

	// A private room, made with bob invited.
	alice.click("#new-room")
	alice.typeInto("#room-name", "plans")
	alice.click("#room-kind-private")
	alice.eval(`[...document.querySelectorAll("#room-member-list label")].find((l) => l.textContent.trim() === "bob").querySelector("input").click()`, nil)
	alice.snapshot("new-private-room")
	alice.click("#room-submit")
	alice.waitFor("the private room", `document.querySelector("#room-title").textContent === "plans" && document.querySelector("#room-title .room-icon.private")`,
		`document.querySelector("#room-title").textContent`)
	alice.say("welcome to plans")
	alice.waitMessage("alice", "welcome to plans")

	// A direct conversation, from the people list.
	alice.openRoom("lobby")
	alice.click(`#people-list button[aria-label="Message bob directly"]`)
	alice.waitFor("the direct room", `document.querySelector("#room-title").textContent === "bob"`, `document.querySelector("#room-title").textContent`)
	alice.say("psst, just between us")
	alice.waitMessage("alice", "psst, just between us")

	// Bob has no event for rooms he was added to; his sidebar finds them
	// and counts them unread.
	bob.waitFor("the conversation with alice and the private room in the sidebar, unread", `[...document.querySelectorAll("#dm-list .room-link")].some((b) =>
		b.querySelector(".room-name").textContent === "alice" && b.querySelector(".badge:not([hidden])")?.textContent === "1") &&
		document.querySelector('.room-link[data-room="plans"] .badge:not([hidden])')?.textContent === "1"`,
		`document.querySelector("#sidebar").innerText`)
	bob.snapshot("unread")
	bob.openRoom("plans")
	bob.waitMessage("alice", "welcome to plans")
	bob.say("thanks for the invite")

	// Alice owns plans: bob's message offers her moderation.
	alice.openRoom("plans")
	alice.waitMessage("bob", "thanks for the invite")
	bobsMessage := `[...document.querySelectorAll("#log li.msg")].find((li) => li.querySelector(".content").textContent === "thanks for the invite")`
	var tools []string
	alice.eval(bobsMessage+`.focus() || [...`+bobsMessage+`.querySelectorAll(".actions button")].map((b) => b.getAttribute("aria-label"))`, &tools)
	if want := []string{"Delete bob's message", "Mute bob for 10 minutes", "Kick bob out of plans", "Ban bob from plans"}; !slices.Equal(tools, want) {
		t.Errorf("alice's tools on bob's message: %q, want %q", tools, want)
	}
	alice.snapshot("moderation")
	alice.click(`#log li.msg:focus button[aria-label="Mute bob for 10 minutes"]`)
	alice.waitFor("the mute in the log", `[...document.querySelectorAll("#log li.event")].some((e) => e.textContent.startsWith("alice muted bob until"))`,
		`[...document.querySelectorAll("#log li.event")].map((e) => e.textContent)`)
	bob.waitFor("bob's composer to say he is muted", `document.querySelector("#composer-input").disabled &&
		document.querySelector("#composer-note").textContent.startsWith("You are muted in this room until")`,
		`document.querySelector("#composer-note").textContent`)

	bob.click("#dm-list .room-link")
	bob.waitMessage("alice", "psst, just between us")
	bob.waitFor("the badge to clear", `!document.querySelector("#dm-list .badge:not([hidden])")`, `document.querySelector("#dm-list").innerText`)
	bob.say("got it 🤫")
	alice.openRoom(dmRoom(alice))
	alice.waitMessage("bob", "got it 🤫")

	// Editing my last message: Up in the empty composer.
	alice.do("pressing Up", chromedp.Focus(chromedp.CSS("#composer-input")), chromedp.KeyEvent(kb.ArrowUp))
	alice.waitFor("the edit box", `document.querySelector("#log .edit-input")`, "")
	alice.setField("#log .edit-input", "psst, just between the two of us")
	alice.pressEnter("#log .edit-input")
	bob.waitMessage("alice", "psst, just between the two of us")
	bob.waitFor("the edited mark", `document.querySelector("#log li.msg .edited")`, "")
	alice.snapshot("dm")

	alice.click("#sign-out")
	alice.waitFor("the sign-in screen", `!document.querySelector("#auth").hidden`, `document.body.innerText`)
	alice.snapshot("signed-out")
}

// A person writes while the server restarts: the message waits (in
// localStorage too), is sent once after the reconnect, and what others
// wrote meanwhile appears exactly once, in order.
func TestBrowserServerRestartLosesNothing(t *testing.T) {
	// A resume replays at most max_replay messages; the page must page
	// back for the rest.
	const meanwhile = 6
	s := startServer(t, func(c *serveConfig) {
		c.Rate, c.Burst = 1000, 1000
		c.MaxReplay = 3
	})
	b := newBrowser(t)
	alice := b.newPage("alice")
	alice.signInAsGuest(s, "alice")

	bob := dial(t, s, queryName("bob"))
	bobToken := bob.token()
	bob.join("lobby", nil)
	bob.send("lobby", "before the restart", "b-1")
	alice.waitMessage("bob", "before the restart")

	s.stop(t)
	alice.waitFor("the reconnecting banner", `["reconnecting", "offline"].includes(document.querySelector("#conn-banner").dataset.state)`,
		`document.querySelector("#conn-banner").dataset.state`)
	const offline = "written while the server was down"
	alice.say(offline)
	alice.waitFor("the message shown as pending", `[...document.querySelectorAll("#log li.msg.pending .content")].some((c) => c.textContent === `+js(offline)+`)`, "")
	var stored string
	alice.eval(`localStorage.getItem("parley.pending") || ""`, &stored)
	if !strings.Contains(stored, offline) {
		t.Errorf("the pending message is not in localStorage: %q", stored)
	}
	alice.snapshot("server-down")

	s = restart(t, s)
	// Bob is back first and talks while alice's page is still waiting out
	// its backoff.
	bob = dial(t, s, "token="+bobToken)
	bob.join("lobby", ptr[int64](1))
	for i := 1; i <= meanwhile; i++ {
		bob.send("lobby", fmt.Sprintf("meanwhile %d", i), fmt.Sprintf("b-m%d", i))
	}

	alice.connected()
	alice.waitMessage("alice", offline)
	for i := 1; i <= meanwhile; i++ {
		alice.waitMessage("bob", fmt.Sprintf("meanwhile %d", i))
	}
	alice.waitFor("no message left pending", `!document.querySelector("#log li.msg.pending")`, "")
	alice.snapshot("reconnected")

	check := func(when string) {
		t.Helper()
		got := alice.messages()
		count := map[string]int{}
		for i, m := range got {
			count[m.Text]++
			if i > 0 && m.Seq <= got[i-1].Seq {
				t.Errorf("%s: message %d (%q) has seq %d after seq %d; want ascending", when, i, m.Text, m.Seq, got[i-1].Seq)
			}
		}
		want := []string{"before the restart", offline}
		for i := 1; i <= meanwhile; i++ {
			want = append(want, fmt.Sprintf("meanwhile %d", i))
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d messages shown, want %d: %v", when, len(got), len(want), got)
		}
		for _, text := range want {
			if count[text] != 1 {
				t.Errorf("%s: %q shown %d times, want once; the page shows %v", when, text, count[text], got)
			}
		}
	}
	check("after the reconnect")

	// The server stored the offline message once.
	page := bob.request(map[string]any{"type": "history", "room": "lobby"})
	n := 0
	for _, m := range page["messages"].([]any) {
		if m.(map[string]any)["text"] == offline {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the server stored %q %d times, want once", offline, n)
	}

	// A reload shows the room as it is, again exactly once each.
	alice.open(chatURL(s))
	alice.connected()
	alice.waitMessage("alice", offline)
	// The join replays only max_replay messages here; the page fills the
	// screen with older pages by itself.
	alice.waitMessage("bob", "before the restart")
	check("after a reload")
	var left string
	alice.eval(`localStorage.getItem("parley.pending") || ""`, &left)
	if left != "" {
		t.Errorf("localStorage still holds pending messages after the ack: %q", left)
	}
}

// Scrolling up loads older history page by page, keeping the reader's
// place, back to the first message; unread counts follow other rooms.
func TestBrowserScrollBackAndUnread(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Rate, c.Burst = 1000, 1000 })
	bob := dial(t, s, queryName("bob"))
	bob.join("history", nil)
	const total = 130
	for i := 1; i <= total; i++ {
		bob.send("history", fmt.Sprintf("history message %03d", i), fmt.Sprintf("h-%d", i))
	}

	b := newBrowser(t)
	alice := b.newPage("alice")
	alice.signInAsGuest(s, "alice")
	alice.joinRoom("history")
	alice.waitMessage("bob", fmt.Sprintf("history message %03d", total))
	shown := alice.messages()
	if len(shown) != 50 || shown[0].Seq != total-49 {
		t.Fatalf("the room opened with %d messages from seq %d; want the last 50 (from %d)", len(shown), shown[0].Seq, total-49)
	}
	alice.snapshot("history-latest")

	// To the top: the next page comes in above, and the message that was
	// at the top stays where it was on screen. (Its bottom edge: its top
	// moves up as it joins the group of the older message above it.)
	first := fmt.Sprintf(`document.querySelector('#log li.msg[data-seq="%d"]')`, total-49)
	var before float64
	alice.eval(`(() => { const log = document.querySelector("#log"); log.scrollTop = 0;
		return `+first+`.getBoundingClientRect().bottom; })()`, &before)
	alice.waitFor("an older page", `document.querySelectorAll("#log li.msg").length >= 100`, `document.querySelectorAll("#log li.msg").length`)
	var after float64
	alice.eval(first+`.getBoundingClientRect().bottom`, &after)
	if d := after - before; d < -2 || d > 2 {
		t.Errorf("the message at the top moved %.0f px when older ones loaded; want it to stay in place", d)
	}
	// Keep scrolling up until the beginning.
	deadline := time.Now().Add(browserWait)
	for {
		var done bool
		alice.eval(`(() => { document.querySelector("#log").scrollTop = 0;
			return Boolean(document.querySelector('#log li.msg[data-seq="1"]')) &&
				document.querySelector("#log .edge").textContent.includes("very beginning"); })()`, &done)
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrolling up never reached the first message; %d shown", len(alice.messages()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	shown = alice.messages()
	if len(shown) != total {
		t.Fatalf("%d messages shown after scrolling back, want %d", len(shown), total)
	}
	for i, m := range shown {
		if want := fmt.Sprintf("history message %03d", i+1); m.Seq != int64(i+1) || m.Text != want {
			t.Fatalf("message %d is seq %d %q, want seq %d %q", i, m.Seq, m.Text, i+1, want)
		}
	}
	alice.snapshot("history-beginning")

	// Unread: news in a room not on screen is counted in the sidebar and
	// marked with a divider when the room is opened.
	alice.openRoom("lobby")
	for i := 1; i <= 3; i++ {
		bob.send("history", fmt.Sprintf("unread %d", i), fmt.Sprintf("u-%d", i))
	}
	alice.waitFor("3 unread in history", `document.querySelector('.room-link[data-room="history"] .badge:not([hidden])')?.textContent === "3"`,
		`document.querySelector("#room-list").innerText`)
	alice.waitFor("the count in the title", `document.title.startsWith("(3) ")`, `document.title`)
	alice.snapshot("unread")
	alice.openRoom("history")
	alice.waitFor("the badge to clear", `!document.querySelector('.room-link[data-room="history"] .badge:not([hidden])')`, `document.querySelector("#room-list").innerText`)
	var next string
	alice.eval(`document.querySelector("#log .divider").nextElementSibling.querySelector(".content").textContent`, &next)
	if next != "unread 1" {
		t.Errorf("the new-messages divider sits above %q, want above \"unread 1\"", next)
	}
	alice.snapshot("unread-opened")
}

// loadPayloads reads the XSS corpus: one payload a line, "# " comments.
func loadPayloads(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "xss", "payloads.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "# ") {
			continue
		}
		out = append(out, line)
	}
	if len(out) < 40 {
		t.Fatalf("the corpus has %d payloads; keep at least 40", len(out))
	}
	return out
}

// Every XSS payload of the corpus, sent as a message, a topic and a user's
// name, shows on the page verbatim as text, and none runs: no dialog, no
// flag, no CSP violation (which would mean markup reached the page and
// only the policy stopped it), no foreign element.
func TestBrowserXSSCorpus(t *testing.T) {
	payloads := loadPayloads(t)
	s := startServer(t, func(c *serveConfig) {
		c.JWTSecret = jwtSecret
		c.Rate, c.Burst = 1000, 1000
	})
	owner := dial(t, s, "token="+mintJWT(t, "owner", "owner"))
	if f := owner.request(map[string]any{"type": "create_room", "room": "xss", "topic": "payloads"}); f.str("type") != "room" {
		t.Fatalf("create_room: %v", f)
	}
	owner.join("xss", nil)

	b := newBrowser(t)
	viewer := b.newPage("viewer")
	// A JWT user, as an embedding app signs one in: #token= in the URL.
	viewer.open(chatURL(s) + "#token=" + mintJWT(t, "viewer", "viewer"))
	viewer.connected()
	var hash string
	viewer.eval(`location.hash`, &hash)
	if hash != "" {
		t.Errorf("the token stays in the address bar: %q", hash)
	}
	viewer.joinRoom("xss")

	// Names: JWT users may have any display name up to 64 characters.
	var names []string
	for i, p := range payloads {
		if utf8.RuneCountInString(p) > 64 {
			continue
		}
		c := dial(t, s, "token="+mintJWT(t, fmt.Sprintf("n%d", i), p))
		c.join("xss", nil)
		c.send("xss", fmt.Sprintf("a message from name %d", i), "n")
		if len(names) == 0 {
			// The first payload-named user writes to the viewer directly:
			// the sidebar names the conversation after them.
			dm := c.request(map[string]any{"type": "open_direct", "user": "ext:viewer"})
			room, _ := dm["room"].(map[string]any)
			dmName, _ := room["name"].(string)
			c.join(dmName, nil)
			c.send(dmName, "a direct message from a payload name", "dm")
		}
		names = append(names, p)
	}
	for i, p := range payloads {
		owner.send("xss", p, fmt.Sprintf("t-%d", i))
		if f := owner.request(map[string]any{"type": "topic", "room": "xss", "topic": p}); f.str("type") != "ok" {
			t.Fatalf("topic %q: %v", p, f)
		}
	}
	// And a few typed by the viewer, through the composer and the outbox.
	typed := []string{payloads[0], payloads[3], payloads[len(payloads)-1]}
	for _, p := range typed {
		viewer.setField("#composer-input", p)
		viewer.pressEnter("#composer-input")
	}

	missing := func(what, selector string, want []string) string {
		return `(() => { const shown = new Map();
			for (const e of document.querySelectorAll(` + js(selector) + `)) shown.set(e.textContent, (shown.get(e.textContent) || 0) + 1);
			return ` + js(want) + `.filter((p) => !shown.has(p)); })()`
	}
	viewer.waitFor("every payload as a message", missing("messages", "#log li.msg:not(.pending) .content", payloads)+`.length === 0`,
		missing("messages", "#log li.msg:not(.pending) .content", payloads))
	viewer.waitFor("every payload as a topic", missing("topics", "#log .topic-text", payloads)+`.length === 0`,
		missing("topics", "#log .topic-text", payloads))
	viewer.waitFor("every payload name as a sender", missing("senders", "#log li.msg .from", names)+`.length === 0`,
		missing("senders", "#log li.msg .from", names))
	viewer.waitFor("every payload name in the people list", missing("people", "#people-list .person-name", names)+`.length === 0`,
		missing("people", "#people-list .person-name", names))
	var topic string
	viewer.eval(`document.querySelector("#room-topic").textContent`, &topic)
	if want := payloads[len(payloads)-1]; topic != want {
		t.Errorf("the room header's topic is %q, want %q", topic, want)
	}
	viewer.waitFor("the viewer's own messages, stored", `document.querySelectorAll("#log li.msg.mine:not(.pending)").length === `+js(len(typed)),
		`document.querySelectorAll("#log li.msg.mine").length`)
	var mine []string
	viewer.eval(`[...document.querySelectorAll("#log li.msg.mine:not(.pending) .content")].map((e) => e.textContent)`, &mine)
	if !slices.Equal(mine, typed) {
		t.Errorf("the viewer's own payload messages show as %q, want %q", mine, typed)
	}
	viewer.snapshot("room")

	viewer.waitFor("the direct conversation named after its payload peer", `[...document.querySelectorAll("#dm-list .room-name")].some((e) => e.textContent === `+js(names[0])+`)`,
		`document.querySelector("#dm-list").innerText`)
	viewer.click("#dm-list .room-link")
	viewer.waitMessage(names[0], "a direct message from a payload name")
	var title string
	viewer.eval(`document.querySelector("#room-title").textContent`, &title)
	if title != names[0] {
		t.Errorf("the direct room's title is %q, want the peer's name %q", title, names[0])
	}
	viewer.snapshot("direct")
	viewer.openRoom("xss")

	// Nothing ran, and nothing but text got in.
	var ran struct {
		Flag       any      `json:"flag"`
		Hits       []string `json:"hits"`
		Violations []string `json:"violations"`
		Foreign    []string `json:"foreign"`
	}
	viewer.eval(`(() => {
		const foreign = [];
		const allowed = new Set(["OL", "LI", "DIV", "SPAN", "P", "TIME", "A", "BUTTON", "STRONG", "Q", "I", "FORM", "TEXTAREA"]);
		for (const root of document.querySelectorAll("#log, #people-list, #room-list, #dm-list, #room-title, #room-topic, #typing, #me")) {
			for (const e of root.querySelectorAll("*")) {
				if (!allowed.has(e.tagName)) foreign.push("a <" + e.tagName + ">");
				for (const a of e.attributes) if (/^on|^style$|^srcdoc$|^xlink/i.test(a.name)) foreign.push("an attribute " + a.name + " on <" + e.tagName + ">");
				if (e.tagName === "A" && (!/^https?:$/.test(new URL(e.href).protocol) || e.rel !== "noopener noreferrer")) foreign.push("a link to " + e.href);
			}
		}
		for (const sel of ["iframe", "object", "embed", "svg", "math", "video", "audio", "marquee", "details", "template", "base", "meta[http-equiv]", "noscript", "body style", "head style"]) {
			if (document.querySelector(sel)) foreign.push("a " + sel + " in the document");
		}
		if (document.scripts.length !== 1) foreign.push(document.scripts.length + " scripts in the document");
		for (const img of document.images) if (new URL(img.src).pathname !== "/icon.svg") foreign.push("an image " + img.src);
		return {flag: window.__xss ?? null, hits: window.__xssHits, violations: window.__cspViolations, foreign};
	})()`, &ran)
	if ran.Flag != nil || len(ran.Hits) > 0 {
		t.Errorf("a payload ran: flag %v, calls %q", ran.Flag, ran.Hits)
	}
	if len(ran.Violations) > 0 {
		t.Errorf("CSP violations (markup reached the page, or the page breaks its own policy): %q", ran.Violations)
	}
	if len(ran.Foreign) > 0 {
		t.Errorf("the page holds what it never makes: %q", ran.Foreign)
	}
	t.Logf("%d payloads shown as text in messages and topics, %d as names", len(payloads), len(names))
}

// The seed's own page (text mode: lines in, "NAME: TEXT" out) and a
// Parley page user talk in the lobby.
func TestBrowserSeedPageTextMode(t *testing.T) {
	seedDir := filepath.Join("..", "..", "..", "shared", "seed")
	if _, err := os.Stat(filepath.Join(seedDir, "chat.html")); err != nil {
		t.Fatalf("the seed's page: %v (the test runs from cmd/parley and expects shared/ beside the repository)", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seedSrv := &http.Server{Handler: http.FileServer(http.Dir(seedDir)), ReadHeaderTimeout: 5 * time.Second}
	go seedSrv.Serve(ln)
	t.Cleanup(func() { seedSrv.Close() })
	seedOrigin := "http://" + ln.Addr().String()

	// The seed's page is on another origin, which the server must allow.
	s := startServer(t, func(c *serveConfig) { c.AllowedOrigins = seedOrigin })
	b := newBrowser(t)
	seed := b.newPage("seed")
	seed.open(seedOrigin + "/chat.html?ws=" + url.QueryEscape("ws://"+s.addr+"/ws"))
	seed.waitFor("the seed page to connect", `document.querySelector("#chatMsg").textContent.includes("Connected to WebSocket server!")`,
		`document.querySelector("#chatMsg").textContent`)

	alice := b.newPage("alice")
	alice.signInAsGuest(s, "alice")

	seed.typeInto("#msg", "hello from the seed page")
	seed.click("button.button")
	alice.waitMessage("", "hello from the seed page")
	var from string
	alice.eval(`[...document.querySelectorAll("#log li.msg")].pop().querySelector(".from").textContent`, &from)
	if !strings.HasPrefix(from, "guest-") {
		t.Errorf("the seed page's message is from %q, want a guest-NNNN the server named", from)
	}

	for _, text := range []string{"hello seed, from Parley", "<b>tags</b> & ampersands stay text"} {
		alice.say(text)
		alice.waitMessage("alice", text)
		seed.waitFor("the seed page to show "+text, `[...document.querySelectorAll("#chatMsg li")].some((li) => li.textContent === `+js("new message:alice: "+text)+`)`,
			`[...document.querySelectorAll("#chatMsg li")].map((li) => li.textContent)`)
	}
	seed.snapshot("seed")
	alice.snapshot("alice")
}

// On a phone-sized screen in the dark theme, the rooms are a drawer and
// nothing overflows; the keyboard alone sends and switches rooms; every
// control has an accessible name.
func TestBrowserPhoneKeyboardAndTheme(t *testing.T) {
	s := startServer(t, nil)
	bob := dial(t, s, queryName("bob"))
	bob.join("lobby", nil)
	bob.send("lobby", "hi from a bigger screen, with a long line that has to wrap on a phone", "b-1")
	bob.join("random", nil)

	b := newBrowser(t)
	alice := b.newPage("alice")
	alice.do("emulating a phone in dark mode",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
			})
			return err
		}))
	alice.signInAsGuest(s, "alice")
	alice.waitMessage("bob", "hi from a bigger screen, with a long line that has to wrap on a phone")

	var layout struct {
		SidebarRight float64 `json:"sidebarRight"`
		Overflow     bool    `json:"overflow"`
		Background   string  `json:"background"`
	}
	alice.eval(`({sidebarRight: document.querySelector("#sidebar").getBoundingClientRect().right,
		overflow: document.documentElement.scrollWidth > innerWidth,
		background: getComputedStyle(document.querySelector(".room")).backgroundColor || getComputedStyle(document.body).backgroundColor})`, &layout)
	if layout.SidebarRight > 0 {
		t.Errorf("on a phone the sidebar shows (its right edge at %.0f px); want it in a drawer", layout.SidebarRight)
	}
	if layout.Overflow {
		t.Error("the page is wider than the phone's screen")
	}
	var dark bool
	alice.eval(`(() => { const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number); return r + g + b < 200; })()`, &dark)
	if !dark {
		t.Errorf("in dark mode the page's background is %s", layout.Background)
	}
	alice.snapshot("phone-dark")

	alice.click("#open-sidebar")
	alice.waitFor("the drawer", `document.querySelector("#sidebar").getBoundingClientRect().left >= 0`, `document.querySelector("#sidebar").getBoundingClientRect().left`)
	alice.snapshot("phone-drawer")
	alice.joinRoom("random")
	alice.waitFor("the drawer to close", `document.querySelector("#sidebar").getBoundingClientRect().right <= 0`, `document.querySelector("#sidebar").getBoundingClientRect().right`)

	// The keyboard alone: the composer has the focus after joining.
	alice.waitFor("the composer to have the focus", `document.activeElement === document.querySelector("#composer-input")`, `document.activeElement.id`)
	alice.do("typing", chromedp.KeyEvent("typed on the keyboard"))
	alice.pressEnter("#composer-input")
	alice.waitMessage("alice", "typed on the keyboard")
	alice.do("Alt+Up", chromedp.KeyEvent(kb.ArrowUp, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	alice.waitFor("the lobby, one room up", `document.querySelector('.room-link[aria-current="page"]')?.dataset.room === "lobby"`, `document.title`)

	var unnamed []string
	alice.eval(`[...document.querySelectorAll("button, textarea, input, select")].filter((e) => e.getClientRects().length &&
		!(e.getAttribute("aria-label") || e.textContent.trim() || e.labels?.length || e.getAttribute("aria-labelledby"))).map((e) => e.outerHTML.slice(0, 80))`, &unnamed)
	if len(unnamed) > 0 {
		t.Errorf("controls without an accessible name: %q", unnamed)
	}
	var roles []string
	alice.eval(`["#log ol[role=log]", "#conn-banner[role=status]", "#sidebar[aria-label]", "#people[aria-labelledby]", "#composer[aria-label]"].filter((s) => !document.querySelector(s))`, &roles)
	if len(roles) > 0 {
		t.Errorf("missing ARIA roles or labels: %q", roles)
	}
}

// A server that takes no guests: the page says so and offers to sign in.
func TestBrowserGuestsRefused(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Guests = false })
	b := newBrowser(t)
	alice := b.newPage("alice")
	alice.open(chatURL(s))
	alice.waitFor("the sign-in screen", `!document.querySelector("#auth").hidden`, `document.body.innerText`)
	alice.typeInto("#guest-name", "alice")
	alice.click("#guest-submit")
	alice.waitFor("the refusal", `!document.querySelector("#auth").hidden && document.querySelector("#auth-notice").textContent.includes("may not allow guests")`,
		`document.querySelector("#auth-notice").textContent`)
	alice.snapshot("refused")
	// An account still works.
	alice.typeInto("#signin-name", "alice")
	alice.typeInto("#signin-password", "alice-password")
	alice.click("#register-submit")
	alice.connected()
	alice.say("signed in instead")
	alice.waitMessage("alice", "signed in instead")
}

// dmRoom is the name of the first direct room in p's sidebar.
func dmRoom(p *testPage) string {
	p.t.Helper()
	var name string
	p.eval(`document.querySelector("#dm-list .room-link").dataset.room`, &name)
	return name
}

// With --compression, Chromium negotiates permessage-deflate (it always
// offers it), and the page sends and shows long messages, which travel
// compressed both ways.
func TestBrowserCompression(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Compression = true })
	b := newBrowser(t)
	alice := b.newPage("alice")
	bob := b.newPage("bob")
	alice.signInAsGuest(s, "alice")
	bob.signInAsGuest(s, "bob")

	long := strings.TrimSpace(strings.Repeat("a long message compresses well, ", 12))
	alice.say(long)
	bob.waitMessage("alice", long)
	bob.say("and a short answer")
	alice.waitMessage("bob", "and a short answer")

	// A socket of the page's own reports what was negotiated.
	bob.eval(`(() => {
		const w = new WebSocket("ws://" + location.host + "/ws?name=probe", "parley.v1");
		w.onmessage = (e) => { window.probe = {extensions: w.extensions, type: JSON.parse(e.data).type}; w.close(); };
		return true;
	})()`, nil)
	bob.waitFor("the probe's welcome", `window.probe && window.probe.type === "welcome"`, `JSON.stringify(window.probe)`)
	var extensions string
	bob.eval(`window.probe.extensions`, &extensions)
	if !strings.Contains(extensions, "permessage-deflate") || !strings.Contains(extensions, "server_no_context_takeover") {
		t.Fatalf("Chromium negotiated %q, want permessage-deflate with server_no_context_takeover", extensions)
	}
}

// The server may ack my message before it delivers the messages stored
// just before it, others' and my own (acks skip the queue). If the
// connection drops then, the page must resume after the last message it
// received, not after the ack's seq: the messages in between would never
// be shown.
func TestBrowserResumeAfterEarlyAck(t *testing.T) {
	s := startServer(t, nil)
	b := newBrowser(t)
	alice := b.newPage("alice")
	alice.tapSockets()
	alice.signInAsGuest(s, "alice")

	bob := dial(t, s, queryName("bob"))
	bob.join("lobby", nil)
	bob.send("lobby", "seen by alice", "b-1") // seq 1
	alice.waitMessage("bob", "seen by alice")

	// From here on, the message frames of alice's socket are held back.
	alice.eval(`(() => { const ws = window.__tap.sockets.at(-1); window.__tap.first = ws;
		window.__tap.hold = (f, s) => s === ws && f.type === "message"; return true; })()`, nil)
	const held = "on its way to alice when her socket dropped"
	bob.send("lobby", held, "b-2") // seq 2
	alice.waitFor("bob's message, held back", `window.__tap.held.some((f) => f.seq === 2)`, `JSON.stringify(window.__tap.held)`)
	const mine = "acked before the message frames came"
	alice.say(mine) // seq 3: its ack arrives, its message frame is held
	alice.waitFor("alice's message confirmed by its ack", `document.querySelector('#log li.msg:not(.pending)[data-seq="3"]')?.querySelector(".content").textContent === `+js(mine),
		`[...document.querySelectorAll("#log li.msg")].map((li) => li.className + " " + li.dataset.seq + " " + li.querySelector(".content").textContent)`)

	alice.eval(`window.__tap.first.close(), true`, nil)
	alice.waitFor("a new socket", `window.__tap.sockets.length === 2 && window.__tap.sockets[1].readyState === 1`, `window.__tap.sockets.length`)
	alice.connected()
	alice.waitFor("the lobby joined again", `window.__tap.sockets[1].sent.some((d) => { const f = JSON.parse(d); return f.type === "join" && f.room === "lobby"; })`,
		`JSON.stringify(window.__tap.sockets[1].sent)`)
	var since *int64
	alice.eval(`window.__tap.sockets[1].sent.map((d) => JSON.parse(d)).find((f) => f.type === "join" && f.room === "lobby").since ?? null`, &since)
	if since == nil || *since != 1 {
		got := "no since"
		if since != nil {
			got = fmt.Sprintf("since %d", *since)
		}
		t.Errorf("the rejoin asked for %s; want since 1, the last message frame the page received (the ack said 3, but 2 had not arrived)", got)
	}
	alice.waitMessage("bob", held)
	alice.waitMessage("alice", mine)
	got := alice.messages()
	want := []shownMessage{{1, "bob", "seen by alice"}, {2, "bob", held}, {3, "alice", mine}}
	if !slices.Equal(got, want) {
		t.Errorf("the lobby shows %v, want %v", got, want)
	}
}

// A message in the outbox that the server can't take (written under other
// limits, here 1000 emoji against --max-text 100, also over max_frame) is
// marked as not sent and never put on the wire: sent, it would close the
// connection (1009), and the page would send it again after every
// reconnect.
func TestBrowserOutboxHonoursLimits(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.MaxText = 100 })
	b := newBrowser(t)
	alice := b.newPage("alice")
	alice.tapSockets()
	alice.signInAsGuest(s, "alice")

	long := strings.Repeat("😀", 1000)
	alice.eval(`localStorage.setItem("parley.pending", JSON.stringify({"n-long": {nonce: "n-long", room: "lobby", text: `+js(long)+`, created: Date.now()}})), true`, nil)
	alice.open(chatURL(s)) // a reload finds it in the outbox
	alice.connected()
	alice.waitFor("the long message marked as not sent", `document.querySelector('#log li.msg.pending.failed[data-nonce="n-long"] .status')?.textContent.startsWith("Not sent: too long")`,
		`JSON.stringify([document.querySelector("#log li.msg.pending .status")?.textContent, window.__tap.sockets.length, window.__tap.sockets.map((s) => s.closeCode)])`)
	var actions []string
	alice.eval(`[...document.querySelectorAll('#log li.msg.pending.failed .actions button')].map((b) => b.textContent)`, &actions)
	if !slices.Equal(actions, []string{"Retry", "Discard"}) {
		t.Errorf("the failed message offers %q, want Retry and Discard", actions)
	}

	// The connection stays, and what comes after goes out.
	alice.say("a short one")
	alice.waitMessage("alice", "a short one")
	var sockets []struct {
		Sends     []int `json:"sends"`
		CloseCode *int  `json:"closeCode"`
	}
	alice.eval(`window.__tap.sockets.map((s) => ({sends: s.sent.map((d) => JSON.parse(d)).filter((f) => f.type === "send").map((f) => [...f.text].length), closeCode: s.closeCode}))`, &sockets)
	if len(sockets) != 1 || sockets[0].CloseCode != nil || !slices.Equal(sockets[0].Sends, []int{len("a short one")}) {
		t.Errorf("since the reload the page had sockets %+v; want one, still open, that sent only the short message (%d characters)", sockets, len("a short one"))
	}

	alice.click(`#log li.msg.pending.failed .actions button.danger`)
	alice.waitFor("the discarded message gone, from storage too", `!document.querySelector("#log li.msg.pending") && !localStorage.getItem("parley.pending")`,
		`localStorage.getItem("parley.pending")`)
}

// After the server closes the connection over what the page sent (1009:
// a frame over max_frame), the page waits longer before each reconnect,
// however well the connection in between started, and after a third such
// close in a row stops reconnecting until a person asks.
func TestBrowserNoReconnectLoopAfterTooBig(t *testing.T) {
	// max_frame 2224 bytes. A frame a little over it reaches the server
	// whole, which then closes with 1009; one far over it may still be on
	// its way when the server hangs up, and the page sees only a 1006.
	s := startServer(t, func(c *serveConfig) { c.MaxText = 100 })
	b := newBrowser(t)
	alice := b.newPage("alice")
	alice.tapSockets()
	alice.signInAsGuest(s, "alice")

	// A frame over max_frame, as a page with a bug would send it.
	tooBig := `(() => { window.__tap.sockets.at(-1).send("x".repeat(3000)); return true; })()`
	retryIn := `(() => { const m = /Reconnecting in (\d+) s/.exec(document.querySelector("#conn-text").textContent); return m ? Number(m[1]) : 0; })()`
	for n := 1; n <= 2; n++ {
		alice.eval(tooBig, nil)
		alice.waitFor(fmt.Sprintf("the socket closed with 1009 (%d)", n), `window.__tap.sockets[`+js(n-1)+`].closeCode === 1009`, `window.__tap.sockets[`+js(n-1)+`].closeCode`)
		// At once after a welcome the wait would be half a second: the page
		// would be back and sending the same again within the second.
		alice.waitFor(fmt.Sprintf("a wait of seconds before reconnect %d", n), `document.querySelector("#conn-banner").dataset.state === "reconnecting" && `+retryIn+` >= 2`,
			`document.querySelector("#conn-text").textContent`)
		// A person doesn't wait: Retry now.
		alice.eval(`document.querySelector("#conn-retry").click(), true`, nil)
		alice.waitFor(fmt.Sprintf("socket %d", n+1), `window.__tap.sockets.length === `+js(n+1)+` && window.__tap.sockets[`+js(n)+`].readyState === 1`, `window.__tap.sockets.length`)
		alice.connected()
	}
	alice.eval(tooBig, nil)
	alice.waitFor("the page to stop reconnecting by itself", `document.querySelector("#conn-banner").dataset.state === "stopped" &&
		!document.querySelector("#conn-retry").hidden && document.querySelector("#conn-text").textContent.includes("1009")`,
		`document.querySelector("#conn-banner").dataset.state + ": " + document.querySelector("#conn-text").textContent`)
	alice.snapshot("stopped")
	var open int
	alice.eval(`window.__tap.sockets.filter((s) => s.readyState <= 1).length`, &open)
	if open != 0 {
		t.Errorf("%d sockets open or opening after the third 1009; want none until a person asks", open)
	}
	alice.click("#conn-retry")
	alice.connected()
	alice.say("back after Retry now")
	alice.waitMessage("alice", "back after Retry now")
}
