// The message log of each room: ordering by seq, grouping consecutive
// messages of one sender, day labels, the "new messages" divider, paging
// back through history as the reader scrolls up (keeping their place),
// edits, deletions and the per-message actions (mine: edit, delete; a
// moderator's: delete, mute, kick, ban).
//
// Each room keeps its own <ol>, so switching rooms keeps what was loaded
// and where the reader was. Elements are ordered by data-key: a message's
// seq; an event line after seq s has s + 0.5; the divider s + 0.25; the
// top edge -1. Pending messages (no seq yet) have no key and stay last.

import { $, el, linkify, avatar, clock, dayLabel, sameDay, toast } from "./ui.js";
import { state, remember } from "./state.js";
import { request } from "./conn.js";
import * as rooms from "./rooms.js";
import * as notify from "./notify.js";

const PAGE = 50;
const GROUP_MS = 5 * 60 * 1000; // a pause this long starts a new group
const NEAR_TOP_PX = 400; // start loading older messages this far from the top
const AT_BOTTOM_PX = 48;

const log = () => $("log");

export function listOf(room) {
  if (room.list) return room.list;
  const edge = el("li", { class: "edge", dataset: { key: -1 } });
  room.list = el("ol", { class: "messages", role: "log", "aria-live": "polite", "aria-label": `Messages in ${room.title}` }, edge);
  renderEdge(room);
  return room.list;
}

// The top of a room's log says whether there is more to load, and offers
// a button for those who don't scroll (keyboard and screen-reader users).
function renderEdge(room) {
  const edge = room.list?.firstElementChild;
  if (!edge) return;
  // The edge is above everything: keep what the reader sees in place while
  // it changes height.
  change(room, () => drawEdge(room, edge), true);
}

function drawEdge(room, edge) {
  if (room.loading) {
    edge.replaceChildren(el("span", null, el("span", { class: "spinner", "aria-hidden": "true" }), " Loading earlier messages…"));
  } else if (room.more && room.messages.size) {
    edge.replaceChildren(el("button", { type: "button", class: "link", onclick: () => loadOlder(room) }, "Load earlier messages"));
  } else if (!room.more) {
    const what = room.kind === "direct" ? `your conversation with ${room.label}` : room.title;
    edge.replaceChildren(el("strong", null, "This is the very beginning of " + what + "."));
    if (room.topic) edge.append(el("span", { class: "edge-topic" }, room.topic));
  } else {
    edge.replaceChildren();
  }
}

// ---- scrolling

export function atBottom() {
  const l = log();
  return l.scrollHeight - l.scrollTop - l.clientHeight < AT_BOTTOM_PX;
}

export function scrollToBottom() {
  const l = log();
  l.scrollTop = l.scrollHeight;
  const room = state.current;
  if (room) room.below = 0;
  renderJump();
}

// change runs fn on room's list, keeping what the reader sees still: at
// the bottom it follows new messages; above, it keeps its place, also when
// older messages are put on top.
function change(room, fn, prepend) {
  if (room !== state.current) return fn();
  const l = log();
  const bottom = atBottom();
  const fromBottom = l.scrollHeight - l.scrollTop;
  fn();
  if (prepend) l.scrollTop = l.scrollHeight - fromBottom;
  else if (bottom) l.scrollTop = l.scrollHeight;
}

export function onScroll() {
  const room = state.current;
  if (!room) return;
  if (log().scrollTop < NEAR_TOP_PX) loadOlder(room);
  if (atBottom()) {
    room.below = 0;
    rooms.markRead(room);
  }
  renderJump();
}

// renderJump shows "N new messages" when some arrived below the reader.
export function renderJump() {
  const room = state.current;
  const jump = $("jump");
  const n = room?.below || 0;
  jump.hidden = !room || atBottom();
  jump.textContent = n ? `${n} new message${n === 1 ? "" : "s"} ↓` : "Jump to latest ↓";
}

// ---- adding messages

function insert(list, li, key) {
  li.dataset.key = key;
  let node = list.lastElementChild;
  while (node && (node.dataset.key === undefined || Number(node.dataset.key) > key)) node = node.previousElementSibling;
  list.insertBefore(li, node ? node.nextElementSibling : list.firstElementChild);
}

function prevMessage(li) {
  let p = li.previousElementSibling;
  while (p && !p.classList.contains("msg")) p = p.previousElementSibling;
  return p;
}

function nextMessage(li) {
  let n = li.nextElementSibling;
  while (n && !n.classList.contains("msg")) n = n.nextElementSibling;
  return n;
}

