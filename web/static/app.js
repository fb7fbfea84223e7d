// Parley's chat page: one room, the parley.v1 protocol over /ws, no build
// step. User-supplied strings (names, texts) reach the DOM only through
// textContent, so nothing a user types can become markup.

const ROOM = "lobby";
const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/; // parley.ValidateUserName's rule
const KEY = { token: "parley.token", name: "parley.name", pending: "parley.pending" };
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const TYPING_SHOW_MS = 3000; // how long "x is typing…" stays without news
const TYPING_SEND_MS = 2000; // at most one typing frame per this interval
const FAILED_OPENS_BEFORE_PROBE = 3;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), signOut: $("sign-out"),
  signin: $("signin"), nameForm: $("name-form"), nameInput: $("name-input"), nameError: $("name-error"),
  chat: $("chat"), messages: $("messages"), typing: $("typing"),
  composer: $("composer"), input: $("message-input"), send: $("send-button"), counter: $("counter"),
  online: $("online"), onlineCount: $("online-count"),
};

// One socket at a time; conn.ws is null while waiting to reconnect.
const conn = {
  ws: null,
  me: null, // {id, name} from the last welcome
  joined: false, // the lobby is joined on this socket, so sends may go out
  heartbeatMs: 25000,
  maxText: 1024,
  lastRecv: 0, lastSent: 0, lastPing: 0,
  attempt: 0, // reconnects since the last join, for the backoff
  failedOpens: 0, // sockets in a row that closed before opening
  refused: false, // the server is up yet refuses the upgrade
  retryAt: 0, retryTimer: 0,
  lastTyping: 0,
  inFlight: null, // nonce of the one send awaiting its ack
};

// What the page shows of the room.
const room = {
  lastSeq: 0, // highest seq shown; a rejoin asks for what came after it
  bySeq: new Map(), // seq → li
  pending: new Map(), // nonce → {li, msg}, oldest first, not yet acknowledged
  online: new Map(), // user id → user
  typing: new Map(), // user id → {name, timer}
};

// ---- storage: failures are ignored, the page still works for this visit

function load(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}

function save(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch { /* full or blocked storage */ }
}

function loadPending() {
  try { return JSON.parse(load(KEY.pending)) || {}; } catch { return {}; }
}

// Read-modify-write so another tab's pending messages survive.
function updatePending(change) {
  const all = loadPending();
  change(all);
  save(KEY.pending, Object.keys(all).length ? JSON.stringify(all) : null);
}

// crypto.randomUUID exists only in secure contexts; a LAN server on plain
// http is not one, but getRandomValues works everywhere.
function newNonce() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- connection

