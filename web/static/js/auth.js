// Who the page is: an account (the HttpOnly session cookie, which the page
// never sees: it asks /api/me and lets the browser send the cookie), a
// guest (a token from the welcome frame, kept in localStorage), or a JWT
// user (a token an embedding app passes as #token=… in the URL). Signing
// in, registering, continuing as a guest, and signing out.

import { $ } from "./ui.js";
import * as store from "./store.js";

// The server's rule for account and guest names (parley.ValidateUserName).
export const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;

async function me(token) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const res = await fetch("/api/me", { headers, cache: "no-store", credentials: "same-origin" });
  if (res.status === 401) return null;
  if (!res.ok) throw new Error("HTTP " + res.status);
  return (await res.json()).user;
}

// resolve decides how to connect: {cred, kind, admin}, or null to show
// the sign-in screen (with a notice saying why, when there is one).
export async function resolve() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    // Take the token out of the address bar (and so out of history and
    // screenshots) at once.
    store.save(store.KEY.token, hash.get("token"));
    store.save(store.KEY.mode, "token");
    history.replaceState(null, "", location.pathname + location.search);
  }
  const mode = store.load(store.KEY.mode);
  const token = store.load(store.KEY.token);
  if (mode === "token" && token) {
    try {
      const user = await me(token);
      if (!user) {
        store.forgetAll();
        return { notice: "Your guest pass or sign-in token is no longer valid; sign in again." };
      }
      return { cred: { token }, kind: user.kind || "guest", admin: Boolean(user.admin) };
    } catch {
      return { cred: { token }, kind: "guest" }; // the server is busy; the socket will tell
    }
  }
  try {
    const user = await me();
    if (user) {
      store.save(store.KEY.mode, "cookie");
      return { cred: { cookie: true }, kind: user.kind || "account", admin: Boolean(user.admin) };
    }
  } catch {
    if (mode === "cookie") return { cred: { cookie: true }, kind: "account" };
  }
  if (mode === "cookie") {
    store.forgetAll();
    return { notice: "Your session has ended; sign in again." };
  }
  const guest = store.load(store.KEY.guestName);
  if (mode === "guest" && guest && NAME_RE.test(guest)) return { cred: { name: guest }, kind: "guest" };
  return {};
}

// setup wires the sign-in screen; done(resolved) starts the chat.
export function setup(done) {
  const form = $("signin-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const register = e.submitter?.value === "register";
    const name = $("signin-name").value.trim();
    const password = $("signin-password").value;
    const error = $("signin-error");
    if (!NAME_RE.test(name)) return fail(error, $("signin-name"), "Use 1–32 letters, digits, or _ . - (no spaces).");
    if (register && password.length < 8) return fail(error, $("signin-password"), "Use a password of at least 8 characters.");
    if (!password) return fail(error, $("signin-password"), "Enter your password.");
    error.textContent = "";
    setBusy(form, true);
    try {
      const res = await fetch(register ? "/api/register" : "/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name, password }),
        credentials: "same-origin",
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) return fail(error, null, body.message || `That did not work (HTTP ${res.status}).`);
      // The cookie is set; the token in the body is for non-browser
      // clients and is not kept.
      store.forgetAll();
      store.save(store.KEY.mode, "cookie");
      $("signin-password").value = "";
      done({ cred: { cookie: true }, kind: "account", admin: Boolean(body.user?.admin) });
    } catch {
      fail(error, null, "The server could not be reached; check your connection and try again.");
    } finally {
      setBusy(form, false);
    }
  });

  $("guest-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("guest-name").value.trim();
    if (!NAME_RE.test(name)) return fail($("guest-error"), $("guest-name"), "Use 1–32 letters, digits, or _ . - (no spaces).");
    $("guest-error").textContent = "";
    store.forgetAll();
    store.save(store.KEY.mode, "guest");
    store.save(store.KEY.guestName, name);
    done({ cred: { name }, kind: "guest" });
  });
}

function fail(error, input, text) {
  error.textContent = text;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
    input.addEventListener("input", () => input.removeAttribute("aria-invalid"), { once: true });
  }
}

function setBusy(form, busy) {
  for (const b of form.querySelectorAll("button")) b.disabled = busy;
  form.setAttribute("aria-busy", String(busy));
}

export function show(notice) {
  $("app").hidden = true;
  $("auth").hidden = false;
  $("auth-notice").textContent = notice || "";
  $("auth-notice").hidden = !notice;
  $("signin-name").focus();
}

export async function signOut(cookie) {
  if (cookie) {
    try {
      await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
    } catch { /* the cookie is dropped by the next login anyway */ }
  }
  store.forgetAll();
}
