package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/auth"
	"github.com/parleychat/parley/protocol"
)

// Verifier tells whose token this is.
type Verifier interface {
	// Verify returns the principal of a session token, guest token or JWT.
	// Returns EUNAUTHORIZED for a bad, expired or revoked one.
	Verify(ctx context.Context, token string) (parley.Principal, error)
}

// Chat is what the API does in rooms, each call checked against the
// principal's rights (the hub implements it).
type Chat interface {
	// Post stores and delivers a message, with the nonce rule of the
	// WebSocket send: a repeated nonce returns the original message.
	Post(ctx context.Context, p parley.Principal, room, text, nonce string) (parley.Message, error)
	History(ctx context.Context, p parley.Principal, room string, before parley.Seq, limit int) ([]parley.Message, bool, error)
	CreateRoom(ctx context.Context, p parley.Principal, name string, kind parley.RoomKind, topic string, members []string) (parley.RoomMembership, error)
	Rooms(ctx context.Context, p parley.Principal) ([]parley.RoomMembership, error)
	// Act performs a moderation, topic, edit or delete frame.
	Act(ctx context.Context, p parley.Principal, f protocol.ClientFrame) error
	// Limits are the limits frames are validated against.
	Limits() protocol.Limits
}

// API serves /api/.
type API struct {
	Auth     Verifier
	Accounts *auth.Accounts
	Chat     Chat
	// OpenRegistration lets anyone register; otherwise only an admin (with
	// `parley user add`) creates accounts.
	OpenRegistration bool
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client, for login throttling.
	TrustedProxies []netip.Prefix
	MaxText        int
	Logger         *slog.Logger
}

// maxBody bounds every API request body.
const maxBody = 64 << 10

// Routes mounts the API on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/register", a.register)
	mux.HandleFunc("POST /api/login", a.login)
	mux.HandleFunc("POST /api/logout", a.logout)
	mux.HandleFunc("GET /api/me", a.me)
	mux.HandleFunc("GET /api/rooms", a.rooms)
	mux.HandleFunc("POST /api/rooms", a.createRoom)
	mux.HandleFunc("GET /api/rooms/{room}/messages", a.history)
	mux.HandleFunc("POST /api/rooms/{room}/messages", a.post)
	a.actionRoutes(mux)
	// Unknown API paths answer in JSON, not with the web page's 404, and so
	// do known paths asked with another method (which the mux would answer
	// with a plain-text 405). A method-less "/api/" would conflict with the
	// web page's "GET /", so the methods are listed.
	notFound := func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, parley.Errorf(parley.ENOTFOUND, "There is no API endpoint %s %s.", r.Method, r.URL.Path))
	}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		mux.HandleFunc(method+" /api/", notFound)
	}
}

// fail answers with err, logging it when it is internal.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	// The client gets a generic sentence for these; the cause goes to the log.
	if code := parley.ErrorCode(err); (code == parley.EINTERNAL || code == parley.EUNAVAILABLE) && a.Logger != nil {
		a.Logger.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteError(w, err)
}

// decode reads a JSON body into v, refusing unknown fields, trailing data
// and bodies over maxBody.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return parley.Errorf(parley.ETOOLARGE, "The request body is over %d bytes.", maxBody)
		}
		return parley.Errorf(parley.EBADREQUEST, "The request body is not the JSON this endpoint takes: %v.", err)
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return parley.Errorf(parley.EBADREQUEST, "The request body has data after its JSON object.")
	}
	return nil
}

// principal authenticates the request by its token (header, ?token= or
// cookie). The API never creates guests: a request without credentials is
// EUNAUTHORIZED.
func (a *API) principal(r *http.Request) (parley.Principal, error) {
	token := auth.Credential(r)
	if token == "" {
		return parley.Principal{}, parley.Errorf(parley.EUNAUTHORIZED, "Sign in first: send Authorization: Bearer TOKEN or the session cookie.")
	}
	return a.Auth.Verify(r.Context(), token)
}

type userJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Kind  string `json:"kind,omitempty"`
	Admin bool   `json:"admin,omitempty"`
}

type sessionJSON struct {
	Token   string   `json:"token"`
	Expires string   `json:"expires"`
	User    userJSON `json:"user"`
}

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (a *API) register(w http.ResponseWriter, r *http.Request) {
	if !a.OpenRegistration {
		a.fail(w, r, parley.Errorf(parley.EFORBIDDEN, "Registration is closed on this server; ask an admin for an account."))
		return
	}
	var c credentials
	if err := decode(w, r, &c); err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.Accounts.Register(r.Context(), c.Name, c.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.startSession(w, r, http.StatusCreated, s)
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := decode(w, r, &c); err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.Accounts.Login(r.Context(), c.Name, c.Password, auth.RemoteIP(r, a.TrustedProxies))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.startSession(w, r, http.StatusOK, s)
}

// startSession answers with the token and sets it as the browser's cookie:
// HttpOnly so scripts (and XSS) can't read it, SameSite=Lax so other sites
// can't post with it, Secure when served over TLS.
func (a *API) startSession(w http.ResponseWriter, r *http.Request, status int, s auth.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: auth.SessionCookie, Value: s.Token, Path: "/", Expires: s.Expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	kind := string(parley.KindAccount)
	WriteJSON(w, status, sessionJSON{
		Token: s.Token, Expires: s.Expires.UTC().Format(time.RFC3339),
		User: userJSON{ID: s.User.ID, Name: s.User.Name, Kind: kind, Admin: s.Admin},
	})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if token := auth.Credential(r); token != "" {
		if err := a.Accounts.Logout(r.Context(), token); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	p, err := a.principal(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"user": userJSON{ID: p.ID, Name: p.Name, Kind: string(p.Kind), Admin: p.Admin},
	})
}
