package hub

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// Mode is how a connection speaks.
type Mode uint8

const (
	// ModeJSON is the parley.v1 protocol.
	ModeJSON Mode = iota
	// ModeText is the seed page's protocol: lines in, "NAME: TEXT" out, lobby only.
	ModeText
	// ModeEcho joins nothing and sends nothing of its own: the transport
	// echoes what it reads with Send, to test the WebSocket stack itself
	// (--conformance-echo).
	ModeEcho
)

func (m Mode) String() string {
	switch m {
	case ModeText:
		return "text"
	case ModeEcho:
		return "echo"
	}
	return protocol.Subprotocol
}

// abuseLimit is how many refused sends in a row, without one allowed in
// between, close a connection with 4029: a client that ignores
// retry_after_ms is not a client that will start reading it.
const abuseLimit = 50

// closeNone closes without a close frame.
const closeNone = 0

const closeSlowConsumer = protocol.CloseSlowConsumer

// ConnInfo describes a new connection.
type ConnInfo struct {
	// Principal is who the connection is, decided by its credentials.
	Principal parley.Principal
	Mode      Mode
	Remote    string // for logs
	// Token is a guest's token, sent once in the welcome frame.
	Token string
	// QueueBytes overrides Options.QueueBytes for this connection when set.
	QueueBytes int
	// Credential is the session token the connection signed in with, kept
	// to check now and then that the session still stands (a password
	// change, logout or disabled account ends it). Empty for guests and JWTs.
	Credential string
	// Compress: the connection negotiated compression, so its frames may
	// be compressed (Framer.Text).
	Compress bool
}

// Session is one connection's state. Handle is called by the connection's
// single read loop; the other methods are safe for concurrent use.
//
// An idle server holds one per connection, so the fields are laid out to
// keep it small: times as unix nanoseconds, the small fields together.
type Session struct {
	hub       *Hub
	principal parley.Principal
	remote    string
	opened    int64 // unix nanoseconds
	queue     *sendQueue
	mode      Mode
	compress  bool
	// Guarded by mu (here to share a word with the flags above).
	closed     bool
	completing bool // a completer goroutine is running

	// Owned by the read loop.
	refused int32
	limiter tokenBucket

	mu    sync.Mutex
	rooms joinedRooms
	// sends are in flight to the store, oldest first.
	sends []*pendingSend

	lastRead atomic.Int64 // unix nanoseconds
	expiry   *time.Timer  // closes the session when its credential expires; nil if it never does
	// credential is rechecked every Options.Revalidate interval; never logged.
	credential string
}

// User returns the session's user.
func (s *Session) User() parley.User { return s.principal.User }

// Remote returns the peer's address, for logs.
func (s *Session) Remote() string { return s.remote }

// Touch records that something arrived from the peer.
func (s *Session) Touch() { s.lastRead.Store(s.hub.now().UnixNano()) }

