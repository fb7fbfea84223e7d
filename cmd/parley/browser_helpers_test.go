package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/parleychat/parley/auth"
)

// chromiumPath is where Debian's chromium package puts the browser;
// scripts/install-test-deps installs it.
const chromiumPath = "/usr/bin/chromium"

// browserWait bounds each wait for the page to show something. Generous:
// the machine has two cores, and a reconnect may be a few backoff steps
// away.
const browserWait = 20 * time.Second

// testBrowser is one headless Chromium, started fresh for a test with its
// own profile directory. Each user is a tab in a browser context of its
// own (like a separate incognito window), so cookies and localStorage are
// theirs alone.
type testBrowser struct {
	t     *testing.T
	ctx   context.Context
	mu    sync.Mutex
	pages []*testPage
}

func newBrowser(t *testing.T) *testBrowser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser tests need Chromium at %s (%v); install it with scripts/install-test-deps", chromiumPath, err)
	}
	profile := t.TempDir() // removed after the browser below has stopped
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root, where the sandbox won't start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		// Tabs in the background must keep their timers and sockets going:
		// two users chat from two tabs.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The first Do starts the browser; its context must have no deadline.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	b := &testBrowser{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Registered after the browser's cleanup, so it runs first: the pages
	// are still there to be photographed.
	t.Cleanup(b.afterTest)
	return b
}

// testPage is one user's tab.
type testPage struct {
	t      *testing.T
	name   string
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	errors  []string // uncaught exceptions in the page
	console []string // what the page logged, shown when a test fails
	done    chan struct{}
}

// initScript runs in every document of a page before the page's own
// scripts, outside the CSP (DevTools injects it). It records anything an
// XSS payload could do if it ever ran: dialogs, a __xss flag, and CSP
// violations (which would mean markup got into the page and was stopped
// only by the policy).
const initScript = `(() => {
  const hits = [];
  Object.defineProperty(window, "__xssHits", { value: hits });
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    const real = window[name];
    window[name] = function (...args) {
      if (window.__allowDialogs && name === "confirm") return true;
      hits.push(name + "(" + args.map(String).join(",") + ")");
      return name === "confirm" ? false : undefined;
    };
  }
  let flag;
  Object.defineProperty(window, "__xss", {
    get() { return flag; },
    set(v) { flag = v; hits.push("__xss=" + String(v)); },
  });
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || ""));
  });
})();`

// tapScript stands between the page and the network, for tests that play
// the network's part. It wraps WebSocket: every socket the page opens is in
// window.__tap.sockets, with the frames the page sent on it (sent) and the
// code it closed with (closeCode); a frame for which window.__tap.hold(frame,
// socket) is true never reaches the page but goes to window.__tap.held, as a
// frame still on its way would. Like initScript it runs before the page's
// own scripts, outside the CSP.
const tapScript = `(() => {
  const Real = window.WebSocket;
  const tap = { sockets: [], held: [], hold: null };
  Object.defineProperty(window, "__tap", { value: tap });
  class Tapped extends Real {
    constructor(...args) {
      super(...args);
      this.sent = [];
      this.closeCode = null;
      tap.sockets.push(this);
      // The page reads frames through onmessage: keep its handler and call
      // it only for the frames that are let through.
      let handler = null;
      Object.defineProperty(this, "onmessage", { get: () => handler, set: (fn) => { handler = fn; } });
      this.addEventListener("message", (e) => {
        let f = null;
        try { f = JSON.parse(e.data); } catch { /* not JSON: let it through */ }
        if (f && tap.hold && tap.hold(f, this)) {
          tap.held.push(f);
          return;
        }
        if (handler) handler.call(this, e);
      });
      this.addEventListener("close", (e) => { this.closeCode = e.code; });
    }
    send(data) {
      this.sent.push(data);
      super.send(data);
    }
  }
  window.WebSocket = Tapped;
})();`

// tapSockets puts tapScript in every document p opens from now on; call it
// before opening the page.
func (p *testPage) tapSockets() {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: tapScript}); err != nil {
		p.t.Fatalf("tapping %s's sockets: %v", p.name, err)
	}
}

// newPage opens a tab for user name, in a new browser context.
func (b *testBrowser) newPage(name string) *testPage {
	t := b.t
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("opening a tab for %s: %v", name, err)
	}
	p := &testPage{t: t, name: name, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: initScript}); err != nil {
		t.Fatalf("preparing %s's tab: %v", name, err)
	}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.errors = append(p.errors, exceptionText(ev.ExceptionDetails))
			p.mu.Unlock()
		}
	})
	wg.Go(func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			p.mu.Lock()
			p.console = append(p.console, string(ev.Type)+": "+strings.Join(parts, " "))
			p.mu.Unlock()
		}
	})
	go func() {
		wg.Wait()
		close(p.done)
	}()
	b.mu.Lock()
	b.pages = append(b.pages, p)
	b.mu.Unlock()
	return p
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "unknown exception"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", s, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

