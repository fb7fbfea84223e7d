// The one WebSocket to /ws, speaking parley.v1. It owns reconnecting (with
// exponential backoff and jitter, and at once when the browser comes back
// online or the tab becomes visible), the heartbeat (browsers can't see
// WebSocket pings, so the protocol's own ping/pong tells a dead socket
// from a quiet one), matching replies to requests by id, and never sending
// a frame over the server's max_frame. What the frames mean is the other
// modules' business: they get every frame.

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;
const FAILED_OPENS_BEFORE_PROBE = 3;
const REQUEST_TIMEOUT_MS = 15000;
const PROBE_MS = 5000;
// Closes over what the page sent (docs/protocol.md, close codes): broken
// framing (1002), binary data (1003), invalid UTF-8 (1007), a frame over
// max_frame (1009). The page would likely send the same again, so these
// must not become a reconnect loop.
const FAULT_CLOSES = new Set([1002, 1003, 1007, 1009]);
const CLOSE_RATE_LIMITED = 4029; // "slow down; reconnect after a pause"
// Each such close in a row (a strike) waits at least 2^(STRIKE_STEPS +
// strikes) backoff steps: 4-8 s after the first, 8-16 s after the second.
const STRIKE_STEPS = 3;
// After this many fault closes in a row the page stops reconnecting until
// a person asks (Retry now, the tab shown again, back online).
const FAULTS_BEFORE_STOP = 3;
// A close after a connection that lasted this long is no loop: it starts a
// new run of strikes.
const STEADY_MS = 60000;

export const conn = {
  ws: null,
  open: false, // welcome received: requests may go out
  me: null, // {id, name} from the last welcome
  limits: { max_text: 1024 },
  heartbeatMs: 25000,
  state: "idle", // idle, connecting, connected, reconnecting, offline, stopped
  retryAt: 0,
  closeCode: 0, // why the last socket ended, for the banner
};

let credential = null; // {token} | {name} | {cookie: true}
let handlers = {};
let attempt = 0; // reconnects since the last welcome, for the backoff
// Closes in a row over what the page sent, or for sending too fast. A
// welcome doesn't reset them: the trouble starts after it, when the page
// sends again what the server closed the last connection over.
let strikes = 0;
let welcomedAt = 0; // when the current socket's welcome came; 0 before it
let failedOpens = 0; // sockets in a row that closed before opening
let retryTimer = 0;
let lastRecv = 0, lastSent = 0, lastPing = 0;
let probeDeadline = 0; // an eager ping's pong is due by then
let nextId = 0;
const waiting = new Map(); // request id → {resolve, reject, timer}

// configure sets the callbacks: frame(f) for every frame, welcome(f),
// closed() when a socket ends, status(state), refused() when the server is
// up but keeps refusing the upgrade (a stale credential, or no guests).
export function configure(h) { handlers = h; }

export function start(cred) {
  credential = cred;
  attempt = 0;
  strikes = 0;
  failedOpens = 0;
  connect();
}

// setCredential swaps the credential for the next connection: a new
// guest's name becomes the token its welcome gave, so a reconnect is the
// same user (the nonce rule depends on it) and not a second guest.
export function setCredential(cred) { credential = cred; }

export function stop() {
  credential = null;
  clearTimeout(retryTimer);
  drop(1000, "signed out");
  setState("idle");
}

function url() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let query = "";
  // With an account the HttpOnly session cookie rides along by itself; a
  // ?token= would win over it, so none is sent.
  if (credential.token) query = "?token=" + encodeURIComponent(credential.token);
  else if (credential.name) query = "?name=" + encodeURIComponent(credential.name);
  return `${scheme}//${location.host}/ws${query}`;
}

function connect() {
  clearTimeout(retryTimer);
  conn.retryAt = 0;
  if (conn.ws || !credential) return;
  const ws = new WebSocket(url(), "parley.v1");
  let opened = false;
  conn.ws = ws;
  welcomedAt = 0;
  lastRecv = lastSent = lastPing = Date.now();
  setState(attempt ? "reconnecting" : "connecting");
  // A replaced socket's late events must not touch the current one.
  ws.onopen = () => { opened = true; };
  ws.onmessage = (e) => { if (conn.ws === ws) onMessage(e.data); };
  ws.onclose = (e) => { if (conn.ws === ws) closed(e.code, opened); };
  // An error means the socket is done; not every browser follows a failed
  // handshake with a close event, so don't wait for one.
  ws.onerror = () => {
    if (conn.ws !== ws) return;
    drop();
    closed(1006, opened);
  };
}

// drop lets go of the socket without waiting for a closing handshake that a
// dead network would never finish.
function drop(code, reason) {
  const ws = conn.ws;
  if (!ws) return;
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  conn.ws = null;
  conn.open = false;
  try { ws.close(code, reason); } catch { ws.close(); }
}

function closed(code, opened) {
  conn.ws = null;
  conn.open = false;
  for (const [id, w] of waiting) {
    clearTimeout(w.timer);
    w.reject({ code: "disconnected", message: "The connection dropped; try again." });
    waiting.delete(id);
  }
  conn.closeCode = code;
  handlers.closed?.(code);
  if (!credential) return;
  if (code === 4001) {
    // The credential ended (a JWT's exp, a session's expiry): reconnecting
    // with it can only fail.
    handlers.refused?.("expired");
    return;
  }
  failedOpens = opened ? 0 : failedOpens + 1;
  if (failedOpens >= FAILED_OPENS_BEFORE_PROBE && failedOpens % FAILED_OPENS_BEFORE_PROBE === 0) probe();
  const fault = FAULT_CLOSES.has(code);
  const struck = fault || code === CLOSE_RATE_LIMITED;
  if (welcomedAt && (!struck || Date.now() - welcomedAt >= STEADY_MS)) strikes = 0;
  welcomedAt = 0;
  if (struck) strikes++;
  if (fault && strikes >= FAULTS_BEFORE_STOP) {
    clearTimeout(retryTimer);
    conn.retryAt = 0;
    setState("stopped");
    return;
  }
  schedule();
}

