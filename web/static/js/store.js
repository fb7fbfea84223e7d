// Everything the page keeps in localStorage, in one place: who I am, the
// outbox of unsent messages, what I have read, the peers of direct rooms.
// Storage may be full or blocked (private windows); then the page still
// works for this visit, it just forgets on reload.

const PREFIX = "parley.";

export const KEY = {
  mode: "mode", // "cookie" (account session), "token" (guest or JWT), or absent
  token: "token", // a guest token or a JWT, sent as ?token=
  guestName: "guest-name", // the name a new guest asked for
  me: "me", // {id, name, kind} of the last welcome
  pending: "pending", // nonce → {nonce, room, text, created}
  read: "read", // room → highest seq I have seen
  peers: "peers", // direct room → {id, name} of the other user
  drafts: "drafts", // room → unsent text in the composer
  current: "current", // the room on screen
  notify: "notify", // "on" when desktop notifications are wanted
};

export function load(key) {
  try { return localStorage.getItem(PREFIX + key); } catch { return null; }
}

export function save(key, value) {
  try {
    if (value == null) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, value);
  } catch { /* full or blocked storage: keep going without it */ }
}

export function loadJSON(key, fallback) {
  try { return JSON.parse(load(key)) ?? fallback; } catch { return fallback; }
}

export function saveJSON(key, value) {
  save(key, value == null ? null : JSON.stringify(value));
}

// update reads, changes and writes one JSON value, so what another tab
// wrote in between survives.
export function update(key, change) {
  const value = loadJSON(key, {});
  change(value);
  saveJSON(key, Object.keys(value).length ? value : null);
}

// forgetUser drops what belongs to one user: a different user signing in
// on this browser must not inherit the outbox or read marks.
export function forgetUser() {
  for (const key of [KEY.me, KEY.pending, KEY.read, KEY.peers, KEY.drafts, KEY.current]) save(key, null);
}

export function forgetAll() {
  forgetUser();
  for (const key of [KEY.mode, KEY.token, KEY.guestName]) save(key, null);
}

// newNonce: crypto.randomUUID exists only in secure contexts, and a LAN
// server on plain http is not one; getRandomValues works everywhere.
export function newNonce() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
