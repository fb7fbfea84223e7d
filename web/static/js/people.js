// Who is in the room on screen (its presence list) and who is typing. A
// person in the list can be messaged directly, except by guests, whom the
// server keeps to public rooms.

import { $, el, avatar } from "./ui.js";
import { state } from "./state.js";
import * as rooms from "./rooms.js";

export function render() {
  const room = state.current;
  const list = $("people-list");
  if (!room) return list.replaceChildren();
  const users = [...room.online.values()].sort((a, b) => a.name.localeCompare(b.name));
  const canDM = state.kind !== "guest";
  list.replaceChildren(...users.map((u) => {
    const me = u.id === state.me?.id;
    const body = [avatar(u, "small"), el("span", { class: "person-name" }, u.name), me ? el("span", { class: "you" }, "you") : null];
    if (me || !canDM) return el("li", { dataset: { userId: u.id } }, el("span", { class: "person" }, ...body));
    return el("li", { dataset: { userId: u.id } },
      el("button", { type: "button", class: "person", title: `Message ${u.name} directly`, "aria-label": `Message ${u.name} directly`, onclick: () => rooms.openDirect(u) }, ...body));
  }));
  if (room.onlineUnlisted > 0) list.append(el("li", { class: "hint" }, `and ${room.onlineUnlisted} more`));
  const count = users.length + room.onlineUnlisted;
  $("people-count").textContent = String(count);
  $("people-heading-text").textContent = room.kind === "direct" ? "Here now" : "Online";
  $("toggle-people").setAttribute("aria-label", `People online: ${count}`);
  $("people-toggle-count").textContent = String(count);
  renderTyping();
}

// renderTyping writes "alice is typing…" under the log. The line keeps its
// height when empty, so the log doesn't jump.
export function renderTyping() {
  const room = state.current;
  const names = room ? [...room.typing.values()].map((t) => t.name) : [];
  let line = "";
  if (names.length === 1) line = `${names[0]} is typing…`;
  else if (names.length === 2) line = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) line = "Several people are typing…";
  $("typing-text").textContent = line;
  $("typing").classList.toggle("active", Boolean(line));
}
