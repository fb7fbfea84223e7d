// Package bench is the load generator and measuring instrument behind
// "parley bench": it opens many WebSocket connections to a chat server,
// drives a scenario (idle, fanout, ramp, sends, storm, soak) and reports
// what it measured as a table, JSON or a self-contained HTML page.
//
// It speaks parley.v1 by default and, with --proto text, plain text frames,
// so the same tool measures any server that broadcasts text frames to every
// connection (Parley's text mode, the gorilla/websocket chat example).
//
// The client side is built for cost, because it shares the machine with the
// server it measures: one goroutine per connection reading through a small
// bufio.Reader, frames read and written by hand (gobwas/ws only for the
// handshake), and deliveries recognised by scanning the frame bytes
// (ScanMessage) instead of decoding JSON. Latencies go into a fixed-size
// log-linear Histogram.
//
// Every goroutine has an owner that stops it and waits for it: a group owns
// the read loops of its connections and closes them; scenarios run under the
// context Main derives from --timeout. Nothing here keeps global state, so
// several Main calls may run at once.
//
// Benchmarking Parley: start the server with sending limits far above the
// load, or its rate limit (10 messages/s per connection by default) refuses
// the publishers' sends:
//
//	parley serve --rate 100000 --burst 100000 --log-level warn
package bench
