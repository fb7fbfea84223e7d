package ws

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/auth"
	"github.com/parleychat/parley/httpapi"
	"github.com/parleychat/parley/hub"
	"github.com/parleychat/parley/protocol"
)

// Authenticator tells who an upgrade request speaks for.
type Authenticator interface {
	// Authenticate returns the request's identity. Returns EUNAUTHORIZED
	// for bad credentials and EBADREQUEST for a bad name; any other error
	// is internal.
	Authenticate(ctx context.Context, r *http.Request) (auth.Identity, error)
}

// Options configure the endpoint; zero values mean defaults.
type Options struct {
	// AllowedOrigins may open /ws besides the server's own origin; "*"
	// allows any.
	AllowedOrigins []string
	// WriteTimeout bounds each write to a client (10s).
	WriteTimeout time.Duration
	// EventLoop parks idle connections in an epoll set instead of a read
	// goroutine each (Linux; Run must be running). It saves most of an idle
	// connection's memory.
	EventLoop bool
	// Compression accepts permessage-deflate when a client offers it. A
	// broadcast is compressed once for every connection that negotiated it.
	Compression bool
	Logger      *slog.Logger
}

// Handler is the GET /ws endpoint.
type Handler struct {
	hub  *hub.Hub
	auth Authenticator
	opts Options
	log  *slog.Logger

	echo    bool        // the conformance echo endpoint
	poller  *poller     // nil without Options.EventLoop
	polling atomic.Bool // Run is dispatching the poller's events
}

