// Package web is Parley's browser client: index.html, style.css, icon.svg
// and the ES modules in static/js, embedded in the binary with go:embed
// and served by Handler at /, /style.css, /icon.svg and /js/*.js.
//
// The client is plain ES modules and CSS with no build step and no
// dependencies (docs/client.md describes it). It speaks parley.v1 to /ws
// on the page's own host: every room the user is in is joined on each
// connection and resumed from its last seq, and unacknowledged messages
// wait in localStorage and are re-sent with their original nonce, which
// the server deduplicates, so a reconnect or a reload never loses or
// repeats a word.
//
// Everything the page does fits the strict Content-Security-Policy that
// httpapi sets on every response: no inline scripts or styles, no eval,
// no external resources, and user text reaches the DOM only as text. The
// tests check the files for the first three; the browser tests in
// cmd/parley check the last in a real browser, with a corpus of XSS
// payloads.
//
// Handler is safe for concurrent use; the files never change at run time.
package web
