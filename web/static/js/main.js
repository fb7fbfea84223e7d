// Parley's browser client: the entry point. It decides who the page is
// (auth.js), then wires the connection (conn.js) to the model and views:
// rooms.js (sidebar, joins, resume), messages.js (the log), outbox.js
// (unsent messages), composer.js, people.js, notify.js.
//
// Plain ES modules, no build step, no dependencies; everything fits the
// server's Content-Security-Policy (no inline script or style, no eval).

import { $, el, avatar, toast } from "./ui.js";
import { state } from "./state.js";
import * as conn from "./conn.js";
import * as store from "./store.js";
import * as auth from "./auth.js";
import * as rooms from "./rooms.js";
import * as messages from "./messages.js";
import * as outbox from "./outbox.js";
import * as composer from "./composer.js";
import * as people from "./people.js";
import * as notify from "./notify.js";

let cookieMode = false;
let lostConnection = false; // the banner said so since the last connect

// ---- starting and stopping a session

function start(resolved) {
  const { cred, kind, admin } = resolved;
  cookieMode = Boolean(cred.cookie);
  state.kind = kind || "guest";
  state.admin = Boolean(admin);
  state.me = store.loadJSON(store.KEY.me, null);
  $("auth").hidden = true;
  $("app").hidden = false;
  renderMe();
  // Show what the last visit left (the room, unsent messages) before the
  // connection is up: writing works offline too.
  rooms.open(rooms.ensure(store.load(store.KEY.current) || "lobby"));
  outbox.restore();
  conn.start(cred);
  composer.focus();
}

async function signOut() {
  const unsent = outbox.count();
  const guest = state.kind === "guest";
  const warn = [
    unsent ? `${unsent} unsent message${unsent === 1 ? "" : "s"} will be discarded.` : "",
    guest ? "As a guest, you can't come back as this same user." : "",
  ].filter(Boolean).join(" ");
  if (warn && !window.confirm(`${warn} Sign out anyway?`)) return;
  conn.stop();
  rooms.reset();
  outbox.clear();
  await auth.signOut(cookieMode);
  state.me = null;
  auth.show();
}

function renderMe() {
  const me = state.me;
  const kinds = { guest: "Guest", account: "Signed in", external: "Signed in" };
  $("me").replaceChildren(
    me ? avatar(me) : el("span", { class: "avatar c0", "aria-hidden": "true" }, "…"),
    el("span", { class: "me-text" },
      el("span", { class: "me-name" }, me?.name ?? "Connecting…"),
      el("span", { class: "me-kind" }, kinds[state.kind] || "")));
}

// ---- frames

function onWelcome(f) {
  const known = store.loadJSON(store.KEY.me, null);
  if (known && known.id !== f.user.id) {
    // Another user on this browser: the outbox and read marks were theirs.
    store.forgetUser();
    outbox.clear();
    rooms.reset();
  }
  state.me = f.user;
  store.saveJSON(store.KEY.me, f.user);
  if (f.token) {
    state.kind = "guest";
    store.save(store.KEY.token, f.token);
    store.save(store.KEY.mode, "token");
    conn.setCredential({ token: f.token });
  }
  renderMe();
  composer.update();
  rooms.onWelcome();
}

function onFrame(f) {
  const room = f.room && state.rooms.get(f.room);
  switch (f.type) {
    case "joined": return rooms.onJoined(f);
    case "message": return rooms.onMessage(f);
    case "ack": return outbox.onAck(f);
    case "presence": return rooms.onPresence(f);
    case "typing": return rooms.onTyping(f);
    case "member": return rooms.onMember(f);
    case "topic": return rooms.onTopic(f);
    case "message_edited": return room && messages.onEdited(room, f);
    case "message_deleted": return room && messages.onDeleted(room, f);
    case "error":
      if (outbox.onError(f) || f.id) return; // requests handle their own errors
      return toast(f.message || "Something went wrong.", "error");
    default: return; // pong, and frames a later protocol version may add
  }
}

function onClosed() {
  rooms.onDisconnect();
  outbox.onDisconnect();
}

// onRefused: the server is up but won't take this credential. An expired
// or revoked session, a guest pass on a server that stopped taking guests.
async function onRefused(reason) {
  const r = await auth.resolve();
  // A session or token the API still accepts: a passing failure. A new
  // guest (a name, no token yet) can't be checked that way; refused
  // upgrades mean the server takes no guests.
  if (r.cred && !r.cred.name && reason !== "expired") return;
  conn.stop();
  rooms.reset();
  outbox.clear();
  store.forgetAll();
  auth.show(r.notice || (reason === "expired" ? "Your session has ended; sign in again." :
    "The server refused the connection. It may not allow guests: sign in or create an account."));
}

// ---- the connection banner

