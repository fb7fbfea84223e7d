// Package epoll is the epoll plumbing shared by the WebSocket server's
// event loop (ws) and the bench's receivers: waiting on a set through Go's
// own poller, and events that carry a 64-bit id. Linux only; elsewhere the
// package is empty and its users fall back to a goroutine per connection.
package epoll
