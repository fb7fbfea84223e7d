package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/parleychat/parley"
)

// statusOf is the one translation of error codes into HTTP statuses.
var statusOf = map[string]int{
	parley.EBADREQUEST:   http.StatusBadRequest,
	parley.EUNAUTHORIZED: http.StatusUnauthorized,
	parley.EFORBIDDEN:    http.StatusForbidden,
	parley.ENOTFOUND:     http.StatusNotFound,
	parley.ECONFLICT:     http.StatusConflict,
	parley.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	parley.ERATELIMITED:  http.StatusTooManyRequests,
	parley.EUNAVAILABLE:  http.StatusServiceUnavailable,
	parley.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError answers with err's status and a JSON {code, message}. Internal
// errors get a generic message; the caller logs the details.
func WriteError(w http.ResponseWriter, err error) {
	code := parley.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	WriteJSON(w, status, ErrorBody{Code: code, Message: parley.ErrorMessage(err)})
}

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
