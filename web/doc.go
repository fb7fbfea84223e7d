// Package web is Parley's browser chat page: index.html, app.js and
// style.css, embedded in the binary with go:embed and served by Handler at
// /, /app.js and /style.css.
//
// The page is a plain ES module with no build step and no dependencies. It
// speaks parley.v1 to /ws on the page's own host (subprotocol "parley.v1"),
// joins the lobby, and keeps the user's identity (the guest token) and any
// unacknowledged messages in localStorage, so a reload or a reconnect is the
// same user and never loses a word: a pending message is re-sent with its
// original nonce, which the server deduplicates.
//
// Everything the page does fits the strict Content-Security-Policy that
// httpapi sets on every response: no inline scripts or styles, no eval, no
// external resources, and user text reaches the DOM only as text. The tests
// check the first and the last of these on the embedded files.
//
// Handler is safe for concurrent use; the files never change at run time.
package web
