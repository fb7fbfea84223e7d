// The one WebSocket to /ws, speaking parley.v1. It owns reconnecting (with
// exponential backoff and jitter, and at once when the browser comes back
// online or the tab becomes visible), the heartbeat (browsers can't see
// WebSocket pings, so the protocol's own ping/pong tells a dead socket
// from a quiet one), and matching replies to requests by id. What the
// frames mean is the other modules' business: they get every frame.

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;
const FAILED_OPENS_BEFORE_PROBE = 3;
const REQUEST_TIMEOUT_MS = 15000;
const PROBE_MS = 5000;

export const conn = {
  ws: null,
  open: false, // welcome received: requests may go out
  me: null, // {id, name} from the last welcome
  limits: { max_text: 1024 },
  heartbeatMs: 25000,
  state: "idle", // idle, connecting, connected, reconnecting, offline
  retryAt: 0,
};

let credential = null; // {token} | {name} | {cookie: true}
let handlers = {};
let attempt = 0; // reconnects since the last welcome, for the backoff
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
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
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

export function send(frame) {
  if (!conn.open || conn.ws?.readyState !== WebSocket.OPEN) return false;
  conn.ws.send(JSON.stringify(frame));
  lastSent = Date.now();
  return true;
}

// request sends frame with a fresh id and resolves with the reply carrying
// it, or rejects with the error frame ({code, message}).
export function request(frame) {
  const id = "r" + ++nextId;
  return new Promise((resolve, reject) => {
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