// NewHandler returns the endpoint serving connections into h.
func NewHandler(h *hub.Hub, a Authenticator, opts Options) *Handler {
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	hd := &Handler{hub: h, auth: a, opts: opts, log: opts.Logger}
	if opts.EventLoop {
		p, err := newPoller(opts.Logger)
		if err != nil {
			opts.Logger.Warn("no event loop; every connection gets a read goroutine", "err", err)
		} else {
			hd.poller = p
		}
	}
	return hd
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		httpapi.WriteError(w, parley.Errorf(parley.EBADREQUEST, "This endpoint speaks WebSocket; open it with a WebSocket client."))
		return
	}
	if h.echo {
		h.serveEcho(w, r)
		return
	}
	mode, err := negotiate(r.Header.Values("Sec-WebSocket-Protocol"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if !h.originAllowed(r) {
		h.log.Warn("refused a cross-site WebSocket upgrade", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		httpapi.WriteError(w, parley.Errorf(parley.EFORBIDDEN, "The origin %s may not open this WebSocket; the server's operator can allow it with --allowed-origins.", r.Header.Get("Origin")))
		return
	}
	id, err := h.auth.Authenticate(r.Context(), r)
	if err != nil {
		if parley.ErrorCode(err) == parley.EINTERNAL {
			h.log.Error("authenticating a WebSocket upgrade", "remote", r.RemoteAddr, "err", err)
		}
		httpapi.WriteError(w, err)
		return
	}

	upgrader, deflate := h.upgrader()
	if mode == hub.ModeJSON {
		upgrader.Protocol = func(p string) bool { return p == protocol.Subprotocol }
	}
	netConn, rw, _, err := upgrader.Upgrade(r, w)
	if err != nil {
		// The upgrader has answered the client already.
		h.log.Info("WebSocket handshake failed", "remote", r.RemoteAddr, "err", err)
		if netConn != nil {
			netConn.Close()
		}
		return
	}
	// The connection outlives this request when the event loop serves it,
	// so its work must not end with the request's context, nor keep that
	// context's chain (and the HTTP connection state it holds) alive.
	h.serve(context.Background(), netConn, rw.Reader, hub.ConnInfo{Principal: id.Principal, Credential: id.Credential, Mode: mode, Remote: r.RemoteAddr, Token: id.Token, Compress: deflate.accepted()})
}

// upgrader returns the handshake's settings and what it negotiates
// permessage-deflate with (never accepting without Options.Compression).
func (h *Handler) upgrader() (ws.HTTPUpgrader, *negotiator) {
	u := ws.HTTPUpgrader{Timeout: h.opts.WriteTimeout}
	n := newNegotiator()
	if h.opts.Compression {
		u.Negotiate = n.negotiate
	}
	return u, n
}

// serve runs one connection's read loop until the connection ends.
func (h *Handler) serve(ctx context.Context, netConn net.Conn, buffered *bufio.Reader, info hub.ConnInfo) {
	c := newConn(netConn, h.opts.WriteTimeout)
	c.h = h // before the hub has the connection: its Close reads it
	if buffered.Buffered() == 0 && h.poller != nil && h.polling.Load() {
		// The event loop will watch the descriptor; Go's poller need not.
		if err := h.poller.detach(c); err != nil {
			h.log.Warn("keeping a connection in Go's network poller", "err", err)
		}
	}
	sess, err := h.hub.Connect(ctx, c.transport(), info)
	if err != nil {
		h.log.Warn("connection refused by the hub", "user", info.Principal.Name, "remote", info.Remote, "err", err)
		c.Write(net.Buffers{Framer{}.Close(protocol.CloseGoingAway, parley.ErrorMessage(err))})
		c.Close()
		return
	}
	// Frames the client sent right behind its handshake may sit in the
	// handshake's buffer; read those first, then the socket unbuffered so an
	// idle connection holds no read buffer.
	var src io.Reader = c.stream
	if n := buffered.Buffered(); n > 0 {
		early, _ := buffered.Peek(n)
		src = io.MultiReader(strings.NewReader(string(early)), c.stream)
	}
	maxMessage := h.hub.Limits().MaxFrame
	if info.Mode == hub.ModeEcho {
		maxMessage = echoMaxMessage
	}
	c.sess, c.echo = sess, info.Mode == hub.ModeEcho
	c.rd = reader{r: src, maxMessage: maxMessage, deflate: info.Compress}

	if h.pollable(c, src) {
		// Between frames the connection waits in the event loop, with no
		// goroutine and no deadline.
		err := h.poller.add(c)
		if err == nil || errors.Is(err, net.ErrClosed) {
			return // conn.Close takes it out again, or the hub closed it already
		}
		h.log.Warn("the event loop refused a connection; it gets a read goroutine", "err", err)
	}
	c.stream.SetReadDeadline(time.Now().Add(c.idle()))
	for c.end(c.rd.next(c)) {
	}
	<-sess.Done()
}

// echoMaxMessage lets the conformance suite's largest messages (16 MiB)
// through the echo endpoint; its queue holds two of them.
const echoMaxMessage = 20 << 20

// NewEchoHandler returns the /ws/echo endpoint: every message comes back as
// it was sent, through the same read loop, limits, UTF-8 checks and writer
// as chat connections, so a conformance suite tests Parley's real stack.
// Nobody is authenticated and nothing is stored; serve it only for tests.
func NewEchoHandler(h *hub.Hub, opts Options) *Handler {
	hd := NewHandler(h, nil, opts)
	hd.echo = true
	return hd
}

func (h *Handler) serveEcho(w http.ResponseWriter, r *http.Request) {
	upgrader, deflate := h.upgrader()
	netConn, rw, _, err := upgrader.Upgrade(r, w)
	if err != nil {
		if netConn != nil {
			netConn.Close()
		}
		return
	}
	h.serve(context.Background(), netConn, rw.Reader, hub.ConnInfo{
		Principal:  parley.Principal{User: parley.User{ID: "echo", Name: "echo"}},
		Mode:       hub.ModeEcho,
		Remote:     r.RemoteAddr,
		QueueBytes: 2 * echoMaxMessage,
		Compress:   deflate.accepted(),
	})
}

// frameTimeout bounds reading the rest of a frame once its first byte came.
const frameTimeout = 10 * time.Second

// maxFramesPerWake bounds the frames one wake-up of the event loop reads from
// a connection (beyond those already in its buffer), so a flooding client
// yields to the others now and then.
const maxFramesPerWake = 64

// readBuffers lend the event loop a read buffer for one wake-up.
var readBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// pollable reports whether the event loop can wait on c: the loop is
// running, c is plain TCP (TLS keeps data in its own buffer where epoll
// can't see it), and no early frame bytes sit in the handshake's buffer.
func (h *Handler) pollable(c *conn, src io.Reader) bool {
	return h.poller != nil && h.polling.Load() && c.raw != nil && src == io.Reader(c.stream)
}

// Run runs the event loop until ctx ends; without Options.EventLoop it
// just waits. Connections registered with the loop are closed by the hub.
func (h *Handler) Run(ctx context.Context) error {
	if h.poller == nil {
		<-ctx.Done()
		return nil
	}
	h.polling.Store(true)
	defer h.polling.Store(false)
	return h.poller.run(ctx)
}

// negotiate picks the mode from the offered subprotocols: parley.v1 when
// offered, text mode when none is, and an error when only others are.
func negotiate(headers []string) (hub.Mode, error) {
	var offered []string
	for _, h := range headers {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				offered = append(offered, p)
			}
		}
	}
	if len(offered) == 0 {
		return hub.ModeText, nil
	}
	for _, p := range offered {
		if p == protocol.Subprotocol {
			return hub.ModeJSON, nil
		}
	}
	return 0, parley.Errorf(parley.EBADREQUEST, "None of the offered subprotocols (%s) is spoken here; offer %q, or none for text mode.", strings.Join(offered, ", "), protocol.Subprotocol)
}

// originAllowed allows requests without an Origin (non-browser clients),
// from the server's own origin, and from the allowed list.
func (h *Handler) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, allowed := range h.opts.AllowedOrigins {
		if allowed == "*" || strings.EqualFold(strings.TrimSuffix(allowed, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// Parked is how many connections the event loop holds.
func (h *Handler) Parked() int {
	if h.poller == nil {
		return 0
	}
	return h.poller.size()
}