// regroup decides whether li starts a new day and a new group: the same
// sender within five minutes, with nothing in between, is one group.
function regroup(li) {
  if (!li) return;
  const date = new Date(li.dataset.ts);
  const prev = prevMessage(li);
  const prevDate = prev && new Date(prev.dataset.ts);
  if (prev && sameDay(prevDate, date)) delete li.dataset.day;
  else li.dataset.day = dayLabel(date);
  const adjacent = li.previousElementSibling === prev;
  const cont = adjacent && prev.dataset.from === li.dataset.from && !li.dataset.day &&
    date - prevDate < GROUP_MS && !li.classList.contains("event");
  li.classList.toggle("cont", Boolean(cont));
}

function placed(li) {
  regroup(li);
  regroup(nextMessage(li));
}

// addMessage shows m in room once, whatever the path it came by (live,
// backlog, history page, or my own ack); a second copy of a seq only
// refreshes the first (a resume shows edits made meanwhile). live is true
// for messages that are news (not backlog or history): only those notify.
export function addMessage(room, m, live) {
  remember(m.from);
  if (room.kind === "direct" && m.from.id !== state.me?.id) rooms.setPeer(room, m.from);
  const known = room.messages.get(m.seq);
  if (known) {
    if (known.m.text !== m.text || known.m.ts !== m.ts || Boolean(known.m.deleted) !== Boolean(m.deleted) || known.m.edited_at !== m.edited_at) {
      known.m = { ...known.m, ...m };
      fill(room, known.li, known.m);
    }
    return false;
  }
  const li = messageNode(room, m);
  // An older message put above the reader (a gap being filled) must not
  // move what they are reading.
  const older = !live && m.seq < room.lastSeq;
  room.messages.set(m.seq, { m, li });
  room.lastSeq = Math.max(room.lastSeq, m.seq);
  if (!room.firstSeq || m.seq < room.firstSeq) room.firstSeq = m.seq;
  const list = listOf(room);
  change(room, () => {
    insert(list, li, m.seq);
    placed(li);
  }, older);
  if (m.seq === 1) {
    room.more = false;
    renderEdge(room);
  }
  const mine = m.from.id === state.me?.id;
  if (live && !mine) {
    rooms.stopTyping(room, m.from.id);
    if (room === state.current && !atBottom()) {
      room.below = (room.below || 0) + 1;
      renderJump();
    }
    notify.message(room, m);
  }
  if (mine && room === state.current && live) scrollToBottom();
  // The backlog is complete: mark where the news starts (what arrived
  // since my last visit, or while I was disconnected), and if it doesn't
  // fill the screen, get more.
  if (m.seq === room.head) {
    renderEdge(room);
    if (room === state.current) {
      if (room.markerSeq == null && room.unread > 0 && room.readSeq > 0) {
        placeMarker(room);
        scrollToMarker(room);
      }
      fillScreen(room);
    }
  }
  rooms.markRead(room);
  rooms.changed(room);
  return true;
}

// addPage puts a history page (ascending seqs, all older than what is
// shown) on top of the log in one go.
function addPage(room, msgs) {
  const list = listOf(room);
  change(room, () => {
    for (const m of msgs) {
      remember(m.from);
      if (room.messages.has(m.seq)) continue;
      const li = messageNode(room, m);
      room.messages.set(m.seq, { m, li });
      room.lastSeq = Math.max(room.lastSeq, m.seq);
      if (!room.firstSeq || m.seq < room.firstSeq) room.firstSeq = m.seq;
      if (m.seq === 1) room.more = false;
      insert(list, li, m.seq);
      placed(li);
    }
  }, true);
  rooms.changed(room);
}

// loadOlder fetches the page before the oldest message shown.
export async function loadOlder(room) {
  // While the join's backlog is still arriving the log is short and
  // scrolled to the top; wait for it rather than fetch what is coming.
  if (room.loading || !room.more || !room.joined || !room.firstSeq || room.lastSeq < room.head) return;
  room.loading = true;
  renderEdge(room);
  try {
    const page = await request({ type: "history", room: room.name, before: room.firstSeq, limit: PAGE });
    addPage(room, page.messages || []);
    room.more = Boolean(page.more);
  } catch (err) {
    if (err.code !== "disconnected") toast(err.message || "Could not load earlier messages.", "error");
  } finally {
    room.loading = false;
    renderEdge(room);
  }
  fillScreen(room);
}

// fillScreen loads older pages while the log has no scroll bar to pull.
function fillScreen(room) {
  if (room === state.current && room.more && log().scrollHeight <= log().clientHeight + NEAR_TOP_PX) loadOlder(room);
}

