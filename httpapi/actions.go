package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// The room actions over HTTP: each route names a parley.v1 frame type, and
// the request becomes that frame (room from the path, the rest from the
// path and the body), decoded and validated by the protocol package and
// performed by Chat.Act, exactly as on the WebSocket.
func (a *API) actionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/rooms/{room}/members", a.action(protocol.TypeInvite, "", "user"))
	mux.HandleFunc("DELETE /api/rooms/{room}/members/{user}", a.action(protocol.TypeKick, "user"))
	mux.HandleFunc("PUT /api/rooms/{room}/bans/{user}", a.action(protocol.TypeBan, "user"))
	mux.HandleFunc("DELETE /api/rooms/{room}/bans/{user}", a.action(protocol.TypeUnban, "user"))
	mux.HandleFunc("PUT /api/rooms/{room}/mutes/{user}", a.action(protocol.TypeMute, "user", "seconds"))
	mux.HandleFunc("PUT /api/rooms/{room}/roles/{user}", a.action(protocol.TypeSetRole, "user", "role"))
	mux.HandleFunc("PUT /api/rooms/{room}/topic", a.action(protocol.TypeTopic, "", "topic"))
	mux.HandleFunc("PATCH /api/rooms/{room}/messages/{seq}", a.action(protocol.TypeEdit, "seq", "text"))
	mux.HandleFunc("DELETE /api/rooms/{room}/messages/{seq}", a.action(protocol.TypeDelete, "seq"))
}

// action handles one route: pathField ("user" or "seq"; empty for none)
// comes from the path, bodyFields from a JSON body. Success is 204.
func (a *API) action(typ, pathField string, bodyFields ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.principal(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		frame := map[string]any{"type": typ, "room": r.PathValue("room")}
		if len(bodyFields) > 0 {
			var body map[string]json.RawMessage
			if err := decode(w, r, &body); err != nil {
				a.fail(w, r, err)
				return
			}
			for key, v := range body {
				if key == "type" || key == "room" || key == "id" || key == pathField {
					a.fail(w, r, parley.Errorf(parley.EBADREQUEST, "The body has no field %q: the path says it.", key))
					return
				}
				frame[key] = v // unknown keys are refused by the decoder below
			}
		}
		switch pathField {
		case "user":
			frame["user"] = r.PathValue("user")
		case "seq":
			seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
			if err != nil {
				a.fail(w, r, parley.Errorf(parley.EBADREQUEST, "The message seq %q is not a number.", r.PathValue("seq")))
				return
			}
			frame["seq"] = seq
		}
		data, err := json.Marshal(frame)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		f, err := protocol.Decode(data, a.Chat.Limits())
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if err := a.Chat.Act(r.Context(), p, f); err != nil {
			a.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