// Handle processes one complete message from the peer. Errors go back to the
// peer as frames; nothing a peer sends can make Handle fail.
//
// The store calls a frame makes share one StoreTimeout: a join reads the
// room's head under the room's lock, and a stalled database must not hold
// the room, nor the connection, for longer. A send's store write outlives
// Handle and has a timeout of its own; typing and ping use no store, and
// these three, the frequent ones, make no timer.
func (s *Session) Handle(ctx context.Context, data []byte) {
	s.Touch()
	if s.mode == ModeText {
		s.handleText(ctx, data)
		return
	}
	f, err := protocol.Decode(data, s.hub.limits)
	if err != nil {
		s.replyError(f.ID, err)
		return
	}
	switch f.Type {
	case protocol.TypeSend, protocol.TypeTyping, protocol.TypePing:
	default:
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.hub.opts.StoreTimeout)
		defer cancel()
	}
	switch f.Type {
	case protocol.TypeJoin:
		err = s.join(ctx, f)
	case protocol.TypeLeave:
		err = s.leave(f)
	case protocol.TypeSend:
		err = s.send(ctx, f.ID, f.Room, f.Text, f.Nonce)
	case protocol.TypeHistory:
		err = s.history(ctx, f)
	case protocol.TypeTyping:
		err = s.typing(f)
	case protocol.TypePing:
		s.pushFrame(s.encode(protocol.Pong{Type: protocol.TypePong, ID: f.ID}))
	case protocol.TypeCreateRoom:
		var m parley.RoomMembership
		if m, err = s.hub.CreateRoom(ctx, s.principal, f.Room, f.Kind, f.Topic, f.Members); err == nil {
			s.pushFrame(s.encode(protocol.RoomFrame{Type: protocol.TypeRoom, ID: f.ID, Room: roomInfo(m)}))
		}
	case protocol.TypeOpenDirect:
		var room parley.Room
		var peer parley.User
		if room, peer, err = s.hub.OpenDirect(ctx, s.principal, f.User); err == nil {
			info := roomInfo(parley.RoomMembership{Room: room, Role: parley.RoleMember})
			info.Peer = &peer
			s.pushFrame(s.encode(protocol.RoomFrame{Type: protocol.TypeRoom, ID: f.ID, Room: info}))
		}
	case protocol.TypeRooms:
		var rooms []parley.RoomMembership
		if rooms, err = s.hub.Rooms(ctx, s.principal); err == nil {
			list := make([]protocol.RoomInfo, len(rooms))
			for i, m := range rooms {
				list[i] = roomInfo(m)
			}
			s.pushFrame(s.encode(protocol.RoomList{Type: protocol.TypeRoomList, ID: f.ID, Rooms: list}))
		}
	case protocol.TypeInvite, protocol.TypeKick, protocol.TypeBan, protocol.TypeUnban, protocol.TypeMute, protocol.TypeSetRole,
		protocol.TypeTopic, protocol.TypeEdit, protocol.TypeDelete:
		err = s.ok(f.ID, s.hub.Act(ctx, s.principal, f))
	}
	if err != nil {
		s.replyError(f.ID, err)
	}
}

func (s *Session) handleText(ctx context.Context, data []byte) {
	text, err := protocol.DecodeText(data, s.hub.limits)
	if err == nil {
		err = s.send(ctx, "", parley.Lobby, text, "")
	}
	if err != nil {
		s.replyError("", err)
	}
}

func (s *Session) joined(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms.get(name)
}

func (s *Session) join(ctx context.Context, f protocol.ClientFrame) error {
	// The room is held before the admission is read, so that a kick or a
	// ban meanwhile reaches this join (room.expect).
	r := s.joined(f.Room)
	fresh := r == nil
	if fresh {
		var err error
		if r, err = s.hub.acquire(f.Room); err != nil {
			return err
		}
	}
	r.expect(s)
	adm, err := s.hub.admit(ctx, s.principal, f.Room, parley.ActJoin, "")
	if err != nil {
		r.unexpect(s)
		if fresh {
			s.hub.release(r)
		}
		return err
	}
	if fresh {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			r.unexpect(s)
			s.hub.release(r)
			return nil
		}
		s.rooms = s.rooms.add(r)
		s.mu.Unlock()
	}
	if err := r.join(ctx, s, f.ID, f.Since, s.mode == ModeJSON, adm); err != nil {
		return storeError("joining "+f.Room, err)
	}
	return nil
}

func (s *Session) leave(f protocol.ClientFrame) error {
	s.mu.Lock()
	r := s.rooms.get(f.Room)
	s.rooms = s.rooms.remove(r)
	s.mu.Unlock()
	if r == nil {
		return parley.Errorf(parley.ENOTFOUND, "You are not in %s.", f.Room)
	}
	r.leave(s, false)
	r.settle() // what the room queued before the leave comes before left
	s.hub.release(r)
	s.pushFrame(s.encode(protocol.Left{Type: protocol.TypeLeft, ID: f.ID, Room: f.Room}))
	return nil
}