// fillGap pages back when a resume replayed less than was missed (the
// server replays at most max_replay): nothing may be missing. room.gap
// remembers what is still missing, so a gap a dropped connection
// interrupted is filled after the next join (rooms.onJoined).
export async function fillGap(room, since, first) {
  if (room.gap) since = Math.min(since, room.gap.since);
  room.gap = { since, before: Math.max(first, room.gap?.before ?? 0) };
  if (room.gap.filling) return;
  room.gap.filling = true;
  try {
    while (room.gap.before > room.gap.since + 1) {
      const page = await request({ type: "history", room: room.name, before: room.gap.before, limit: 200 });
      const msgs = (page.messages || []).filter((m) => m.seq > room.gap.since);
      for (const m of msgs) addMessage(room, m, false);
      if (!msgs.length || !page.more) break;
      room.gap.before = msgs[0].seq;
    }
    room.gap = null;
  } catch {
    if (room.gap) room.gap.filling = false; // disconnected: the next join goes on
  }
}

// ---- the elements

function messageNode(room, m) {
  const li = el("li", { class: "msg", tabindex: "-1" });
  fill(room, li, m);
  return li;
}

// fill (re)draws li for m; all of m's strings go in as text.
function fill(room, li, m) {
  const date = new Date(m.ts);
  const mine = m.from.id === state.me?.id;
  li.dataset.from = m.from.id;
  li.dataset.ts = isNaN(date) ? new Date().toISOString() : date.toISOString();
  if (m.seq) li.dataset.seq = m.seq;
  if (m.nonce) li.dataset.nonce = m.nonce;
  li.classList.toggle("mine", mine);
  li.classList.toggle("deleted", Boolean(m.deleted));
  li.classList.toggle("mention", !mine && !m.deleted && mentionsMe(m.text));
  const time = el("time", { class: "time", datetime: li.dataset.ts, title: date.toLocaleString() }, clock(date));
  const text = el("p", { class: "text" });
  if (m.deleted) {
    text.append(el("span", { class: "content" }, "This message was deleted."));
  } else {
    text.append(el("span", { class: "content" }, ...linkify(m.text)));
    if (m.edited_at) text.append(" ", el("span", { class: "edited", title: new Date(m.edited_at).toLocaleString() }, "(edited)"));
  }
  const status = el("span", { class: "status", "aria-live": "polite" });
  li.replaceChildren(
    avatar(m.from),
    el("time", { class: "gutter-time", datetime: li.dataset.ts, "aria-hidden": "true" }, clock(date)),
    el("div", { class: "body" },
      el("div", { class: "meta" }, el("span", { class: "from" }, m.from.name), time, status),
      text),
    actions(room, m),
  );
}

export function mentionsMe(text) {
  const name = state.me?.name;
  if (!name || !text) return false;
  const at = "@" + name.toLowerCase();
  const t = text.toLowerCase();
  for (let i = t.indexOf(at); i >= 0; i = t.indexOf(at, i + 1)) {
    const after = t[i + at.length];
    if (after === undefined || !/[\p{L}\p{N}_.-]/u.test(after)) return true;
  }
  return false;
}

function actions(room, m) {
  if (m.pending || m.deleted || !m.seq) return el("div", { class: "actions" });
  const mine = m.from.id === state.me?.id;
  const who = m.from.name;
  const buttons = [];
  const btn = (label, aria, fn, danger) =>
    el("button", { type: "button", class: danger ? "danger" : null, "aria-label": aria, title: aria, onclick: fn }, label);
  if (mine) {
    buttons.push(btn("Edit", "Edit message", () => startEdit(room, m.seq)));
    buttons.push(btn("Delete", "Delete message", () => remove(room, m.seq), true));
  } else if (room.canModerate) {
    buttons.push(btn("Delete", `Delete ${who}'s message`, () => remove(room, m.seq), true));
    buttons.push(btn("Mute", `Mute ${who} for 10 minutes`, () => moderate(room, "mute", m.from, { seconds: 600 })));
    buttons.push(btn("Kick", `Kick ${who} out of ${room.title}`, () => moderate(room, "kick", m.from), true));
    buttons.push(btn("Ban", `Ban ${who} from ${room.title}`, () => moderate(room, "ban", m.from), true));
  }
  return el("div", { class: "actions", role: buttons.length ? "toolbar" : null, "aria-label": buttons.length ? "Message actions" : null }, ...buttons);
}

// refreshActions redraws the actions of every message after my role in
// the room changed.
export function refreshActions(room) {
  for (const { m, li } of room.messages.values()) li.querySelector(".actions")?.replaceWith(actions(room, m));
}

// ---- edits, deletions, moderation

export function lastMineEditable(room) {
  let best = null;
  for (const { m } of room.messages.values()) {
    if (m.from.id === state.me?.id && !m.deleted && (!best || m.seq > best.seq)) best = m;
  }
  return best;
}

