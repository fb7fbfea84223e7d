package hub

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// Options configure a Hub. The zero value of each field means its default.
type Options struct {
	Limits protocol.Limits // MaxText 1024, MaxFrame from MaxText, Rate 10, Burst 20
	// Heartbeat is how often the hub pings every connection (25s).
	Heartbeat time.Duration
	// QueueBytes caps each connection's outgoing queue (1 MiB).
	QueueBytes int
	// Coalesce is the shortest time between two fan-out passes of a room
	// (0: none). A room's broadcasts merge by themselves while a pass is
	// running, so the writes per member fall as the rate rises; a minimum
	// interval merges more at light load, at the price of up to this much
	// latency.
	Coalesce time.Duration
	// MaxReplay caps how many missed messages a join replays (1000).
	MaxReplay int
	// ReplayTail is how many recent messages a join without since replays (50).
	ReplayTail int
	// StoreTimeout bounds each store call made for a client (5s).
	StoreTimeout time.Duration
	// Revalidate checks that a connection's session credential still
	// stands; connections whose check fails with EUNAUTHORIZED are closed
	// with 4001. Nil: never rechecked.
	Revalidate func(ctx context.Context, credential string) error
	// RevalidateEvery is how often credentials are rechecked (15s).
	RevalidateEvery time.Duration
	// PresenceRefresh is how often a cluster node confirms its users to the
	// others (10s); a dead node's users leave presence about 2.5 intervals
	// after its last confirmation.
	PresenceRefresh time.Duration
	// PresenceLinger is how long a user whose last connection to a room
	// dropped still counts as online there (5s; negative: not at all), so
	// a reconnect within it announces no leave and no join.
	PresenceLinger time.Duration
	// PresenceLimit is how many users a room may have online and still
	// announce each arrival and departure (500; negative: no limit). A room
	// over it sends no presence events, and its joined frames list the
	// first PresenceLimit users and count the rest.
	PresenceLimit int
	// Broker connects this node to the others serving the same rooms; nil
	// for a single node.
	Broker parley.Broker
	Framer Framer       // nil: payloads unframed (tests)
	Logger *slog.Logger // nil: discard
	Now    func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Limits.MaxText <= 0 {
		o.Limits.MaxText = 1024
	}
	if o.Limits.MaxFrame <= 0 {
		o.Limits.MaxFrame = protocol.MaxFrameFor(o.Limits.MaxText)
	}
	if o.Limits.Rate == 0 {
		o.Limits.Rate = 10
	}
	if o.Limits.Burst <= 0 {
		o.Limits.Burst = 20
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 25 * time.Second
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 1 << 20
	}
	if o.MaxReplay <= 0 {
		o.MaxReplay = 1000
	}
	if o.ReplayTail <= 0 {
		o.ReplayTail = 50
	}
	if o.RevalidateEvery <= 0 {
		o.RevalidateEvery = 15 * time.Second
	}
	if o.PresenceRefresh <= 0 {
		o.PresenceRefresh = 10 * time.Second
	}
	if o.PresenceLinger == 0 {
		o.PresenceLinger = 5 * time.Second
	}
	if o.PresenceLimit == 0 {
		o.PresenceLimit = 500
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 5 * time.Second
	}
	if o.Framer == nil {
		o.Framer = rawFramer{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Hub owns the rooms and sessions of this node.
type Hub struct {
	opts   Options
	limits protocol.Limits
	store  Store
	log    *slog.Logger
	now    func() time.Time
	stats  stats
	// node names this hub among the cluster's; broker is nil for one node.
	node      string
	broker    parley.Broker
	clustered bool
	// sendLimit is each connection's, and each user's over HTTP.
	sendLimit rateLimit
	// apiLimits rate-limits posts made over HTTP, and edits, per user.
	apiLimits userLimits

	mu       sync.Mutex
	rooms    map[string]*room
	sessions map[*Session]struct{}
	stopping bool
}

// New returns a hub that keeps messages in store.
func New(store Store, opts Options) *Hub {
	opts = opts.withDefaults()
	sendLimit := rateLimit{rate: opts.Limits.Rate, burst: float64(opts.Limits.Burst)}
	return &Hub{
		opts:      opts,
		limits:    opts.Limits,
		store:     store,
		log:       opts.Logger,
		sendLimit: sendLimit,
		apiLimits: userLimits{limit: sendLimit},
		node:      newNodeID(),
		broker:    opts.Broker,
		clustered: opts.Broker != nil,
		now:       opts.Now,
		rooms:     make(map[string]*room),
		sessions:  make(map[*Session]struct{}),
	}
}

// Limits returns the limits the hub enforces.
func (h *Hub) Limits() protocol.Limits { return h.limits }

// Heartbeat returns the ping interval.
func (h *Hub) Heartbeat() time.Duration { return h.opts.Heartbeat }

// ErrStopping is returned by Connect once Shutdown has begun.
var ErrStopping = parley.Errorf(parley.EUNAVAILABLE, "The server is shutting down; reconnect in a moment.")

// Connect registers a new connection and sends its welcome. In text mode it
// also joins the lobby. The caller runs the connection's read loop, passing
// each message to Session.Handle, and calls Abort or Close when it ends.
func (h *Hub) Connect(ctx context.Context, t Transport, info ConnInfo) (*Session, error) {
	// The session outlives the upgrade request: its user's strings are
	// copied so they don't keep the request's buffers (a guest's name is
	// a slice of the request line) alive for as long as it is connected.
	principal := info.Principal
	principal.ID, principal.Name = strings.Clone(principal.ID), strings.Clone(principal.Name)
	s := &Session{
		hub:        h,
		principal:  principal,
		credential: info.Credential,
		mode:       info.Mode,
		compress:   info.Compress,
		remote:     info.Remote,
		opened:     h.now().UnixNano(),
		limiter:    newTokenBucket(h.sendLimit, h.now()),
	}
	queueBytes := h.opts.QueueBytes
	if info.QueueBytes > 0 {
		queueBytes = info.QueueBytes
	}
	s.queue = newSendQueue(t, h.opts.Framer, queueBytes, s.cleanup)
	s.Touch()
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		return nil, ErrStopping
	}
	h.sessions[s] = struct{}{}
	h.mu.Unlock()
	h.stats.connections.Add(1)
	if exp := info.Principal.Expires; !exp.IsZero() {
		// The credential's life ends the connection's; the timer goes with
		// the session.
		s.expiry = time.AfterFunc(exp.Sub(h.now()), func() { s.Close(protocol.CloseTokenExpired, "credential expired") })
	}
	h.log.Info("connection opened", "user", s.principal.Name, "user_id", s.principal.ID, "remote", s.remote, "mode", s.mode.String())

	switch s.mode {
	case ModeEcho:
		return s, nil
	case ModeJSON:
		s.pushFrame(s.encode(protocol.Welcome{
			Type: protocol.TypeWelcome, User: s.principal.User, Token: info.Token,
			HeartbeatS: h.opts.Heartbeat.Seconds(), Limits: h.limits,
		}))
		return s, nil
	}
	if err := s.join(ctx, protocol.ClientFrame{Type: protocol.TypeJoin, Room: parley.Lobby}); err != nil {
		s.Close(protocol.CloseInternal, "lobby unavailable")
		return nil, err
	}
	return s, nil
}

func (h *Hub) unregister(s *Session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
	h.stats.connections.Add(-1)
}

// acquire returns the room, creating its local state if needed, and holds a
// reference to it until release.
func (h *Hub) acquire(name string) (*room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return nil, ErrStopping
	}
	r := h.rooms[name]
	if r == nil {
		r = newRoom(h, name)
		h.rooms[name] = r
	}
	r.refs++
	return r, nil
}

// openRoom returns the room if it is open on this node, without taking a
// reference: nil when nobody here is in it.
func (h *Hub) openRoom(name string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[name]
}

// retain adds a reference to r, which a caller holding one already wants
// to outlive it.
func (h *Hub) retain(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.refs++
}

// release drops a reference; the last one frees the room's local state.
func (h *Hub) release(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.refs--; r.refs == 0 && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
}

// Deliver hands a stored message to the room's local members, in seq
// order, as a message event from another node is applied; it tells no
// other node.
func (h *Hub) Deliver(m parley.Message) {
	h.apply(event{Room: m.Room, Kind: evMessage, Message: &m})
}

// Run pings every connection each heartbeat and closes those silent for two
// intervals, until ctx ends; in a cluster it also receives the other nodes'
// events and keeps presence fresh.
func (h *Hub) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	if h.clustered {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := h.broker.Run(ctx, h.receive, h.caughtUp); err != nil {
				h.log.Error("the broker stopped", "err", err)
			}
		}()
		go func() {
			defer wg.Done()
			h.runPresence(ctx)
		}()
	}
	if h.opts.Revalidate != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.runRevalidate(ctx)
		}()
	}
	t := time.NewTicker(h.opts.Heartbeat)
	defer t.Stop()
	ping := h.opts.Framer.Ping()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			// A peer silent for two intervals (no pong, no frame) is gone;
			// read loops with deadlines notice too, but connections parked
			// in an event loop have none.
			silent := h.now().Add(-2 * h.opts.Heartbeat).UnixNano()
			for _, s := range h.snapshot() {
				if s.lastRead.Load() < silent {
					s.Close(protocol.CloseHeartbeat, "no heartbeat")
					continue
				}
				s.queue.pushControl(ping)
			}
		}
	}
}

