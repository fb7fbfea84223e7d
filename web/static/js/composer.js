// The composer: Enter sends, Shift+Enter is a new line; a counter against
// the server's max_text (in code points, as the server counts); "typing"
// frames at most every few seconds; a draft per room, kept in
// localStorage so a half-written message survives a reload; Up in an
// empty composer edits my last message.

import { $ } from "./ui.js";
import { state } from "./state.js";
import { conn, send } from "./conn.js";
import * as store from "./store.js";
import * as outbox from "./outbox.js";
import * as messages from "./messages.js";
import { codePoints } from "./ui.js";

const TYPING_EVERY_MS = 3000;
const NEAR_LIMIT = 0.9; // the counter turns amber from 90% of the limit

let lastTyping = 0;
let draftTimer = 0;

const input = () => $("composer-input");

export function setup() {
  const area = input();
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  area.addEventListener("keydown", (e) => {
    // An IME composing text owns Enter.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === "ArrowUp" && !area.value && state.current) {
      const m = messages.lastMineEditable(state.current);
      if (m) {
        e.preventDefault();
        messages.startEdit(state.current, m.seq);
      }
    }
  });
  area.addEventListener("input", () => {
    update();
    typing();
    clearTimeout(draftTimer);
    draftTimer = setTimeout(saveDraft, 300);
  });
}

function saveDraft() {
  const room = state.current;
  if (!room) return;
  const text = input().value;
  store.update(store.KEY.drafts, (all) => {
    if (text) all[room.name] = text;
    else delete all[room.name];
  });
}

export function setRoom(room) {
  const area = input();
  area.value = store.loadJSON(store.KEY.drafts, {})[room.name] || "";
  const where = room.kind === "direct" ? room.label : room.title;
  area.placeholder = `Message ${where}`;
  area.setAttribute("aria-label", `Message ${where}`);
  update();
}

function submit() {
  const room = state.current;
  const text = input().value;
  if (!room || !text.trim() || codePoints(text) > conn.limits.max_text || room.muted) return;
  outbox.queue(room, text);
  input().value = "";
  saveDraft();
  update();
  messages.clearMarker(room);
  messages.scrollToBottom();
}

function typing() {
  const room = state.current;
  const now = Date.now();
  if (!room?.joined || !input().value.trim() || now - lastTyping < TYPING_EVERY_MS) return;
  if (send({ type: "typing", room: room.name })) lastTyping = now;
}

// update redraws the counter, the send button and the muted note.
export function update() {
  const room = state.current;
  const text = input().value;
  const max = conn.limits.max_text;
  const used = codePoints(text);
  const counter = $("counter");
  counter.textContent = `${used} / ${max}`;
  counter.hidden = used === 0;
  counter.classList.toggle("near", used >= max * NEAR_LIMIT);
  counter.classList.toggle("over", used > max);
  input().setAttribute("aria-invalid", String(used > max));
  const muted = Boolean(room?.muted);
  input().disabled = muted;
  $("send-button").disabled = muted || !text.trim() || used > max;
  const note = $("composer-note");
  if (muted) {
    const until = new Date(room.mutedUntil).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    note.textContent = `You are muted in this room until ${until}.`;
  } else if (used > max) {
    note.textContent = `That is ${used - max} character${used - max === 1 ? "" : "s"} over the limit of ${max}.`;
  } else {
    note.textContent = "";
  }
}

export function focus() { input().focus(); }