function connect() {
  clearTimeout(conn.retryTimer);
  conn.retryAt = 0;
  if (conn.ws) return;
  const token = load(KEY.token);
  const name = load(KEY.name);
  if (!token && !NAME_RE.test(name || "")) return showSignin();
  const query = token ? "token=" + encodeURIComponent(token) : "name=" + encodeURIComponent(name);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws?${query}`, "parley.v1");
  let opened = false;
  conn.ws = ws;
  conn.joined = false;
  conn.lastRecv = conn.lastSent = conn.lastPing = Date.now();
  setStatus("connecting", "Connecting…");
  // A replaced socket's late events must not touch the current one.
  ws.onopen = () => { opened = true; };
  ws.onmessage = (e) => { if (conn.ws === ws) onFrame(e.data); };
  ws.onclose = (e) => { if (conn.ws === ws) onClose(e.code, opened); };
  // An error means the socket is done (1006); not every implementation
  // follows a failed handshake with a close event, so don't wait for one.
  ws.onerror = () => {
    if (conn.ws !== ws) return;
    dropSocket();
    onClose(1006, opened);
  };
}

// Drop the socket without waiting for a closing handshake that a dead
// network would never finish.
function dropSocket(code, reason) {
  const ws = conn.ws;
  if (!ws) return;
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  conn.ws = null;
  conn.joined = false;
  conn.inFlight = null;
  ws.close(code, reason);
}

function onClose(code, opened) {
  conn.ws = null;
  conn.joined = false;
  conn.inFlight = null; // its ack, if any, went down with the socket
  clearTypingAll();
  // 4001: the guest token expired; come back as a new guest of that name.
  if (code === 4001) save(KEY.token, null);
  conn.failedOpens = opened ? 0 : conn.failedOpens + 1;
  if (conn.failedOpens === FAILED_OPENS_BEFORE_PROBE) probeServer();
  scheduleReconnect();
}

function scheduleReconnect() {
  clearTimeout(conn.retryTimer);
  if (!navigator.onLine) {
    conn.retryAt = 0;
    setStatus("offline", "Offline: waiting for the network");
    return;
  }
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** conn.attempt);
  conn.attempt++;
  // Jitter spreads out the clients of a restarted server.
  const delay = base / 2 + (Math.random() * base) / 2;
  conn.retryAt = Date.now() + delay;
  conn.retryTimer = setTimeout(connect, delay);
  showCountdown();
}

function reconnectNow() {
  if (ui.chat.hidden) return; // not signed in
  if (conn.ws) checkHeartbeat(Date.now());
  else connect();
}

// A refused upgrade looks like a network error to a page. If /healthz
// answers, the server is up and refuses this session (a stale token, say).
async function probeServer() {
  try {
    const res = await fetch("/healthz", { cache: "no-store" });
    conn.refused = res.ok;
  } catch { /* the server is down: plain reconnecting */ }
}

function sendFrame(frame) {
  if (conn.ws?.readyState !== WebSocket.OPEN) return false;
  conn.ws.send(JSON.stringify(frame));
  conn.lastSent = Date.now();
  return true;
}

// The server drops a client it has not heard from in two heartbeats, and a
// silent server may be gone: a ping settles both. No answer within another
// heartbeat means the socket is dead, whatever the browser thinks.
function checkHeartbeat(now) {
  const hb = conn.heartbeatMs;
  if (now - conn.lastRecv >= 2 * hb) {
    dropSocket(4000, "no heartbeat");
    onClose(4000, true);
    return;
  }
  const quiet = now - conn.lastRecv >= hb || now - conn.lastSent >= hb;
  if (quiet && now - conn.lastPing >= hb && sendFrame({ type: "ping" })) conn.lastPing = now;
}

function tick() {
  if (conn.ws) checkHeartbeat(Date.now());
  else if (conn.retryAt) showCountdown();
}

// ---- frames from the server

function onFrame(data) {
  conn.lastRecv = Date.now();
  let f;
  try { f = JSON.parse(data); } catch { return; }
  switch (f.type) {
    case "welcome": return onWelcome(f);
    case "joined": return onJoined(f);
    case "message": return onMessage(f);
    case "ack": return onAck(f);
    case "typing": return onTyping(f);
    case "presence": return onPresence(f);
    case "error": return onError(f);
    default: return; // pong, and frames a later protocol version may add
  }
}

function onWelcome(f) {
  conn.me = f.user;
  conn.heartbeatMs = (f.heartbeat_s || 25) * 1000;
  conn.maxText = f.limits?.max_text || conn.maxText;
  conn.refused = false;
  if (f.token) save(KEY.token, f.token);
  save(KEY.name, f.user.name); // the server may have picked "alice-2"
  updateComposer();
  join(room.lastSeq > 0 ? room.lastSeq : undefined);
}

// Without since the server replays the recent tail; with it, what was missed.
function join(since) {
  const frame = { type: "join", id: "join", room: ROOM };
  if (since !== undefined) frame.since = since;
  sendFrame(frame);
}

function onJoined(f) {
  if (f.room !== ROOM) return;
  if (f.head < room.lastSeq) {
    // The room's history is not the one shown (a reset server): start over.
    clearMessages();
    return join();
  }
  conn.joined = true;
  conn.attempt = 0; // reset only here: a socket that opens but cannot join still backs off
  setStatus("connected", `Connected as ${conn.me.name}`);
  room.online = new Map(f.online.map((u) => [u.id, u]));
  renderOnline();
  pump();
}

function onMessage(f) {
  if (f.room !== ROOM) return;
  clearTyping(f.from.id);
  const mine = f.from.id === conn.me?.id;
  // Nonces are unique per sender, so only my own message settles my copy.
  const pending = mine ? room.pending.get(f.nonce)?.li : undefined;
  const li = room.bySeq.get(f.seq) || pending || createMessage(f.nonce);
  fillMessage(li, f.from, f.text, new Date(f.ts), mine);
  if (pending) forgetPending(f.nonce);
  if (pending && pending !== li) pending.remove();
  settle(li, f.seq);
}

function onAck(f) {
  const li = room.pending.get(f.nonce)?.li;
  if (!li) return;
  forgetPending(f.nonce);
  const shown = room.bySeq.get(f.seq);
  if (shown && shown !== li) return li.remove(); // shown already, unmatched
  settle(li, f.seq);
}

// settle gives li its seq and places it among the confirmed messages.
function settle(li, seq) {
  li.classList.remove("pending");
  room.bySeq.set(seq, li);
  room.lastSeq = Math.max(room.lastSeq, seq);
  keepScrolled(() => placeBySeq(li, seq));
}

function forgetPending(nonce) {
  if (!room.pending.delete(nonce)) return;
  updatePending((all) => { delete all[nonce]; });
  if (conn.inFlight === nonce) conn.inFlight = null;
  pump();
}

function onTyping(f) {
  if (f.room !== ROOM || f.user.id === conn.me?.id) return;
  clearTimeout(room.typing.get(f.user.id)?.timer);
  const timer = setTimeout(() => clearTyping(f.user.id), TYPING_SHOW_MS);
  room.typing.set(f.user.id, { name: f.user.name, timer });
  renderTyping();
}

function onPresence(f) {
  if (f.room !== ROOM) return;
  if (f.event === "join") room.online.set(f.user.id, f.user);
  if (f.event === "leave") {
    room.online.delete(f.user.id);
    clearTyping(f.user.id);
  }
  renderOnline();
}

function onError(f) {
  if (f.id === "join") {
    // Nothing can be sent outside the room: try again on a new socket.
    dropSocket(1000, "join failed");
    onClose(1000, true);
    return;
  }
  const li = f.id && room.pending.get(f.id)?.li;
  if (!li) return console.warn("parley:", f.code, f.message);
  if (["rate_limited", "unavailable", "internal"].includes(f.code)) {
    // Worth another try with the same nonce, which the server dedupes;
    // the messages behind it wait, so the order holds.
    setTimeout(() => {
      if (conn.inFlight !== f.id) return;
      conn.inFlight = null;
      pump();
    }, f.retry_after_ms || 1000);
    return;
  }
  // bad_request, too_large, forbidden: sending again cannot help. The text
  // stays on screen so the words are not lost.
  li.classList.replace("pending", "failed");
  li.querySelector(".error").textContent = f.message;
  forgetPending(f.id);
}

// ---- sending

function submit() {
  const text = ui.input.value;
  if (!text.trim() || [...text].length > conn.maxText) return;
  const p = { nonce: newNonce(), room: ROOM, text, created: Date.now() };
  updatePending((all) => { all[p.nonce] = p; });
  showPending(p);
  ui.input.value = "";
  updateComposer();
  ui.messages.scrollTop = ui.messages.scrollHeight;
  pump();
}

// pump sends the oldest pending message once nothing else awaits an ack:
// one at a time keeps the order even when the server asks to slow down.
// After a reconnect it re-sends with the same nonce, which the server
// dedupes, so a message that did arrive is acknowledged, not stored twice.
function pump() {
  if (!conn.joined || conn.inFlight) return;
  const next = room.pending.values().next().value;
  if (!next) return;
  const { msg } = next;
  if (sendFrame({ type: "send", id: msg.nonce, room: msg.room, text: msg.text, nonce: msg.nonce })) {
    conn.inFlight = msg.nonce;
  }
}

function sortedPending() {
  return Object.values(loadPending())
    .filter((p) => p.room === ROOM)
    .sort((a, b) => a.created - b.created);
}

function showPending(p) {
  if (room.pending.has(p.nonce)) return;
  const li = createMessage(p.nonce);
  li.classList.add("pending");
  fillMessage(li, { name: load(KEY.name) || "you" }, p.text, new Date(p.created), true);
  room.pending.set(p.nonce, { li, msg: p });
  ui.messages.append(li); // pending messages stay below every confirmed one
}

function maybeSendTyping() {
  const now = Date.now();
  if (!conn.joined || !ui.input.value.trim() || now - conn.lastTyping < TYPING_SEND_MS) return;
  if (sendFrame({ type: "typing", room: ROOM })) conn.lastTyping = now;
}

// ---- rendering

function createMessage(nonce) {
  const li = document.createElement("li");
  li.className = "message";
  if (nonce) li.dataset.nonce = nonce;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.append(make("span", "from"), make("time", "time"), make("span", "error"));
  li.append(meta, make("p", "text"));
  return li;
}

function make(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

function fillMessage(li, from, text, date, mine) {
  li.classList.toggle("mine", mine);
  li.querySelector(".from").textContent = from.name;
  li.querySelector(".text").textContent = text;
  const time = li.querySelector(".time");
  if (isNaN(date)) return;
  time.dateTime = date.toISOString();
  time.title = date.toLocaleString();
  time.textContent = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

const pad = (n) => String(n).padStart(2, "0");

// New messages are nearly always the newest, so walk back from the end;
// pending ones (no seq yet) stay last.
function placeBySeq(li, seq) {
  li.dataset.seq = seq;
  let before = ui.messages.lastElementChild;
  while (before && (before === li || !before.dataset.seq || Number(before.dataset.seq) > seq)) {
    before = before.previousElementSibling;
  }
  ui.messages.insertBefore(li, before ? before.nextElementSibling : ui.messages.firstElementChild);
}

// Follow new messages only when the reader is already at the bottom.
function keepScrolled(change) {
  const list = ui.messages;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  change();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function clearMessages() {
  for (const li of room.bySeq.values()) li.remove();
  room.bySeq.clear();
  room.lastSeq = 0;
}

function renderOnline() {
  const users = [...room.online.values()].sort((a, b) => a.name.localeCompare(b.name));
  ui.online.replaceChildren(...users.map((u) => {
    const li = document.createElement("li");
    li.dataset.userId = u.id;
    li.textContent = u.id === conn.me?.id ? `${u.name} (you)` : u.name;
    return li;
  }));
  ui.onlineCount.textContent = `(${users.length})`;
}

function clearTyping(id) {
  const t = room.typing.get(id);
  if (!t) return;
  clearTimeout(t.timer);
  room.typing.delete(id);
  renderTyping();
}

function clearTypingAll() {
  for (const id of [...room.typing.keys()]) clearTyping(id);
}

function renderTyping() {
  const names = [...room.typing.values()].map((t) => t.name);
  let line = "";
  if (names.length === 1) line = `${names[0]} is typing…`;
  else if (names.length === 2) line = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) line = "Several people are typing…";
  ui.typing.textContent = line;
}

function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function showCountdown() {
  const s = Math.max(1, Math.ceil((conn.retryAt - Date.now()) / 1000));
  const hint = conn.refused ? " (the server refuses this session; try Change name)" : "";
  setStatus("reconnecting", `Reconnecting in ${s} s…${hint}`);
}

function updateComposer() {
  const used = [...ui.input.value].length;
  const over = used > conn.maxText;
  ui.counter.textContent = `${used}/${conn.maxText}`;
  ui.counter.classList.toggle("over", over);
  ui.input.setAttribute("aria-invalid", String(over));
  ui.send.disabled = over || !ui.input.value.trim();
}

// ---- signing in and out

function showSignin() {
  ui.chat.hidden = true;
  ui.signOut.hidden = true;
  ui.signin.hidden = false;
  setStatus("offline", "Not signed in");
  ui.nameInput.focus();
}

function showChat() {
  ui.signin.hidden = true;
  ui.chat.hidden = false;
  ui.signOut.hidden = false;
  for (const p of sortedPending()) showPending(p);
  updateComposer();
  connect();
}

function onNameSubmit(e) {
  e.preventDefault();
  const name = ui.nameInput.value.trim();
  if (!NAME_RE.test(name)) {
    ui.nameError.textContent = "Use 1–32 letters, digits, or _ . - (no spaces).";
    ui.nameInput.setAttribute("aria-invalid", "true");
    return;
  }
  ui.nameError.textContent = "";
  ui.nameInput.removeAttribute("aria-invalid");
  save(KEY.token, null);
  save(KEY.name, name);
  showChat();
  ui.input.focus();
}

function signOut() {
  const unsent = sortedPending().length;
  if (unsent && !window.confirm(`${unsent} unsent message(s) will be discarded. Change name anyway?`)) return;
  save(KEY.token, null);
  save(KEY.name, null);
  save(KEY.pending, null);
  dropSocket(1000, "signed out");
  clearTimeout(conn.retryTimer);
  Object.assign(conn, { me: null, inFlight: null, attempt: 0, failedOpens: 0, refused: false, retryAt: 0 });
  clearTypingAll();
  clearMessages();
  room.pending.clear();
  room.online.clear();
  ui.messages.replaceChildren();
  renderOnline();
  showSignin();
}

// ---- wiring

function onKeyDown(e) {
  // Enter sends, Shift+Enter is a newline; an IME composing text owns Enter.
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submit();
  }
}

function start() {
  ui.nameForm.addEventListener("submit", onNameSubmit);
  ui.signOut.addEventListener("click", signOut);
  ui.composer.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  ui.input.addEventListener("keydown", onKeyDown);
  ui.input.addEventListener("input", () => { updateComposer(); maybeSendTyping(); });
  window.addEventListener("online", reconnectNow);
  window.addEventListener("offline", () => { if (!conn.ws) scheduleReconnect(); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) reconnectNow(); });
  setInterval(tick, 1000);
  if (load(KEY.token) || load(KEY.name)) showChat();
  else showSignin();
}

start();
