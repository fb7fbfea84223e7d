package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/auth"
	"github.com/parleychat/parley/httpapi"
	"github.com/parleychat/parley/hub"
	"github.com/parleychat/parley/metrics"
	"github.com/parleychat/parley/protocol"
	"github.com/parleychat/parley/web"
	"github.com/parleychat/parley/ws"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c serveConfig
	fs := newServeFlags(&c, stderr)
	if err := parseFlags(fs, args, getenv, false); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	log, err := newLogger(stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// Idle connections make a large, quiet heap, where the default
		// GOGC=100 headroom would be most of the memory (docs/performance.md).
		debug.SetGCPercent(c.GCPercent)
	}
	a, err := newApp(c, log)
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", c.Addr, err)
	}
	scheme := "http"
	if a.http.TLSConfig != nil {
		scheme = "https"
	}
	log.Info("parley is serving", "version", buildVersion(), "addr", ln.Addr().String(), "store", storeName(c), "broker", redact(c.Broker),
		"url", scheme+"://"+displayAddr(ln.Addr()), "guests", c.Guests, "registration", c.Registration, "jwt", a.cfg.JWTSecret != "" || a.cfg.JWTKeys != "")
	return a.run(ctx, ln)
}

// app is one wired Parley server.
type app struct {
	cfg    serveConfig
	log    *slog.Logger
	db     parley.Store
	broker parley.Broker // nil for a single node
	hub    *hub.Hub
	ws     *ws.Handler
	http   *http.Server
}

