package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

type roomJSON struct {
	Name  string          `json:"name"`
	Kind  parley.RoomKind `json:"kind"`
	Topic string          `json:"topic"`
	Role  parley.Role     `json:"role,omitempty"`
}

func roomOf(m parley.RoomMembership) roomJSON {
	return roomJSON{Name: m.Room.Name, Kind: m.Room.Kind, Topic: m.Room.Topic, Role: m.Role}
}

func (a *API) rooms(w http.ResponseWriter, r *http.Request) {
	p, err := a.principal(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rooms, err := a.Chat.Rooms(r.Context(), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]roomJSON, len(rooms))
	for i, m := range rooms {
		out[i] = roomOf(m)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"rooms": out})
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request) {
	p, err := a.principal(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req struct {
		Name    string   `json:"name"`
		Kind    string   `json:"kind"`
		Topic   string   `json:"topic"`
		Members []string `json:"members"`
	}
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	kind := parley.RoomKind(req.Kind)
	if kind == "" {
		kind = parley.RoomPublic
	}
	m, err := a.Chat.CreateRoom(r.Context(), p, req.Name, kind, req.Topic, req.Members)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"room": roomOf(m)})
}

func (a *API) history(w http.ResponseWriter, r *http.Request) {
	p, err := a.principal(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	room := r.PathValue("room")
	before, err := queryInt(r, "before", 0, 0, 1<<62)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", protocol.DefaultHistoryLimit, 1, protocol.MaxHistoryLimit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	msgs, more, err := a.Chat.History(r.Context(), p, room, before, int(limit))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	objs := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		objs[i] = protocol.AppendMessageObject(nil, m)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"room": room, "messages": objs, "more": more})
}

func (a *API) post(w http.ResponseWriter, r *http.Request) {
	p, err := a.principal(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req struct {
		Text  string `json:"text"`
		Nonce string `json:"nonce"`
	}
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	m, err := a.Chat.Post(r.Context(), p, r.PathValue("room"), req.Text, req.Nonce)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"room": m.Room, "seq": m.Seq, "nonce": m.Nonce})
}

// queryInt reads an integer query parameter within [lo, hi], or def.
func queryInt(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, parley.Errorf(parley.EBADREQUEST, "%s must be an integer from %d to %d, not %q.", name, lo, hi, v)
	}
	return n, nil
}