function renderStatus(stateName) {
  const banner = $("conn-banner");
  const text = $("conn-text");
  const retry = $("conn-retry");
  const waiting = outbox.count();
  const queued = waiting ? ` ${waiting} message${waiting === 1 ? "" : "s"} will be sent then.` : "";
  // A first connection needs no fanfare; "Connected" is news only after
  // the page said it had lost the connection.
  if (stateName === "reconnecting" || stateName === "offline" || stateName === "stopped") lostConnection = true;
  banner.classList.toggle("quiet", stateName === "connected" && !lostConnection);
  if (stateName === "connected") lostConnection = false;
  banner.dataset.state = stateName;
  document.body.dataset.conn = stateName; // dims what may be stale (presence)
  retry.hidden = true;
  switch (stateName) {
    case "connecting":
      text.textContent = "Connecting…";
      break;
    case "connected":
      text.textContent = "Connected";
      break;
    case "reconnecting": {
      const s = Math.max(1, Math.ceil((conn.conn.retryAt - Date.now()) / 1000));
      text.textContent = conn.conn.retryAt ? `Connection lost. Reconnecting in ${s} s…${queued}` : `Reconnecting…${queued}`;
      retry.hidden = !conn.conn.retryAt;
      break;
    }
    case "offline":
      text.textContent = `You are offline. What you write is kept and sent when you are back.${queued}`;
      break;
    case "stopped":
      // The server closed connection after connection over what the page
      // sent; reconnecting by itself would only repeat that.
      text.textContent = `The server keeps closing the connection over what this page sends (code ${conn.conn.closeCode}); the page has stopped reconnecting.${queued}`;
      retry.hidden = false;
      break;
    default:
      text.textContent = "";
  }
  $("status-dot").dataset.state = stateName;
  $("status-dot").title = stateName === "connected" ? "Connected" : text.textContent;
}

// ---- keyboard and small screens

function closeDrawers() {
  document.body.classList.remove("show-sidebar", "show-people");
  $("open-sidebar").setAttribute("aria-expanded", "false");
  $("toggle-people").setAttribute("aria-expanded", "false");
}

function toggleDrawer(cls, button) {
  const open = !document.body.classList.contains(cls);
  closeDrawers();
  document.body.classList.toggle(cls, open);
  button.setAttribute("aria-expanded", String(open));
  if (open) (cls === "show-sidebar" ? $("sidebar") : $("people")).querySelector("button")?.focus();
}

// The log is one tab stop; arrows move between messages, whose actions
// then take Tab. Escape goes back to the composer.
function onLogKey(e) {
  const items = [...$("log").querySelectorAll("li.msg")];
  const at = items.indexOf(document.activeElement.closest?.("li.msg"));
  let next = null;
  if (e.key === "ArrowUp") next = items[at < 0 ? items.length - 1 : Math.max(0, at - 1)];
  else if (e.key === "ArrowDown") next = at < 0 ? null : items[at + 1];
  else if (e.key === "Home") next = items[0];
  else if (e.key === "End") next = items[items.length - 1];
  else if (e.key === "Escape") {
    e.preventDefault();
    return composer.focus();
  } else return;
  if (e.target.matches?.("textarea, input")) return;
  e.preventDefault();
  if (next) next.focus();
  else if (e.key === "ArrowDown") composer.focus();
}

// Alt+Up / Alt+Down walk the sidebar's rooms from anywhere.
function onGlobalKey(e) {
  if (e.key === "Escape" && document.body.matches(".show-sidebar, .show-people")) {
    closeDrawers();
    return;
  }
  if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown") || !state.current) return;
  const links = [...document.querySelectorAll("#sidebar .room-link")];
  const at = links.findIndex((b) => b.dataset.room === state.current.name);
  const next = links[(at + (e.key === "ArrowUp" ? -1 : 1) + links.length) % links.length];
  if (!next) return;
  e.preventDefault();
  state.rooms.get(next.dataset.room) && rooms.open(state.rooms.get(next.dataset.room));
  composer.focus();
}

// ---- wiring

async function main() {
  conn.configure({
    frame: onFrame,
    welcome: onWelcome,
    closed: onClosed,
    status: renderStatus,
    refused: onRefused,
  });
  auth.setup(start);
  composer.setup();
  notify.setup();
  rooms.setupDialogs();
  $("sign-out").addEventListener("click", signOut);
  $("conn-retry").addEventListener("click", () => conn.reconnectNow());
  $("log").addEventListener("scroll", messages.onScroll, { passive: true });
  $("log").addEventListener("keydown", onLogKey);
  $("jump").addEventListener("click", () => {
    messages.scrollToBottom();
    composer.focus();
  });
  $("open-sidebar").addEventListener("click", () => toggleDrawer("show-sidebar", $("open-sidebar")));
  $("toggle-people").addEventListener("click", () => toggleDrawer("show-people", $("toggle-people")));
  $("scrim").addEventListener("click", closeDrawers);
  document.addEventListener("keydown", onGlobalKey);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) rooms.onVisible(); });
  window.addEventListener("focus", () => rooms.onVisible());
  // A new message may need a redraw of people too (guests' DM buttons).
  people.render();
  const resolved = await auth.resolve();
  if (resolved.cred) start(resolved);
  else auth.show(resolved.notice);
}

main();