func newApp(c serveConfig, log *slog.Logger) (*app, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := openStore(ctx, c.Store, c.Data, log)
	if err != nil {
		return nil, err
	}
	// The lobby always exists, for the API as for the WebSocket.
	if _, err := db.EnsureRoom(ctx, parley.Lobby); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating the lobby: %w", err)
	}
	broker, err := openBroker(c.Broker, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	a := &app{cfg: c, log: log, db: db, broker: broker}
	if err := a.wire(); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// wire builds the hub and the HTTP server over the opened store and broker.
func (a *app) wire() error {
	c, log, db := a.cfg, a.log, a.db
	reg := metrics.New()
	store := reg.InstrumentStore(db)
	accounts := &auth.Accounts{Store: store, SessionTTL: c.SessionTTL, Throttle: auth.NewThrottle(nil)}
	jwt, err := c.jwtVerifier()
	if err != nil {
		return err
	}
	authn := &auth.Authenticator{Guests: auth.Guests{Users: store}, Accounts: accounts, JWT: jwt, AllowGuests: c.Guests, External: store}
	h := hub.New(store, hub.Options{
		Limits:          protocol.Limits{MaxText: c.MaxText, Rate: c.Rate, Burst: c.Burst},
		Heartbeat:       c.Heartbeat,
		QueueBytes:      c.QueueBytes,
		Coalesce:        c.Coalesce,
		MaxReplay:       c.MaxReplay,
		Broker:          a.broker,
		PresenceRefresh: c.PresenceRefresh,
		PresenceLinger:  off(c.PresenceLinger),
		PresenceLimit:   off(c.PresenceLimit),
		Revalidate:      authn.Revalidate,
		RevalidateEvery: c.Revalidate,
		Framer:          ws.Framer{},
		Logger:          log,
	})
	reg.WatchHub(h)

	tlsConf, err := c.tlsConfig()
	if err != nil {
		return err
	}
	proxies, err := c.trustedProxies()
	if err != nil {
		return err
	}
	a.ws = ws.NewHandler(h, authn, ws.Options{
		AllowedOrigins: c.allowedOrigins(),
		EventLoop:      true,
		Compression:    c.Compression,
		Logger:         log,
	})
	var echo http.Handler
	if c.ConformanceEcho {
		echo = ws.NewEchoHandler(h, ws.Options{Compression: c.Compression, Logger: log})
		log.Warn("serving /ws/echo for conformance tests: anyone may use it")
	}
	router := httpapi.NewRouter(httpapi.Config{
		Echo: echo,
		WS:   a.ws,
		API: &httpapi.API{
			Auth: authn, Accounts: accounts, Chat: h,
			OpenRegistration: c.Registration == "open", TrustedProxies: proxies, Logger: log,
		},
		Web:     web.Handler(),
		Metrics: reg.Handler(),
		Health:  a.healthChecks(),
		Logger:  log,
	})
	a.hub = h
	a.http = &http.Server{
		Handler:           router,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		// Bounds reading a whole API request; a WebSocket upgrade clears
		// the deadline and keeps its own per frame.
		ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return nil
}

// healthChecks names each dependency /healthz asks.
func (a *app) healthChecks() map[string]func(context.Context) error {
	checks := map[string]func(context.Context) error{"store": a.db.Ping}
	if a.broker != nil {
		checks["broker"] = a.broker.Ping
	}
	return checks
}

// run serves on ln until ctx ends, then stops within the shutdown grace:
// stop accepting, close every WebSocket with 1001 after its queued frames,
// stop the heartbeat.
func (a *app) run(ctx context.Context, ln net.Listener) error {
	// The hub and the WebSocket event loop run until the connections are
	// closed, so they stop after the shutdown below.
	hubCtx, stopHub := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	loops.Add(2)
	go func() {
		defer loops.Done()
		if err := a.hub.Run(hubCtx); err != nil {
			a.log.Error("the hub stopped", "err", err)
		}
	}()
	go func() {
		defer loops.Done()
		if err := a.ws.Run(hubCtx); err != nil {
			a.log.Error("the WebSocket event loop stopped", "err", err)
		}
	}()
	defer func() { stopHub(); loops.Wait() }()
	serveDone := make(chan error, 1)
	go func() {
		if a.http.TLSConfig != nil {
			serveDone <- a.http.ServeTLS(ln, "", "")
			return
		}
		serveDone <- a.http.Serve(ln)
	}()

	select {
	case err := <-serveDone:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("stopping: closing connections", "grace", a.cfg.ShutdownGrace.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
	defer cancel()
	// WebSockets are hijacked, so the HTTP server's Shutdown doesn't wait
	// for them; the hub closes them.
	httpErr := a.http.Shutdown(shutdownCtx)
	hubErr := a.hub.Shutdown(shutdownCtx)
	if err := errors.Join(httpErr, hubErr); err != nil {
		a.log.Warn("stopped with connections dropped", "err", err)
	}
	a.log.Info("stopped")
	return nil
}

// jwtVerifier returns the verifier --jwt-secret and --jwt-key configure, or
// nil when neither is set.
func (c *serveConfig) jwtVerifier() (*auth.JWTVerifier, error) {
	var keys []crypto.PublicKey
	for _, path := range splitList(c.JWTKeys) {
		k, err := auth.LoadPublicKey(path)
		if err != nil {
			return nil, fmt.Errorf("%w: --jwt-key: %v", errUsage, err)
		}
		keys = append(keys, k)
	}
	if c.JWTSecret == "" && len(keys) == 0 {
		return nil, nil
	}
	return auth.NewJWTVerifier([]byte(c.JWTSecret), keys, nil)
}

// close releases the broker and the store; call it after run returns.
func (a *app) close() {
	if a.broker != nil {
		if err := a.broker.Close(); err != nil {
			a.log.Error("closing the broker", "err", err)
		}
	}
	if err := a.db.Close(); err != nil {
		a.log.Error("closing the database", "err", err)
	}
}

// off maps a flag's 0 ("not at all", "no limit") to the hub's negative,
// since the hub's zero value means its default.
func off[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// storeName says in logs which store serves, without its password.
func storeName(c serveConfig) string {
	if c.Store != "" {
		return redact(c.Store)
	}
	return "sqlite:" + dataPath(c.Data)
}

// dataPath is the SQLite database inside the data directory.
func dataPath(dir string) string { return filepath.Join(dir, "parley.db") }

// displayAddr turns a listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return tcp.String()
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level must be debug, info, warn or error, not %q", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