// send stores a message and broadcasts it, then acknowledges it. nonce is
// empty in text mode, where the server picks one.
func (s *Session) send(ctx context.Context, id, roomName, text, nonce string) error {
	r := s.joined(roomName)
	if r == nil {
		return parley.Errorf(parley.EFORBIDDEN, "Join %s on this connection before sending to it.", roomName)
	}
	if ok, wait := s.limiter.take(s.hub.sendLimit, s.hub.now()); !ok {
		if s.refused++; s.refused >= abuseLimit {
			s.Close(protocol.CloseRateLimited, "sending too fast")
		}
		return &protocol.RateLimitError{RetryAfter: wait}
	}
	s.refused = 0
	if err := r.authorize(s, parley.ActSend); err != nil {
		return err
	}
	s.queueSend(ctx, &pendingSend{id: id, msg: parley.Message{Room: roomName, From: s.principal.User, Text: text, Nonce: nonce}})
	return nil
}

// maxInflight is how many sends one connection may have waiting for their
// commit; the read loop waits for the oldest beyond that, which pushes back
// on the client through TCP.
const maxInflight = 64

// pendingSend is a send on its way into the store.
type pendingSend struct {
	id   string
	msg  parley.Message
	done chan struct{} // closed when the store answered
	// The store's answer.
	stored parley.Message
	dup    bool
	err    error
}

// queueSend hands a send to the store without waiting for its commit, so a
// connection's sends are stored in a pipeline rather than one at a time.
// The completer delivers and acknowledges them in the order they came.
func (s *Session) queueSend(ctx context.Context, p *pendingSend) {
	p.done = make(chan struct{})
	s.mu.Lock()
	for len(s.sends) >= maxInflight {
		oldest := s.sends[0]
		s.mu.Unlock()
		<-oldest.done
		// The completer takes oldest out of s.sends once it sees it done.
		// Until it has, this loop finds oldest again, done, and spins: on a
		// single processor until the runtime preempts it (10ms), while the
		// completer it waits for can't run. A fan-out at 2M deliveries/s
		// spent ~45% of its CPU here. Let the completer run first.
		runtime.Gosched()
		s.mu.Lock()
	}
	s.sends = append(s.sends, p)
	if !s.completing {
		s.completing = true
		go s.complete()
	}
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.hub.opts.StoreTimeout)
	s.hub.store.QueueAppend(ctx, p.msg, func(stored parley.Message, dup bool, err error) {
		cancel()
		p.stored, p.dup, p.err = stored, dup, err
		close(p.done)
	})
}

// complete is the completer: while sends are in flight it waits for the
// oldest, takes every later one the store has answered too, delivers their
// messages and queues their acks in the room's fan-out right behind them,
// so the sender sees its message first. It waits for a fan-out only to keep
// the acks in order (see replyIn), and before it ends.
func (s *Session) complete() {
	var batch []*pendingSend
	// last is the room whose fan-out took the latest ack, nil when it went
	// straight to the queue.
	var last *room
	for {
		s.mu.Lock()
		if len(s.sends) == 0 {
			if last != nil {
				// The next completer must not overtake that ack with one
				// through another room's fan-out: end once it is handed over.
				s.mu.Unlock()
				last.settle()
				last = nil
				continue
			}
			s.completing = false
			s.sends = nil
			s.mu.Unlock()
			return
		}
		oldest := s.sends[0]
		s.mu.Unlock()
		<-oldest.done
		batch = s.takeAnswered(batch[:0])
		for _, p := range batch {
			if p.err != nil {
				s.replyError(p.id, storeError("storing a message", p.err))
				continue
			}
			s.hub.stored(p.stored, p.dup)
			if s.mode == ModeJSON {
				last = s.replyIn(last, p.stored.Room, s.encode(protocol.Ack{Type: protocol.TypeAck, ID: p.id, Room: p.stored.Room, Seq: p.stored.Seq, Nonce: p.stored.Nonce}))
			}
		}
		clear(batch)
	}
}

// replyIn sends an ack behind what the room's fan-out has queued, or at
// once if the room isn't open here, and returns the room it went through
// (nil: none). Each room's flusher runs on its own, so an ack through
// another room than last, the previous ack's, first waits until last has
// handed that one over: acks go out in the order of the sends.
func (s *Session) replyIn(last *room, roomName string, frame []byte) *room {
	r := s.hub.openRoom(roomName)
	if last != nil && last != r {
		last.settle()
	}
	if r == nil {
		s.queue.send([][]byte{frame})
		return nil
	}
	r.mu.Lock()
	r.enqueueLocked(outFrame{wire: frame, to: s})
	r.mu.Unlock()
	return r
}

