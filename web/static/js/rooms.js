// Rooms: the sidebar (my rooms and direct conversations, with unread
// counts), joining every room on each connection and resuming each from
// its last seq, switching rooms, the room header, room events (presence,
// typing, member changes, topics), and the dialogs to create, join and
// invite.
//
// The server has no "you were added to a room" event for rooms this
// connection has not joined (a new direct conversation, an invite), so the
// rooms list is asked for again every few seconds.

import { $, el, toast } from "./ui.js";
import { state, Room, LOBBY, remember } from "./state.js";
import { conn, request } from "./conn.js";
import * as store from "./store.js";
import * as messages from "./messages.js";
import * as outbox from "./outbox.js";
import * as people from "./people.js";
import * as composer from "./composer.js";

const POLL_MS = 8000;
const TYPING_SHOW_MS = 4000; // "x is typing…" fades without news this long

let pollTimer = 0;
let renderQueued = false;

// ---- the model

export function ensure(name) {
  let room = state.rooms.get(name);
  if (room) return room;
  room = new Room(name);
  const read = store.loadJSON(store.KEY.read, {});
  if (typeof read[name] === "number") room.readSeq = read[name];
  // A room first seen after this page's first rooms list is news to me:
  // everything in it counts as unread.
  else if (!state.initialRooms) room.readSeq = 0;
  const peer = store.loadJSON(store.KEY.peers, {})[name];
  if (peer) room.peer = peer;
  state.rooms.set(name, room);
  changed(room);
  return room;
}

export function setPeer(room, user) {
  remember(user);
  if (room.peer?.id === user.id && room.peer.name === user.name) return;
  room.peer = { id: user.id, name: user.name };
  store.update(store.KEY.peers, (all) => { all[room.name] = room.peer; });
  changed(room);
  if (room === state.current) renderHeader();
}

function applyInfo(room, info) {
  room.kind = info.kind || room.kind;
  room.topic = info.topic ?? room.topic;
  const role = info.role || room.role;
  if (role !== room.role) {
    room.role = role;
    messages.refreshActions(room);
  }
  if (info.peer) setPeer(room, info.peer);
  changed(room);
  if (room === state.current) renderHeader();
}

// markRead: what is on screen in a visible tab has been seen.
let saveReadTimer = 0;
export function markRead(room) {
  if (room !== state.current || document.hidden || room.readSeq === room.lastSeq) return;
  // While a join's backlog arrives, wait: its end places the "new
  // messages" divider, which needs the old mark.
  if (room.joined && room.lastSeq < room.head) return;
  if (room.readSeq != null && room.readSeq > room.lastSeq) return;
  room.readSeq = room.lastSeq;
  changed(room);
  clearTimeout(saveReadTimer);
  saveReadTimer = setTimeout(saveRead, 500);
}

function saveRead() {
  store.update(store.KEY.read, (all) => {
    for (const room of state.rooms.values()) if (room.readSeq != null) all[room.name] = room.readSeq;
  });
}

function remove(room, why) {
  state.rooms.delete(room.name);
  if (why) toast(why, "error");
  outbox.failRoom(room, "you can't write in this room");
  if (state.current === room) open(state.rooms.get(LOBBY) || state.rooms.values().next().value || ensure(LOBBY));
  changed(room);
}

// ---- connecting: list, join, resume

export async function onWelcome() {
  for (const room of state.rooms.values()) {
    room.joined = false;
    room.online.clear();
    clearTyping(room);
  }
  // The lobby always exists; the room on screen and rooms with unsent
  // messages are joined even before the list says they are mine.
  ensure(LOBBY);
  try {
    const reply = await request({ type: "rooms" });
    merge(reply.rooms || []);
  } catch { /* the list comes with the next poll */ }
  state.initialRooms = false;
  for (const room of state.rooms.values()) join(room);
  if (!state.current) open(state.rooms.get(store.load(store.KEY.current)) || ensure(LOBBY));
  clearInterval(pollTimer);
  pollTimer = setInterval(poll, POLL_MS);
}

export function stop() {
  clearInterval(pollTimer);
}

