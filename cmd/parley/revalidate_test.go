package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/parleychat/parley/auth"
)

// TestEndedSessionClosesOpenConnections: disabling an account (as
// `parley user disable` does, from another process) or logging out closes
// the connections already open with that session, within --revalidate.
func TestEndedSessionClosesOpenConnections(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Revalidate = 200 * time.Millisecond })
	token := register(t, s, "mallory")
	c := dial(t, s, "token="+token)
	c.join("lobby", nil)
	other := dial(t, s, "token="+register(t, s, "trent"))
	other.join("lobby", nil)

	if _, err := (&auth.Accounts{Store: s.app.db}).Disable(context.Background(), "mallory"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code := c.closeCode(); code != 4001 {
		t.Fatalf("close code %d, want 4001", code)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v, want within about --revalidate", d)
	}
	// Other sessions stay.
	if pong := other.request(map[string]any{"type": "ping"}); pong.str("type") != "pong" {
		t.Errorf("another user's connection: %v", pong)
	}

	// Logout ends the connections of that session too.
	req, _ := http.NewRequest("POST", "http://"+s.addr+"/api/logout", nil)
	tok := register(t, s, "walter")
	w := dial(t, s, "token="+tok)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %v %s", err, respBody(resp))
	}
	if code := w.closeCode(); code != 4001 {
		t.Errorf("after logout: close code %d, want 4001", code)
	}
}
