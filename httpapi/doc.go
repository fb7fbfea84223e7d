// Package httpapi is Parley's HTTP surface: the router that mounts the
// WebSocket endpoint, the web client, health and metrics; the security
// headers every response carries; and the one table that turns a
// parley.Error into an HTTP status and a JSON body.
package httpapi
