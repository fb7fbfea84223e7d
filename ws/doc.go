// Package ws is Parley's WebSocket endpoint: the upgrade (subprotocol,
// origin and identity checks), the read loop with its limits, UTF-8 checks
// and heartbeat deadline, and the framing of what the hub sends. It adapts
// each connection to hub.Transport.
//
// gobwas/ws provides the handshake and frame headers; it holds no buffers
// or goroutines of its own, so each connection costs one read goroutine and
// nothing else while idle (the hub's writer runs only while frames wait).
package ws