// takeAnswered moves the oldest sends the store has answered, in order,
// from the sends in flight to batch.
func (s *Session) takeAnswered(batch []*pendingSend) []*pendingSend {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.sends) && closed(s.sends[n].done) {
		n++
	}
	batch = append(batch, s.sends[:n]...)
	clear(s.sends[:n])
	s.sends = s.sends[n:]
	return batch
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (s *Session) history(ctx context.Context, f protocol.ClientFrame) error {
	r := s.joined(f.Room)
	if r == nil {
		return parley.Errorf(parley.EFORBIDDEN, "Join %s on this connection before reading its history.", f.Room)
	}
	if err := r.authorize(s, parley.ActRead); err != nil {
		return err
	}
	msgs, more, err := s.hub.history(ctx, f.Room, f.Before, f.Limit)
	if err != nil {
		return err
	}
	objs := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		objs[i] = protocol.AppendMessageObject(nil, m)
	}
	// The oldest messages over the budget are left for the next page.
	if start := newestFitting(len(objs), s.replayBudget(), func(i int) int { return len(objs[i]) + 1 }); start > 0 {
		objs, more = objs[start:], true
	}
	s.pushFrame(s.encode(protocol.History{Type: protocol.TypeHistory, ID: f.ID, Room: f.Room, Messages: objs, More: more}))
	return nil
}

func (s *Session) typing(f protocol.ClientFrame) error {
	r := s.joined(f.Room)
	if r == nil {
		return parley.Errorf(parley.EFORBIDDEN, "Join %s on this connection before typing in it.", f.Room)
	}
	r.typing(s)
	return nil
}

func (s *Session) replyError(id string, err error) {
	var u *unavailableError
	if code := parley.ErrorCode(err); code == parley.EINTERNAL || errors.As(err, &u) {
		// The client gets a generic sentence for these; the cause goes to the log.
		s.hub.log.Error("request failed", "user", s.principal.Name, "remote", s.remote, "id", id, "err", err)
	}
	s.pushFrame(s.errorFrame(id, err))
}

// errorFrame is the frame telling the client that request id failed; it
// counts the error.
func (s *Session) errorFrame(id string, err error) []byte {
	s.hub.stats.countError(parley.ErrorCode(err))
	if s.mode == ModeText {
		return s.hub.frame(func(b []byte) []byte { return append(b, protocol.TextError(err)...) }, s.compress)
	}
	return s.encode(protocol.ErrorFrame(id, err))
}

// encode marshals and frames a frame for this session alone.
func (s *Session) encode(frame any) []byte {
	return s.hub.opts.Framer.Text(protocol.Encode(frame), s.compress)
}

// pushFrame sends a reply to this session alone, after whatever its rooms
// queued for it before (see room.settle), and at once when nothing else
// is queued. The caller must hold no lock.
func (s *Session) pushFrame(frame []byte) {
	s.settle()
	s.queue.send([][]byte{frame})
}

// settle waits until the fan-out of every room s is in has handed s what
// was queued before the call.
func (s *Session) settle() {
	s.mu.Lock()
	rooms := slices.Clone(s.rooms)
	s.mu.Unlock()
	for _, r := range rooms {
		r.settle()
	}
}

// replayShare is the share of a connection's queue cap that a replay, or a
// history page, may fill with messages (a quarter: 256 KiB by default).
// MaxReplay and the history limit count messages, and escaping can make a
// message's frame six times its text, so a count alone can overflow the
// queue, and a client resuming from the same seq would overflow it again
// on every reconnect. A quarter leaves room for a replay, the page before
// it and the live messages, before the client has read any of them.
const replayShare = 4

// replayBudget is how many bytes of messages a replay or a history page
// sends this session.
func (s *Session) replayBudget() int { return s.queue.capBytes / replayShare }

// newestFitting returns where the newest of n items whose sizes together
// fit in budget start, size(i) being item i's. The newest one is always
// in, so a client paging back always gets somewhere.
func newestFitting(n, budget int, size func(i int) int) int {
	start, total := n, 0
	for start > 0 {
		if total += size(start - 1); total > budget && start < n {
			break
		}
		start--
	}
	return start
}

