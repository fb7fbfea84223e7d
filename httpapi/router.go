package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Config is what the router mounts. Nil handlers are not mounted.
type Config struct {
	WS      http.Handler // GET /ws
	Echo    http.Handler // GET /ws/echo, for conformance tests only
	Web     http.Handler // the browser client, at /
	Metrics http.Handler // GET /metrics
	API     *API         // /api/
	// Health names each dependency and the check of whether it answers.
	Health map[string]func(ctx context.Context) error
	Logger *slog.Logger
}

// healthTimeout bounds a health check, so /healthz answers even when the
// store hangs.
const healthTimeout = 2 * time.Second

// NewRouter returns the handler for every HTTP path Parley serves.
func NewRouter(c Config) http.Handler {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	if c.WS != nil {
		mux.Handle("GET /ws", c.WS)
	}
	if c.Echo != nil {
		mux.Handle("GET /ws/echo", c.Echo)
	}
	if c.API != nil {
		c.API.Routes(mux)
	}
	if c.Metrics != nil {
		mux.Handle("GET /metrics", c.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		status, code := "ok", http.StatusOK
		checks := make(map[string]string, len(c.Health))
		for name, check := range c.Health {
			checks[name] = "ok"
			if err := check(ctx); err != nil {
				log.Warn("health check failed", "dependency", name, "err", err)
				// The cause goes to the log: it may name hosts a public probe
				// has no business knowing.
				checks[name] = "down"
				status, code = "unavailable", http.StatusServiceUnavailable
			}
		}
		WriteJSON(w, code, map[string]any{"status": status, "checks": checks})
	})
	if c.Web != nil {
		mux.Handle("GET /", c.Web)
	}
	return securityHeaders(mux)
}

// contentSecurityPolicy allows the page's own scripts, styles and WebSocket
// and nothing else: no inline script, no eval, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}
