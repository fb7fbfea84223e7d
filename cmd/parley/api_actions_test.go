package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// apiDo sends method path with body as the token's user and returns the
// status and the error code, if any.
func apiDo(t *testing.T, s *testServer, token, method, path string, body any) (int, string) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "http://"+s.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}

// TestRoomActionsOverHTTP: invite, roles, mute, topic, edit, delete, kick,
// ban and unban over the API, each allowed for the owner and refused for a
// member with nothing changed, as on the WebSocket.
func TestRoomActionsOverHTTP(t *testing.T) {
	s := startServer(t, nil)
	ownerTok, memberTok := register(t, s, "owner"), register(t, s, "member")
	targetTok := register(t, s, "target")
	member := dial(t, s, "token="+memberTok)
	target := dial(t, s, "token="+targetTok)
	memberID, _ := member.user()
	targetID, _ := target.user()

	if code, _ := apiDo(t, s, ownerTok, "POST", "/api/rooms", map[string]any{"name": "crew", "kind": "private", "members": []string{memberID}}); code != 201 {
		t.Fatalf("create: %d", code)
	}
	base := "/api/rooms/crew"
	// The member may not moderate; nothing changes.
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", base + "/members", map[string]any{"user": targetID}},
		{"PUT", base + "/topic", map[string]any{"topic": "hijacked"}},
		{"PUT", base + "/bans/" + targetID, nil},
	} {
		if code, ec := apiDo(t, s, memberTok, c.method, c.path, c.body); code != 403 || ec != "forbidden" {
			t.Errorf("member %s %s: %d %s, want 403 forbidden", c.method, c.path, code, ec)
		}
	}
	if m, _ := s.app.db.Membership(t.Context(), "crew", targetID); m.Role != "" || m.Banned {
		t.Fatalf("a refused action changed the target's membership: %+v", m)
	}
	// An outsider can't even tell the room exists.
	if code, ec := apiDo(t, s, targetTok, "PUT", base+"/topic", map[string]any{"topic": "x"}); code != 404 || ec != "not_found" {
		t.Errorf("outsider topic: %d %s, want 404", code, ec)
	}

	steps := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", base + "/members", map[string]any{"user": targetID}, 204},
		{"PUT", base + "/roles/" + memberID, map[string]any{"role": "moderator"}, 204},
		{"PUT", base + "/mutes/" + targetID, map[string]any{"seconds": 60}, 204},
		{"PUT", base + "/topic", map[string]any{"topic": "deploys"}, 204},
		{"PUT", base + "/topic", map[string]any{"topic": "x", "room": "lobby"}, 400},
		{"PUT", base + "/mutes/" + targetID, map[string]any{"seconds": -1}, 400},
		{"PATCH", base + "/messages/abc", map[string]any{"text": "x"}, 400},
	}
	for _, st := range steps {
		if code, ec := apiDo(t, s, ownerTok, st.method, st.path, st.body); code != st.want {
			t.Errorf("owner %s %s %v: %d %s, want %d", st.method, st.path, st.body, code, ec, st.want)
		}
	}
	if m, _ := s.app.db.Membership(t.Context(), "crew", targetID); m.Role != "member" || m.MutedUntil.IsZero() {
		t.Errorf("after invite and mute: %+v", m)
	}
	if r, _ := s.app.db.Room(t.Context(), "crew"); r.Topic != "deploys" {
		t.Errorf("topic %q", r.Topic)
	}

	// Edit and delete: own messages, and a moderator deleting another's.
	code, _ := apiDo(t, s, memberTok, "POST", base+"/messages", map[string]any{"text": "helo", "nonce": "n1"})
	if code != 200 {
		t.Fatalf("post: %d", code)
	}
	if code, _ := apiDo(t, s, ownerTok, "PATCH", base+"/messages/1", map[string]any{"text": "not yours"}); code != 403 {
		t.Errorf("owner editing the member's message: %d, want 403", code)
	}
	if code, _ := apiDo(t, s, memberTok, "PATCH", base+"/messages/1", map[string]any{"text": "hello"}); code != 204 {
		t.Errorf("member editing own: %d", code)
	}
	if m, _ := s.app.db.Message(t.Context(), "crew", 1); m.Text != "hello" || m.EditedAt.IsZero() {
		t.Errorf("after edit: %+v", m)
	}
	if code, _ := apiDo(t, s, ownerTok, "DELETE", base+"/messages/1", nil); code != 204 {
		t.Errorf("owner deleting: %d", code)
	}
	if m, _ := s.app.db.Message(t.Context(), "crew", 1); !m.Deleted || m.Text != "" {
		t.Errorf("after delete: %+v", m)
	}

	// Kick, ban, unban.
	for _, st := range []struct{ method, path string }{
		{"DELETE", base + "/members/" + targetID},
		{"PUT", base + "/bans/" + targetID},
		{"DELETE", base + "/bans/" + targetID},
	} {
		if code, ec := apiDo(t, s, ownerTok, st.method, st.path, nil); code != 204 {
			t.Errorf("owner %s %s: %d %s", st.method, st.path, code, ec)
		}
	}
	if m, _ := s.app.db.Membership(t.Context(), "crew", targetID); m.Role != "" || m.Banned {
		t.Errorf("after kick, ban and unban: %+v", m)
	}
}
