// DOM helpers shared by the other modules. Every user-supplied string
// reaches the page through el()'s text children or textContent, never as
// markup: that, and the server's CSP, is the whole XSS defence, so no
// module builds HTML from strings.

export const $ = (id) => document.getElementById(id);

// el("li", {class: "msg", dataset: {seq: 4}}, "text", child) builds an
// element. Strings become text nodes; attributes are set one by one, so a
// value is never parsed as markup.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// Only these schemes become links; javascript, data and the rest stay
// text. The pattern finds candidates; URL() decides.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/;

// linkify returns text nodes and <a> elements for text, in order, so the
// message reads exactly as typed (textContent of the result === text).
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let raw = m[0];
    // "see https://x.org/a)." — the closing punctuation is the sentence's.
    const trail = raw.match(TRAILING);
    if (trail && !(trail[0].startsWith(")") && raw.includes("("))) raw = raw.slice(0, -trail[0].length);
    let url;
    try { url = new URL(raw); } catch { continue; }
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    // The visible text is what was typed; href is the parsed URL.
    out.push(el("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }, raw));
    last = m.index + raw.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

// Avatars take one of eight colours from the user id, so a user keeps a
// colour across rooms and name changes.
export function hue(id) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 8;
}

export function initial(name) {
  const first = [...String(name).trim()][0] || "?";
  return first.toUpperCase();
}

export function avatar(user, extra) {
  return el("span", { class: `avatar c${hue(user.id)}${extra ? " " + extra : ""}`, "aria-hidden": "true" }, initial(user.name));
}

const pad = (n) => String(n).padStart(2, "0");

export function clock(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// dayLabel names a day the way people say it: Today, Yesterday, or a date.
export function dayLabel(date) {
  const today = new Date();
  if (sameDay(date, today)) return "Today";
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (sameDay(date, yesterday)) return "Yesterday";
  const opts = { weekday: "long", month: "long", day: "numeric" };
  if (date.getFullYear() !== today.getFullYear()) opts.year = "numeric";
  return date.toLocaleDateString(undefined, opts);
}

// toast shows a short notice in an assertive live region; the last one
// replaces the one before.
let toastTimer = 0;
export function toast(text, kind = "info") {
  const box = $("toast");
  box.dataset.kind = kind;
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

// codePoints counts as the server counts: Unicode code points, so "😀" is
// one character, not two UTF-16 units.
export const codePoints = (s) => [...s].length;