export function startEdit(room, seq) {
  const entry = room.messages.get(seq);
  if (!entry || entry.li.querySelector("form.edit")) return;
  const { li, m } = entry;
  const text = li.querySelector(".text");
  const area = el("textarea", { class: "edit-input", "aria-label": "Edit message", rows: "1" });
  area.value = m.text;
  const cancel = () => { form.replaceWith(text); li.focus(); };
  const form = el("form", { class: "edit" }, area,
    el("div", { class: "edit-bar" },
      el("span", { class: "hint" }, "Enter to save · Esc to cancel"),
      el("button", { type: "button", class: "secondary", onclick: cancel }, "Cancel"),
      el("button", { type: "submit" }, "Save")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = area.value;
    if (!value.trim() || value === m.text) return cancel();
    try {
      await request({ type: "edit", room: room.name, seq, text: value });
      form.replaceWith(text);
      li.focus();
    } catch (err) {
      toast(err.message || "The message could not be edited.", "error");
    }
  });
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.preventDefault(); cancel(); }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  text.replaceWith(form);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
}

async function remove(room, seq) {
  const entry = room.messages.get(seq);
  const whose = entry && entry.m.from.id !== state.me?.id ? `${entry.m.from.name}'s message` : "your message";
  if (!window.confirm(`Delete ${whose}? Everyone will see that it was deleted.`)) return;
  try {
    await request({ type: "delete", room: room.name, seq });
  } catch (err) {
    toast(err.message || "The message could not be deleted.", "error");
  }
}

async function moderate(room, type, user, extra) {
  const verbs = { kick: "Kick", ban: "Ban" };
  if (verbs[type] && !window.confirm(`${verbs[type]} ${user.name} from ${room.title}?`)) return;
  try {
    await request({ type, room: room.name, user: user.id, ...extra });
  } catch (err) {
    toast(err.message || `Could not ${type} ${user.name}.`, "error");
  }
}

export function onEdited(room, f) {
  const entry = room.messages.get(f.seq);
  if (!entry) return;
  entry.m = { ...entry.m, text: f.text, edited_at: f.edited_at };
  change(room, () => fill(room, entry.li, entry.m));
}

export function onDeleted(room, f) {
  const entry = room.messages.get(f.seq);
  if (!entry) return;
  entry.m = { ...entry.m, text: "", deleted: true };
  change(room, () => fill(room, entry.li, entry.m));
  rooms.changed(room);
}

// ---- events, the divider, pending messages

// addEvent writes a line about the room (a topic, a kick) after the last
// message; parts are strings and nodes, names going in as text.
export function addEvent(room, ...parts) {
  const li = el("li", { class: "event", dataset: { ts: new Date().toISOString() } }, el("span", null, ...parts));
  change(room, () => insert(listOf(room), li, room.lastSeq + 0.5));
}

export function who(user) {
  return el("strong", { class: "who" }, user?.name ?? "someone");
}

// placeMarker puts "New messages" above the first message I have not seen.
export function placeMarker(room) {
  clearMarker(room);
  if (room.readSeq == null || room.unread === 0) return;
  room.markerSeq = room.readSeq;
  const li = el("li", { class: "divider", role: "separator", "aria-label": "New messages" }, el("span", null, "New messages"));
  insert(listOf(room), li, room.readSeq + 0.25);
  regroup(nextMessage(li)); // the first new message starts a group
}

export function clearMarker(room) {
  const divider = room.list?.querySelector(".divider");
  room.markerSeq = null;
  if (!divider) return;
  const next = nextMessage(divider);
  divider.remove();
  if (next) regroup(next);
}

export function scrollToMarker(room) {
  const divider = room.list?.querySelector(".divider");
  if (!divider) return scrollToBottom();
  const l = log();
  l.scrollTop = Math.max(0, divider.offsetTop - l.clientHeight / 3);
}

// pendingNode draws a message of mine that the server has not stored yet.
export function pendingNode(room, p) {
  const m = { from: state.me || { id: "", name: "me" }, text: p.text, ts: new Date(p.created).toISOString(), nonce: p.nonce, pending: true };
  const li = messageNode(room, m);
  li.classList.add("pending");
  setPendingStatus(li, "sending");
  return li;
}

export function showPending(room, li) {
  change(room, () => {
    listOf(room).append(li);
    regroup(li);
  });
  if (room === state.current) scrollToBottom();
}

export function setPendingStatus(li, status, message) {
  const words = { sending: "Sending…", waiting: "Waiting for the connection…", failed: "Not sent" };
  li.classList.toggle("failed", status === "failed");
  const span = li.querySelector(".status");
  span.textContent = words[status] + (message ? `: ${message}` : "");
}

// confirmPending turns a pending message into the stored one once its seq
// is known (ack or message frame, whichever comes first).
export function confirmPending(room, li, m) {
  if (room.messages.has(m.seq)) {
    li.remove();
    return;
  }
  li.remove();
  addMessage(room, m, false);
}

export function attach(room) {
  const l = log();
  const list = listOf(room);
  l.replaceChildren(list);
  renderEdge(room);
}

export function refreshEdge(room) { renderEdge(room); }
