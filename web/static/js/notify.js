// Desktop notifications, opt-in: only when the tab is hidden, and only for
// a mention of me or a message in a direct conversation. The title and
// body are given to the browser as plain strings, never as markup.

import { $ } from "./ui.js";
import { state } from "./state.js";
import * as store from "./store.js";
import * as rooms from "./rooms.js";
import { mentionsMe } from "./messages.js";

const supported = () => "Notification" in window;

function enabled() {
  return supported() && store.load(store.KEY.notify) === "on" && Notification.permission === "granted";
}

export function setup() {
  const button = $("notify-toggle");
  if (!supported()) {
    button.hidden = true;
    return;
  }
  render();
  button.addEventListener("click", async () => {
    if (enabled()) {
      store.save(store.KEY.notify, null);
    } else {
      // The permission prompt only works from a user's click.
      const permission = await Notification.requestPermission();
      store.save(store.KEY.notify, permission === "granted" ? "on" : null);
    }
    render();
  });
}

function render() {
  const button = $("notify-toggle");
  const on = enabled();
  button.setAttribute("aria-pressed", String(on));
  button.title = on ? "Desktop notifications are on (mentions and direct messages while this tab is hidden)" :
    Notification.permission === "denied" ? "Notifications are blocked in this browser's site settings" : "Turn on desktop notifications";
  button.textContent = on ? "Notifications on" : "Notifications off";
}

export function message(room, m) {
  if (!enabled() || !document.hidden || m.from.id === state.me?.id || m.deleted) return;
  const direct = room.kind === "direct";
  if (!direct && !mentionsMe(m.text)) return;
  const title = direct ? m.from.name : `${m.from.name} in ${room.title}`;
  const n = new Notification(title, { body: m.text.slice(0, 200), tag: `parley-${room.name}` });
  n.onclick = () => {
    window.focus();
    rooms.open(room);
    n.close();
  };
}