async function poll() {
  // Hidden tabs poll too: a new direct conversation is what desktop
  // notifications are for.
  if (!conn.open) return;
  try {
    const reply = await request({ type: "rooms" });
    merge(reply.rooms || []);
  } catch { /* next time */ }
}

// refresh asks for the rooms list now: the tab came back, or I did
// something that may have added a room.
export function refresh() { poll(); }

function merge(list) {
  for (const info of list) {
    const room = ensure(info.name);
    applyInfo(room, info);
    if (conn.open && !room.joined && !room.joining) join(room);
  }
}

// join hears a room on this connection. A room seen before resumes after
// the last message frame it received: the server replays exactly what came
// after it.
function join(room) {
  if (room.joined || room.joining) return;
  const frame = { type: "join", room: room.name };
  if (room.resumeSeq > 0) frame.since = room.resumeSeq;
  room.resumeFrom = room.resumeSeq > 0 ? room.resumeSeq : null;
  room.joining = true;
  request(frame).catch((err) => {
    room.joining = false;
    if (err.code === "forbidden" || err.code === "not_found") remove(room, `You can't use ${room.title}: ${err.message}`);
  });
}

export function onJoined(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  room.joining = false;
  if (f.head < room.lastSeq) {
    // The server's history is not the one shown (a reset server): start
    // the room over rather than show two histories.
    resetRoom(room);
    join(room);
    return;
  }
  room.joined = true;
  room.head = f.head;
  if (room.resumeFrom != null && f.head <= room.resumeFrom) room.resumeFrom = null;
  if (f.head === 0) room.more = false;
  if (room.readSeq == null) room.readSeq = f.head;
  room.online = new Map((f.online || []).map((u) => [u.id, u]));
  // A room over the server's presence limit lists only its first arrivals
  // and sends no presence events; the rest are a count as of joining.
  room.onlineUnlisted = Math.max(0, (f.online_count || 0) - room.online.size);
  for (const u of f.online || []) {
    remember(u);
    if (room.kind === "direct" && u.id !== state.me?.id) setPeer(room, u);
  }
  if (room === state.current) {
    people.render();
    messages.refreshEdge(room);
    composer.update();
  }
  changed(room);
  outbox.pump(room);
  if (room.gap) messages.fillGap(room, room.gap.since, room.gap.before);
}

function resetRoom(room) {
  room.messages.clear();
  room.list = null;
  room.lastSeq = room.firstSeq = room.resumeSeq = 0;
  room.more = true;
  room.readSeq = 0;
  if (room === state.current) messages.attach(room);
}

// onMessage routes a message frame; the first message of a resume tells
// whether the server replayed everything (see fillGap).
export function onMessage(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  if (room.resumeFrom != null) {
    const since = room.resumeFrom;
    room.resumeFrom = null;
    if (f.seq > since + 1) messages.fillGap(room, since, f.seq);
  }
  // A connection delivers a room's messages in seq order without gaps, so
  // the highest seq of its message frames has nothing missing below it (but
  // the start of a replay that was cut short, which fillGap pages in).
  room.resumeSeq = Math.max(room.resumeSeq, f.seq);
  if (f.from?.id === state.me?.id && outbox.settle(room, f)) return;
  messages.addMessage(room, f, f.seq > room.head);
}

export function onDisconnect() {
  for (const room of state.rooms.values()) {
    room.joined = false;
    room.joining = false;
    clearTyping(room);
  }
  if (state.current) people.render();
}

// ---- switching rooms

export function open(room) {
  const prev = state.current;
  if (prev && prev !== room) {
    prev.scrollTop = messages.atBottom() ? null : $("log").scrollTop;
    messages.clearMarker(prev);
  }
  state.current = room;
  store.save(store.KEY.current, room.name);
  messages.attach(room);
  if (prev !== room) messages.placeMarker(room);
  if (room.markerSeq != null) messages.scrollToMarker(room);
  else if (room.scrollTop != null) $("log").scrollTop = room.scrollTop;
  else messages.scrollToBottom();
  markRead(room);
  renderHeader();
  people.render();
  composer.setRoom(room);
  messages.renderJump();
  changed(room);
  document.body.classList.remove("show-sidebar", "show-people");
  $("open-sidebar").setAttribute("aria-expanded", "false");
  if (room.more && room.joined) messages.loadOlder(room);
}