// runRevalidate rechecks the session credentials of open connections every
// RevalidateEvery, once per distinct credential, and closes with 4001 the
// connections whose session has ended. A store that can't answer closes
// nobody: only a definite "unauthorized" does.
func (h *Hub) runRevalidate(ctx context.Context) {
	t := time.NewTicker(h.opts.RevalidateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		byCredential := map[string][]*Session{}
		for _, s := range h.snapshot() {
			if s.credential != "" {
				byCredential[s.credential] = append(byCredential[s.credential], s)
			}
		}
		for cred, sessions := range byCredential {
			checkCtx, cancel := context.WithTimeout(ctx, h.opts.StoreTimeout)
			err := h.opts.Revalidate(checkCtx, cred)
			cancel()
			if parley.ErrorCode(err) != parley.EUNAUTHORIZED {
				continue
			}
			for _, s := range sessions {
				h.log.Info("closing a connection whose session ended", "user", s.principal.Name, "user_id", s.principal.ID)
				s.Close(protocol.CloseTokenExpired, "session ended")
			}
		}
	}
}

func (h *Hub) snapshot() []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := make([]*Session, 0, len(h.sessions))
	for s := range h.sessions {
		list = append(list, s)
	}
	return list
}

// Shutdown refuses new connections and joins, closes every connection with
// 1001 after its queued frames, and waits until all are closed or ctx ends;
// then it drops the stragglers. It returns ctx's error if it had to.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.stopping = true
	h.mu.Unlock()
	sessions := h.snapshot()
	for _, s := range sessions {
		s.Close(protocol.CloseGoingAway, "server shutting down")
	}
	for _, s := range sessions {
		select {
		case <-s.Done():
		case <-ctx.Done():
			for _, s := range sessions {
				s.Abort()
			}
			return errors.Join(ctx.Err(), errors.New("hub: connections still open at the shutdown deadline were dropped"))
		}
	}
	return nil
}

// frame builds a payload with appendTo into a scratch buffer and frames it,
// compressed if compress is set.
func (h *Hub) frame(appendTo func([]byte) []byte, compress bool) []byte {
	buf := scratch.Get().(*[]byte)
	payload := appendTo((*buf)[:0])
	framed := h.opts.Framer.Text(payload, compress)
	*buf = payload
	scratch.Put(buf)
	return framed
}

var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