// pushMessages queues a join's replay for this session in one go: the
// newest of backlog that fit in its replay budget, then live, the messages
// that arrived while the backlog was read. A cut backlog starts after
// since+1, which tells the client to page back with history; live is never
// cut, or the seam would have a gap. Called with r.mu held.
func (s *Session) pushMessages(r *room, backlog, live []*outMessage) {
	backlog = backlog[newestFitting(len(backlog), s.replayBudget(), func(i int) int {
		return len(r.frameFor(backlog[i], s.mode, s.compress))
	}):]
	if len(backlog)+len(live) == 0 {
		return
	}
	frames := make([][]byte, 0, len(backlog)+len(live))
	for _, out := range backlog {
		frames = append(frames, r.frameFor(out, s.mode, s.compress))
	}
	for _, out := range live {
		frames = append(frames, r.frameFor(out, s.mode, s.compress))
	}
	if s.queue.push(frames...) {
		s.hub.stats.delivered.Add(int64(len(frames)))
	}
}

// Close sends what is queued and a close frame with code, then closes the
// connection and leaves every room. Safe to call more than once; the first
// code wins.
func (s *Session) Close(code int, reason string) {
	s.queue.close(code, reason)
}

// Abort closes the connection without a close frame, for a peer that is
// gone or broke the protocol.
func (s *Session) Abort() {
	s.queue.abort()
}

// Done is closed once the connection is closed and the session has left
// its rooms.
func (s *Session) Done() <-chan struct{} { return s.queue.finishedChan() }

// cleanup runs once, after the transport is closed.
func (s *Session) cleanup(code int) {
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.mu.Lock()
	s.closed = true
	rooms := s.rooms
	s.rooms = nil
	s.mu.Unlock()
	for _, r := range rooms {
		r.leave(s, true)
		s.hub.release(r)
	}
	if code == closeSlowConsumer {
		s.hub.stats.slowCloses.Add(1)
	}
	s.hub.unregister(s)
	s.hub.log.Info("connection closed", "user", s.principal.Name, "user_id", s.principal.ID, "remote", s.remote,
		"mode", s.mode.String(), "close_code", code, "duration", s.hub.now().Sub(time.Unix(0, s.opened)).Round(time.Millisecond).String())
}

// PushControl queues a control frame (a pong); one that would overflow the
// byte cap is dropped.
func (s *Session) PushControl(frame []byte) { s.queue.pushControl(frame) }

// forget drops room r from the session's joined rooms; it reports whether
// r was there.
func (s *Session) forget(name string, r *room) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r == nil || s.rooms.get(name) != r {
		return false
	}
	s.rooms = s.rooms.remove(r)
	return true
}

// ok answers a request that succeeded with nothing more to say.
func (s *Session) ok(id string, err error) error {
	if err == nil {
		s.pushFrame(s.encode(protocol.OK{Type: protocol.TypeOK, ID: id}))
	}
	return err
}

func roomInfo(m parley.RoomMembership) protocol.RoomInfo {
	return protocol.RoomInfo{Name: m.Room.Name, Kind: m.Room.Kind, Topic: m.Room.Topic, Role: m.Role}
}

// Send queues a frame the transport built itself (an echo), under the same
// byte cap as everything else.
func (s *Session) Send(frame []byte) { s.queue.push(frame) }

// joinedRooms are the rooms a session is in. Most sessions are in a few, so
// a slice searched by name costs less memory than a map, which matters
// with tens of thousands of idle connections.
type joinedRooms []*room

func (j joinedRooms) get(name string) *room {
	for _, r := range j {
		if r.name == name {
			return r
		}
	}
	return nil
}

// add returns j with r, which must not be in it already.
func (j joinedRooms) add(r *room) joinedRooms { return append(j, r) }

// remove returns j without r.
func (j joinedRooms) remove(r *room) joinedRooms {
	if i := slices.Index(j, r); i >= 0 {
		return slices.Delete(j, i, i+1)
	}
	return j
}