// The tab came back: show where the news starts, then count it read.
export function onVisible() {
  const room = state.current;
  if (!room) return;
  if (room.unread > 0 && room.markerSeq == null) messages.placeMarker(room);
  markRead(room);
  refresh();
}

// ---- rendering

// changed schedules one redraw of the sidebar per frame, however many
// messages arrived in it.
export function changed() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderSidebar();
  });
}

function byLabel(a, b) {
  if (a.name === LOBBY) return -1;
  if (b.name === LOBBY) return 1;
  return a.label.localeCompare(b.label);
}

// Sidebar entries are kept and updated in place, not redrawn: a redraw
// would take the keyboard focus away from the entry a person is on every
// time a message arrives.
const items = new Map(); // room name → {li, button, icon, label, badge}

function itemOf(room) {
  let item = items.get(room.name);
  if (item) return item;
  const label = el("span", { class: "room-name" });
  const badge = el("span", { class: "badge", hidden: true });
  const icon = el("span", { "aria-hidden": "true" });
  const button = el("button", { type: "button", class: "room-link", dataset: { room: room.name }, onclick: () => open(room) }, icon, label, badge);
  item = { li: el("li", null, button), button, icon, label, badge };
  items.set(room.name, item);
  return item;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function updateItem(room) {
  const { button, icon, label, badge } = itemOf(room);
  const unread = room === state.current ? 0 : room.unread;
  if (room.kind === "direct") {
    icon.className = "presence-dot" + (room.peer && room.online.has(room.peer.id) ? " on" : "");
    setText(icon, "");
  } else {
    icon.className = `room-icon ${room.kind}`;
    setText(icon, room.kind === "private" ? "" : "#");
  }
  setText(label, room.label);
  badge.hidden = !unread;
  setText(badge, unread > 99 ? "99+" : String(unread));
  button.classList.toggle("has-unread", unread > 0);
  const current = room === state.current;
  if (current) button.setAttribute("aria-current", "page");
  else button.removeAttribute("aria-current");
  const kind = room.kind === "private" ? ", private room" : room.kind === "direct" ? ", direct conversation" : "";
  button.setAttribute("aria-label", room.label + kind + (unread ? `, ${unread} unread` : ""));
}

// place puts the items in order, touching the list only when the order
// changed (moving a node would drop its focus too).
function place(list, rooms) {
  const want = rooms.map((r) => itemOf(r).li);
  const have = [...list.children];
  if (want.length !== have.length || want.some((li, i) => li !== have[i])) list.replaceChildren(...want);
}

function renderSidebar() {
  const all = [...state.rooms.values()];
  for (const name of [...items.keys()]) if (!state.rooms.has(name)) items.delete(name);
  for (const room of all) updateItem(room);
  const groups = all.filter((r) => r.kind !== "direct").sort(byLabel);
  const directs = all.filter((r) => r.kind === "direct").sort(byLabel);
  place($("room-list"), groups);
  place($("dm-list"), directs);
  $("dm-empty").hidden = directs.length > 0;
  setText($("dm-empty"), state.kind === "guest" ? "Sign in with an account to talk one to one." :
    "Pick someone in the people list to talk one to one.");
  const total = all.reduce((n, r) => n + (r === state.current ? 0 : r.unread), 0);
  document.title = (total ? `(${total}) ` : "") + (state.current ? `${state.current.title} · Parley` : "Parley");
  $("open-sidebar").classList.toggle("has-unread", total > 0);
}

export function renderHeader() {
  const room = state.current;
  if (!room) return;
  $("room-title").replaceChildren(
    room.kind === "direct" ? el("span", { class: "presence-dot" + (room.peer && room.online.has(room.peer.id) ? " on" : ""), "aria-hidden": "true" })
      : el("span", { class: `room-icon ${room.kind}`, "aria-hidden": "true" }, room.kind === "private" ? "" : "#"),
    room.kind === "direct" ? room.label : room.name);
  $("room-topic").textContent = room.topic || (room.kind === "direct" ? "Direct conversation" : room.kind === "private" ? "Private room" : "");
  $("room-topic").classList.toggle("placeholder", !room.topic);
  $("edit-topic").hidden = !room.canModerate;
  $("invite").hidden = !(room.canModerate && room.kind === "private");
}

// ---- room events

export function onPresence(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  remember(f.user);
  if (f.event === "join") room.online.set(f.user.id, f.user);
  else {
    room.online.delete(f.user.id);
    stopTyping(room, f.user.id);
  }
  if (room.kind === "direct" && f.user.id !== state.me?.id) setPeer(room, f.user);
  if (room === state.current) {
    people.render();
    renderHeader();
  }
  changed(room);
}

export function onTyping(f) {
  const room = state.rooms.get(f.room);
  if (!room || f.user.id === state.me?.id) return;
  clearTimeout(room.typing.get(f.user.id)?.timer);
  const timer = setTimeout(() => stopTyping(room, f.user.id), TYPING_SHOW_MS);
  room.typing.set(f.user.id, { name: f.user.name, timer });
  if (room === state.current) people.renderTyping();
}

export function stopTyping(room, id) {
  const t = room.typing.get(id);
  if (!t) return;
  clearTimeout(t.timer);
  room.typing.delete(id);
  if (room === state.current) people.renderTyping();
}

function clearTyping(room) {
  for (const id of [...room.typing.keys()]) stopTyping(room, id);
}

export function onTopic(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  room.topic = f.topic;
  const { who } = messages;
  if (f.topic) messages.addEvent(room, who(f.by), " set the topic: ", el("q", { class: "topic-text" }, f.topic));
  else messages.addEvent(room, who(f.by), " cleared the topic.");
  if (room === state.current) {
    renderHeader();
    messages.refreshEdge(room);
  }
}

export function onMember(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  remember(f.user);
  remember(f.by);
  const { who, addEvent } = messages;
  const me = f.user.id === state.me?.id;
  const until = f.until ? new Date(f.until) : null;
  switch (f.event) {
    case "invited":
      addEvent(room, who(f.by), " invited ", who(f.user), ".");
      break;
    case "kicked":
    case "banned":
      addEvent(room, who(f.by), f.event === "kicked" ? " removed " : " banned ", who(f.user), ".");
      room.online.delete(f.user.id);
      if (me) {
        room.joined = false;
        remove(room, `${f.by.name} ${f.event === "kicked" ? "removed you from" : "banned you from"} ${room.title}.`);
        outbox.failRoom(room, "you are no longer in this room");
      }
      break;
    case "unbanned":
      addEvent(room, who(f.by), " lifted the ban on ", who(f.user), ".");
      break;
    case "muted":
      if (until) addEvent(room, who(f.by), " muted ", who(f.user), ` until ${until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}.`);
      else addEvent(room, who(f.by), " unmuted ", who(f.user), ".");
      if (me) {
        room.mutedUntil = until ? until.getTime() : 0;
        clearTimeout(room.muteTimer);
        if (until) room.muteTimer = setTimeout(() => { if (room === state.current) composer.update(); }, room.mutedUntil - Date.now() + 50);
        if (room === state.current) composer.update();
      }
      break;
    case "role":
      addEvent(room, who(f.by), f.role === "moderator" ? " made " : " made ", who(f.user), f.role === "moderator" ? " a moderator." : " a member again.");
      if (me) {
        room.role = f.role;
        messages.refreshActions(room);
        if (room === state.current) renderHeader();
      }
      break;
  }
  if (room === state.current) people.render();
}

// ---- actions and dialogs

// openDirect opens (or creates) the conversation with user and shows it.
export async function openDirect(user) {
  try {
    const reply = await request({ type: "open_direct", user: user.id });
    const room = ensure(reply.room.name);
    if (room.readSeq == null) room.readSeq = 0;
    applyInfo(room, reply.room);
    if (!room.joined) join(room);
    open(room);
    composer.focus();
  } catch (err) {
    toast(err.message || `Could not open a conversation with ${user.name}.`, "error");
  }
}

// enter joins a public room by name (creating it if it is new) or, with
// kind private, creates a private room with members; then shows it.
async function enter(name, kind, topic, members) {
  let info = null;
  try {
    const reply = await request({ type: "create_room", room: name, kind, topic: topic || undefined, members: members.length ? members : undefined });
    info = reply.room;
  } catch (err) {
    // An existing public room is joined rather than created.
    if (!(err.code === "conflict" && kind === "public")) throw err;
  }
  const room = ensure(name);
  if (room.readSeq == null) room.readSeq = 0;
  if (info) applyInfo(room, info);
  join(room);
  open(room);
}

function userChoices(container, exclude) {
  const users = [...state.users.values()].filter((u) => !exclude.has(u.id)).sort((a, b) => a.name.localeCompare(b.name));
  if (!users.length) {
    container.replaceChildren(el("p", { class: "hint" }, "Nobody to pick yet: people you have seen online or chatting show up here."));
    return;
  }
  container.replaceChildren(...users.map((u) =>
    el("label", { class: "choice" }, el("input", { type: "checkbox", name: "member", value: u.id }), " ", el("span", null, u.name))));
}

function checked(container) {
  return [...container.querySelectorAll("input[name=member]:checked")].map((i) => i.value);
}

export function setupDialogs() {
  // Cancel is a plain button, not a submit: Enter in a field must submit
  // the form, and implicit submission uses the first submit button.
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  const roomDialog = $("room-dialog");
  const roomForm = $("room-form");
  const kindInputs = roomForm.querySelectorAll("input[name=kind]");
  const syncKind = () => {
    const priv = roomForm.elements.kind.value === "private";
    $("room-members").hidden = !priv;
    $("room-submit").textContent = priv ? "Create private room" : "Join or create";
  };
  kindInputs.forEach((i) => i.addEventListener("change", syncKind));
  $("new-room").addEventListener("click", () => {
    roomForm.reset();
    $("room-error").textContent = "";
    $("room-kind-private").disabled = state.kind === "guest";
    $("room-private-hint").hidden = state.kind !== "guest";
    userChoices($("room-member-list"), new Set());
    syncKind();
    roomDialog.showModal();
    $("room-name").focus();
  });
  roomForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("room-name").value.trim().toLowerCase();
    if (!/^[a-z0-9_-]{1,64}$/.test(name) || name.startsWith("dm-")) {
      $("room-error").textContent = "Use 1–64 lower-case letters, digits, _ or - (and not dm- at the start).";
      return;
    }
    const kind = roomForm.elements.kind.value;
    try {
      await enter(name, kind, $("room-topic-input").value.trim(), kind === "private" ? checked($("room-member-list")) : []);
      // Closing gives the focus back to the button that opened the dialog;
      // the person came to write.
      roomDialog.close();
      composer.focus();
    } catch (err) {
      $("room-error").textContent = err.message || "That did not work; try again.";
    }
  });

  const inviteDialog = $("invite-dialog");
  const inviteForm = $("invite-form");
  $("invite").addEventListener("click", () => {
    const room = state.current;
    $("invite-title").textContent = `Invite people to ${room.title}`;
    $("invite-error").textContent = "";
    userChoices($("invite-list"), new Set(room.online.keys()));
    inviteDialog.showModal();
  });
  inviteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const room = state.current;
    const ids = checked($("invite-list"));
    const failed = [];
    for (const id of ids) {
      try {
        await request({ type: "invite", room: room.name, user: id });
      } catch (err) {
        failed.push(err.message);
      }
    }
    if (failed.length) $("invite-error").textContent = failed.join(" ");
    else inviteDialog.close();
  });

  const topicDialog = $("topic-dialog");
  const topicForm = $("topic-form");
  $("edit-topic").addEventListener("click", () => {
    $("topic-input").value = state.current.topic;
    $("topic-error").textContent = "";
    topicDialog.showModal();
  });
  topicForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await request({ type: "topic", room: state.current.name, topic: $("topic-input").value.trim() });
      topicDialog.close();
    } catch (err) {
      $("topic-error").textContent = err.message || "The topic could not be set.";
    }
  });
}

export function reset() {
  stop();
  state.rooms.clear();
  items.clear();
  state.current = null;
  state.users.clear();
  state.initialRooms = true;
  $("log").replaceChildren();
  renderSidebar();
}