// afterTest fails the test on any uncaught exception in a page, and when
// the test failed saves a screenshot of every page for the person
// debugging it.
func (b *testBrowser) afterTest() {
	t := b.t
	b.mu.Lock()
	pages := b.pages
	b.mu.Unlock()
	for _, p := range pages {
		p.mu.Lock()
		errs := p.errors
		p.mu.Unlock()
		for _, e := range errs {
			t.Errorf("%s's page threw: %s", p.name, e)
		}
	}
	if t.Failed() {
		dir := screenshotDir(t)
		for _, p := range pages {
			p.mu.Lock()
			console := p.console
			p.mu.Unlock()
			if len(console) > 0 {
				t.Logf("%s's console:\n  %s", p.name, strings.Join(console, "\n  "))
			}
			if path, err := p.saveScreenshot(dir, "failed"); err != nil {
				t.Logf("no screenshot of %s's page: %v", p.name, err)
			} else {
				t.Logf("screenshot of %s's page: %s", p.name, path)
			}
		}
	}
	for _, p := range pages {
		p.cancel()
		<-p.done
	}
}

// screenshotDir is $PARLEY_SCREENSHOTS/TestName, or else a new directory
// in the system's temporary directory: t.TempDir would be removed as the
// test ends, taking the screenshots with it.
func screenshotDir(t *testing.T) string {
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	if root := os.Getenv("PARLEY_SCREENSHOTS"); root != "" {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err == nil {
			return dir
		}
	}
	dir, err := os.MkdirTemp("", "parley-screenshots-"+name+"-")
	if err != nil {
		return os.TempDir()
	}
	return dir
}

func (p *testPage) saveScreenshot(dir, label string) (string, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.png", p.name, label))
	return path, os.WriteFile(path, png, 0o644)
}

// snapshot saves a screenshot named label when $PARLEY_SCREENSHOTS is set,
// for a person checking how the page looks; otherwise it does nothing.
func (p *testPage) snapshot(label string) {
	if os.Getenv("PARLEY_SCREENSHOTS") == "" {
		return
	}
	if _, err := p.saveScreenshot(screenshotDir(p.t), label); err != nil {
		p.t.Logf("snapshot %s: %v", label, err)
	}
}

// do runs browser actions, failing the test after browserWait.
func (p *testPage) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value
// into out (nil to ignore it).
func (p *testPage) eval(expr string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		p.t.Fatalf("%s: evaluating %s: %v", p.name, abbreviate(expr), err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s: decoding %s from %s: %v", p.name, raw, abbreviate(expr), err)
		}
	}
}

