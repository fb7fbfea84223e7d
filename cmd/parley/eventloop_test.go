package main

import (
	"fmt"
	"testing"
	"time"
)

// TestEventLoopForgetsClosedConnections: connections parked in the event
// loop leave it when they close, whichever side closes them.
func TestEventLoopForgetsClosedConnections(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Heartbeat = 300 * time.Millisecond })
	var clients []*client
	for i := range 6 {
		dialer := dial
		if i == 1 {
			dialer = dialSilent
		}
		c := dialer(t, s, queryName(fmt.Sprintf("u%d", i)))
		c.join("lobby", nil)
		clients = append(clients, c)
	}
	waitParked := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s.app.ws.Parked() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections parked, want %d", s.app.ws.Parked(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitParked(6)
	// Closed by the client, by the server for silence, and by the hub.
	clients[0].conn.Close()
	waitParked(4) // clients[1] never answers pings
	s.app.hub.Shutdown(t.Context())
	waitParked(0)
}
