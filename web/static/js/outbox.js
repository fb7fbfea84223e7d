// The outbox: messages written but not yet stored by the server. Each is
// kept in localStorage (so a reload or a crash doesn't lose it), shown as
// pending in its room, and sent with its nonce once the room is joined on
// a live connection. A retry reuses the nonce, which the server answers
// with the original ack, so nothing is ever stored twice. One message per
// room is in flight at a time, which keeps a room's messages in order even
// when the server asks to slow down.

import { state } from "./state.js";
import { conn, send, fits } from "./conn.js";
import { codePoints } from "./ui.js";
import * as store from "./store.js";
import * as messages from "./messages.js";
import * as rooms from "./rooms.js";

// nonce → {p: {nonce, room, text, created}, li, inFlight, failed}
const pending = new Map();
const RETRYABLE = new Set(["rate_limited", "unavailable", "internal", "timeout"]);

// restore shows what the last visit left unsent.
export function restore() {
  const all = Object.values(store.loadJSON(store.KEY.pending, {})).sort((a, b) => a.created - b.created);
  for (const p of all) show(p);
}

function show(p) {
  if (pending.has(p.nonce)) return;
  const room = rooms.ensure(p.room);
  const li = messages.pendingNode(room, p);
  pending.set(p.nonce, { p, li, inFlight: false, failed: false });
  messages.showPending(room, li);
  label(pending.get(p.nonce));
}

export function queue(room, text) {
  const p = { nonce: store.newNonce(), room: room.name, text, created: Date.now() };
  store.update(store.KEY.pending, (all) => { all[p.nonce] = p; });
  show(p);
  pump(room);
}

export function count() { return pending.size; }

function label(entry) {
  if (entry.failed) return;
  messages.setPendingStatus(entry.li, conn.open ? "sending" : "waiting");
}

// pump sends the oldest unsent message of room, if none is in flight. One
// the server can't take is marked failed instead, and the next goes.
export function pump(room) {
  if (!room?.joined) return;
  for (const entry of pending.values()) {
    if (entry.p.room !== room.name || entry.failed) continue;
    if (entry.inFlight) return;
    const { nonce, text } = entry.p;
    const frame = { type: "send", id: nonce, room: room.name, text, nonce };
    const why = unsendable(frame);
    if (why) {
      fail(entry, why);
      continue;
    }
    if (send(frame)) {
      entry.inFlight = true;
      label(entry);
    }
    return;
  }
}

// unsendable says why frame is over the limits of this connection's
// welcome, or "" when it is within them. The composer holds back what is
// too long, but the outbox also holds what an earlier visit wrote, under
// other limits. A text over max_text would only be refused, but a frame
// over max_frame closes the connection (1009), and a retry after every
// reconnect would close every connection.
function unsendable(frame) {
  const n = codePoints(frame.text);
  const max = conn.limits.max_text;
  if (n > max) return `too long: ${n} characters, and the server takes at most ${max}`;
  if (!fits(frame)) return `too long: more than the server's limit of ${conn.limits.max_frame} bytes`;
  return "";
}

function forget(nonce) {
  pending.delete(nonce);
  store.update(store.KEY.pending, (all) => { delete all[nonce]; });
}

// settle is called with each message frame of mine: when it is one of the
// outbox's, the pending copy gives way to the stored one. Returns whether
// it was.
export function settle(room, m) {
  const entry = pending.get(m.nonce);
  if (!entry) return false;
  forget(m.nonce);
  messages.confirmPending(room, entry.li, m);
  pump(room);
  return true;
}

// onAck: the ack may come before the message frame; either one settles.
// It shows the message at its seq, but the room resumes only after message
// frames (Room.resumeSeq): messages stored before mine may still be on
// their way, and a resume after the ack's seq would skip them.
export function onAck(f) {
  const entry = pending.get(f.nonce);
  if (!entry) return;
  const room = rooms.ensure(f.room);
  settle(room, { room: f.room, seq: f.seq, nonce: f.nonce, from: state.me, text: entry.p.text, ts: new Date(entry.p.created).toISOString() });
}

// onError handles a refused send (its id is the nonce). Worth retrying:
// rate limits and server trouble, with the same nonce. Not: the rest; the
// text stays on screen, marked, with Retry and Discard.
export function onError(f) {
  const entry = pending.get(f.id);
  if (!entry) return false;
  entry.inFlight = false;
  const room = rooms.ensure(entry.p.room);
  if (RETRYABLE.has(f.code) || !["bad_request", "too_large", "forbidden", "not_found", "conflict", "unauthorized"].includes(f.code)) {
    setTimeout(() => pump(room), f.retry_after_ms || 2000);
    return true;
  }
  fail(entry, f.message);
  pump(room);
  return true;
}

function fail(entry, why) {
  entry.failed = true;
  entry.inFlight = false;
  messages.setPendingStatus(entry.li, "failed", why);
  const actions = entry.li.querySelector(".actions");
  const retry = document.createElement("button");
  retry.type = "button";
  retry.textContent = "Retry";
  retry.addEventListener("click", () => {
    entry.failed = false;
    actions.replaceChildren();
    label(entry);
    pump(rooms.ensure(entry.p.room));
  });
  const discard = document.createElement("button");
  discard.type = "button";
  discard.className = "danger";
  discard.textContent = "Discard";
  discard.addEventListener("click", () => {
    forget(entry.p.nonce);
    entry.li.remove();
  });
  actions.replaceChildren(retry, discard);
  actions.setAttribute("role", "toolbar");
  actions.setAttribute("aria-label", "Unsent message actions");
}

export function failRoom(room, why) {
  for (const entry of pending.values()) if (entry.p.room === room.name && !entry.failed) fail(entry, why);
}

// onDisconnect: whatever was in flight may or may not have been stored;
// the next connection sends it again with its nonce and finds out.
export function onDisconnect() {
  for (const entry of pending.values()) {
    entry.inFlight = false;
    label(entry);
  }
}

export function clear() {
  for (const entry of pending.values()) entry.li.remove();
  pending.clear();
}