// waitFor polls a JavaScript expression until it is truthy, failing with
// what after browserWait. describe, when not empty, is an expression whose
// value is logged on failure, to say what the page showed instead.
func (p *testPage) waitFor(what, expr, describe string) {
	p.t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var shown any = "(nothing asked)"
			if describe != "" {
				ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
				v, derr := chromedp.Run(ctx, chromedp.Evaluate[[]byte](describe))
				cancel()
				shown = string(v)
				if derr != nil {
					shown = derr.Error()
				}
			}
			p.t.Fatalf("%s: waited %s for %s (last error: %v); the page shows: %s", p.name, browserWait, what, err, shown)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func abbreviate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// js quotes v as a JavaScript literal (JSON is a subset).
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// open loads url and waits for the page's scripts to have run.
func (p *testPage) open(url string) {
	p.t.Helper()
	p.do("opening "+url, chromedp.Navigate(url))
	p.waitFor("the page to load", `document.readyState === "complete"`, `document.readyState`)
}

func (p *testPage) click(sel string) {
	p.t.Helper()
	p.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto types text into the element as keystrokes ("\n" is Enter).
func (p *testPage) typeInto(sel, text string) {
	p.t.Helper()
	p.do("typing into "+sel, chromedp.Focus(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// setField replaces an input's value at once, as a paste would, and tells
// the page (an input event).
func (p *testPage) setField(sel, value string) {
	p.t.Helper()
	p.eval(`(() => { const e = document.querySelector(`+js(sel)+`); e.focus(); e.value = `+js(value)+`;
		e.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, nil)
}

// ---- Parley's page, as a person uses it

// chatURL is the page of the Parley server s.
func chatURL(s *testServer) string { return "http://" + s.addr + "/" }

// connected waits until the page says it is connected and has joined the
// room on screen.
func (p *testPage) connected() {
	p.t.Helper()
	p.waitFor("the page to connect", `document.querySelector("#conn-banner").dataset.state === "connected" &&
		document.querySelector("#composer-input") && !document.querySelector("#app").hidden`,
		`document.querySelector("#conn-banner")?.textContent`)
}

// signInAsGuest opens Parley's page and continues as a guest named name.
func (p *testPage) signInAsGuest(s *testServer, name string) {
	p.t.Helper()
	p.open(chatURL(s))
	p.waitFor("the sign-in screen", `!document.querySelector("#auth").hidden`, `document.body.innerText`)
	p.typeInto("#guest-name", name)
	p.click("#guest-submit")
	p.connected()
	p.waitFor("the welcome", `document.querySelector(".me-name").textContent === `+js(name), `document.querySelector(".me-name").textContent`)
}

// register opens Parley's page and creates an account.
func (p *testPage) register(s *testServer, name, password string) {
	p.t.Helper()
	p.open(chatURL(s))
	p.waitFor("the sign-in screen", `!document.querySelector("#auth").hidden`, `document.body.innerText`)
	p.typeInto("#signin-name", name)
	p.typeInto("#signin-password", password)
	p.click("#register-submit")
	p.connected()
	p.waitFor("the welcome", `document.querySelector(".me-name").textContent === `+js(name), `document.querySelector(".me-name").textContent`)
}

// say types text in the composer and presses Enter.
func (p *testPage) say(text string) {
	p.t.Helper()
	p.typeInto("#composer-input", text)
	p.pressEnter("#composer-input")
}

// pressEnter presses Enter in the element as a keyboard does: keydown and
// keyup. (chromedp's SendKeys "\n" adds a char event that inserts a line
// break even when the page cancels the keydown, as the page does to send.)
func (p *testPage) pressEnter(sel string) {
	p.t.Helper()
	enter := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	p.do("pressing Enter in "+sel, chromedp.Focus(chromedp.CSS(sel)), enter)
}

// openRoom clicks the room's entry in the sidebar.
func (p *testPage) openRoom(room string) {
	p.t.Helper()
	p.click(`.room-link[data-room="` + room + `"]`)
	p.waitFor("room "+room+" on screen", `document.querySelector('.room-link[aria-current="page"]')?.dataset.room === `+js(room), `document.querySelector('.room-link[aria-current="page"]')?.dataset.room`)
}

// joinRoom uses the "Join or create a room" dialog.
func (p *testPage) joinRoom(room string) {
	p.t.Helper()
	p.click("#new-room")
	// Enter in the field submits, as a keyboard user expects. (In an input
	// it is the key's char event that submits, which SendKeys sends.)
	p.typeInto("#room-name", room+"\n")
	p.waitFor("room "+room+" on screen", `document.querySelector('.room-link[aria-current="page"]')?.dataset.room === `+js(room), `document.querySelector("#room-error").textContent`)
	p.waitFor("room "+room+" joined", `document.querySelector("#room-title").textContent.includes(`+js(room)+`)`, "")
}

// shownMessage is a confirmed message as the page shows it.
type shownMessage struct {
	Seq  int64  `json:"seq"`
	From string `json:"from"`
	Text string `json:"text"`
}

// messages returns the confirmed messages of the room on screen, in page
// order.
func (p *testPage) messages() []shownMessage {
	p.t.Helper()
	var out []shownMessage
	p.eval(`[...document.querySelectorAll("#log li.msg:not(.pending)")].map((li) => ({
		seq: Number(li.dataset.seq), from: li.querySelector(".from").textContent, text: li.querySelector(".content").textContent }))`, &out)
	return out
}

// waitMessage waits until the room on screen shows a confirmed message
// with exactly text, from from (any sender when from is "").
func (p *testPage) waitMessage(from, text string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("message %q from %q", text, from), `[...document.querySelectorAll("#log li.msg:not(.pending)")].some((li) =>
		li.querySelector(".content").textContent === `+js(text)+` && (`+js(from)+` === "" || li.querySelector(".from").textContent === `+js(from)+`))`,
		`[...document.querySelectorAll("#log li.msg")].slice(-8).map((li) => li.className + " " + li.querySelector(".from").textContent + ": " + li.querySelector(".content").textContent)`)
}

// ---- servers

// startServerAt is startServer on a chosen address, for a restart on the
// same port: the page reconnects to the address it was loaded from.
func startServerAt(tb testing.TB, addr string, c serveConfig) *testServer {
	tb.Helper()
	if err := c.validate(); err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := newApp(c, log)
	if err != nil {
		tb.Fatal(err)
	}
	var ln net.Listener
	// The old listener is closed, but give the kernel a moment if the port
	// is still settling.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		a.close()
		tb.Fatalf("listening again on %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{app: a, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.run(ctx, ln) }()
	tb.Cleanup(func() { s.stop(tb) })
	return s
}

// restart stops s as SIGTERM would and starts a new server on the same
// address with the same configuration and data directory.
func restart(tb testing.TB, s *testServer) *testServer {
	tb.Helper()
	s.stop(tb)
	return startServerAt(tb, s.addr, s.app.cfg)
}

// jwtSecret signs the test JWTs; --jwt-secret needs at least 32 bytes.
const jwtSecret = "browser-tests-secret-0123456789abcdef"

// mintJWT returns a token for the JWT user sub with display name name
// (any characters, up to 64: unlike guests and accounts).
func mintJWT(tb testing.TB, sub, name string) string {
	tb.Helper()
	v, err := auth.NewJWTVerifier([]byte(jwtSecret), nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	token, err := v.Sign(sub, name, nil, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return token
}
