package ws

import (
	"net/http/httptest"
	"testing"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/hub"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		mode    hub.Mode
		err     bool
	}{
		{"none offered", nil, hub.ModeText, false},
		{"empty header", []string{""}, hub.ModeText, false},
		{"only separators", []string{" , ,"}, hub.ModeText, false},
		{"parley.v1", []string{"parley.v1"}, hub.ModeJSON, false},
		{"among others in one header", []string{"chat, parley.v1 ,x"}, hub.ModeJSON, false},
		{"among others in several headers", []string{"chat", "parley.v1"}, hub.ModeJSON, false},
		{"only others", []string{"chat, superchat"}, 0, true},
		{"case matters", []string{"Parley.V1"}, 0, true},
		{"a later version", []string{"parley.v2"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode, err := negotiate(tc.headers)
			if tc.err {
				if parley.ErrorCode(err) != parley.EBADREQUEST {
					t.Fatalf("err %v, want %s", err, parley.EBADREQUEST)
				}
				return
			}
			if err != nil || mode != tc.mode {
				t.Fatalf("got %v, %v; want %v", mode, err, tc.mode)
			}
		})
	}
}

func TestOriginAllowed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		host    string
		origin  string
		want    bool
	}{
		{"no origin", nil, "chat.example.com", "", true},
		{"same origin", nil, "chat.example.com", "https://chat.example.com", true},
		{"same origin with port", nil, "localhost:8080", "http://localhost:8080", true},
		{"host case differs", nil, "chat.example.com", "https://Chat.Example.com", true},
		{"other port", nil, "localhost:8080", "http://localhost:9090", false},
		{"other site", nil, "chat.example.com", "https://evil.example", false},
		{"suffix of our host", nil, "example.com", "https://evilexample.com", false},
		{"our host as a prefix", nil, "example.com", "https://example.com.evil.org", false},
		{"opaque origin", nil, "chat.example.com", "null", false},
		{"not a URL", nil, "chat.example.com", "chat.example.com", false},
		{"listed", []string{"https://app.example.org"}, "chat.example.com", "https://app.example.org", true},
		{"listed with a slash", []string{"https://app.example.org/"}, "chat.example.com", "https://app.example.org", true},
		{"listed, case differs", []string{"https://APP.example.org"}, "chat.example.com", "https://app.example.org", true},
		{"listed, other scheme", []string{"https://app.example.org"}, "chat.example.com", "http://app.example.org", false},
		{"listed, longer origin", []string{"https://app.example.org"}, "chat.example.com", "https://app.example.org.evil.com", false},
		{"wildcard", []string{"*"}, "chat.example.com", "https://anything.example", true},
		{"wildcard, opaque origin", []string{"*"}, "chat.example.com", "null", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandler(nil, nil, Options{AllowedOrigins: tc.allowed})
			r := httptest.NewRequest("GET", "/ws", nil)
			r.Host = tc.host
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if got := h.originAllowed(r); got != tc.want {
				t.Fatalf("originAllowed = %v, want %v", got, tc.want)
			}
		})
	}
}