// A refused upgrade looks like a network error to a page. If /healthz
// answers, the server is up and refuses this session.
async function probe() {
  try {
    const res = await fetch("/healthz", { cache: "no-store" });
    if (res.ok && !conn.open) handlers.refused?.("refused");
  } catch { /* the server is down: keep reconnecting */ }
}

function schedule() {
  clearTimeout(retryTimer);
  if (!navigator.onLine) {
    conn.retryAt = 0;
    setState("offline");
    return;
  }
  const steps = Math.max(attempt, strikes ? STRIKE_STEPS + strikes : 0);
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** steps);
  attempt++;
  // Jitter spreads out the clients of a restarted server.
  const delay = base / 2 + (Math.random() * base) / 2;
  conn.retryAt = Date.now() + delay;
  retryTimer = setTimeout(connect, delay);
  setState("reconnecting");
}

// reconnectNow skips the wait: the network or the tab is back, so the
// next attempt is likely to work and a person is looking.
export function reconnectNow() {
  if (!credential) return;
  if (conn.ws) return checkHeartbeat(Date.now(), true);
  attempt = Math.min(attempt, 1);
  connect();
}

function setState(state) {
  conn.state = state;
  handlers.status?.(state);
}

function onMessage(data) {
  lastRecv = Date.now();
  let f;
  try { f = JSON.parse(data); } catch { return; }
  if (!f || typeof f !== "object") return;
  if (f.type === "welcome") {
    conn.me = f.user;
    conn.limits = { ...conn.limits, ...f.limits };
    conn.heartbeatMs = (f.heartbeat_s || 25) * 1000;
    conn.open = true;
    attempt = 0;
    failedOpens = 0;
    welcomedAt = Date.now();
    setState("connected");
    handlers.welcome?.(f);
    return;
  }
  // A socket that was feared dead (the offline event) has spoken.
  if (conn.open && conn.state !== "connected") setState("connected");
  const w = f.id != null && waiting.get(f.id);
  if (w) {
    waiting.delete(f.id);
    clearTimeout(w.timer);
    if (f.type === "error") w.reject(f);
    else w.resolve(f);
  }
  handlers.frame?.(f);
}

// send reports whether frame went out: false when not connected, or when
// it is over max_frame (callers that may build one check fits first).
export function send(frame) {
  if (!conn.open || conn.ws?.readyState !== WebSocket.OPEN) return false;
  const data = JSON.stringify(frame);
  if (tooBig(data)) return false;
  conn.ws.send(data);
  lastSent = Date.now();
  return true;
}

// fits says whether frame is within the connection's max_frame bytes. The
// server closes the connection over a bigger one (1009), and a frame that
// is sent again after the reconnect would close that one too.
export function fits(frame) { return !tooBig(JSON.stringify(frame)); }

function tooBig(data) {
  const max = conn.limits.max_frame;
  // A UTF-16 code unit is at most three bytes of UTF-8: a short frame needs
  // no counting.
  return max > 0 && data.length * 3 > max && new TextEncoder().encode(data).length > max;
}

// request sends frame with a fresh id and resolves with the reply carrying
// it, or rejects with the error frame ({code, message}).
export function request(frame) {
  const id = "r" + ++nextId;
  return new Promise((resolve, reject) => {
    if (!fits({ ...frame, id })) {
      reject({ code: "too_large", message: "That is too long for the server; shorten it." });
      return;
    }
    if (!send({ ...frame, id })) {
      reject({ code: "disconnected", message: "Not connected right now; try again in a moment." });
      return;
    }
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject({ code: "timeout", message: "The server did not answer in time." });
    }, REQUEST_TIMEOUT_MS);
    waiting.set(id, { resolve, reject, timer });
  });
}

// checkHeartbeat: the server drops a client it has not heard from in two
// heartbeats, and a silent server may be gone. A ping settles both; no
// answer within another heartbeat means the socket is dead, whatever the
// browser thinks. eager pings at once (the tab just woke up).
function checkHeartbeat(now, eager) {
  if (!conn.ws) return;
  const hb = conn.heartbeatMs;
  const probeLost = probeDeadline && lastRecv < lastPing && now > probeDeadline;
  if (now - lastRecv >= 2 * hb || probeLost) {
    probeDeadline = 0;
    drop(4000, "no heartbeat");
    closed(4000, true);
    return;
  }
  if (lastRecv >= lastPing) probeDeadline = 0;
  const quiet = now - lastRecv >= hb || now - lastSent >= hb;
  if ((quiet || eager) && now - lastPing >= (eager ? 1000 : hb) && send({ type: "ping" })) {
    lastPing = now;
    // After a wake-up or a network change the socket may be dead without
    // knowing it: a pong must come back soon, not in two heartbeats.
    if (eager) probeDeadline = now + PROBE_MS;
  }
}

function tick() {
  const now = Date.now();
  if (conn.ws) checkHeartbeat(now, false);
  else if (conn.retryAt) handlers.status?.(conn.state);
}

window.addEventListener("online", reconnectNow);
window.addEventListener("offline", () => {
  // The socket may linger for a while on a dead network; say so now, and
  // find out whether it still works.
  if (!conn.ws) return schedule();
  setState("offline");
  checkHeartbeat(Date.now(), true);
});
document.addEventListener("visibilitychange", () => { if (!document.hidden) reconnectNow(); });
setInterval(tick, 1000);
