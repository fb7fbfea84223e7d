package hub

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// recentSize is how many of its latest messages a room keeps framed in
// memory, so a reconnect storm resumes from memory rather than one store
// query per client.
const recentSize = 1024

// gapWait is how long a room holds messages that arrived ahead of a missing
// seq before it reads the missing ones from the store.
const gapWait = 300 * time.Millisecond

// typingInterval throttles typing events per connection and room: more
// frequent ones are dropped silently, so one client can't flood a room.
const typingInterval = time.Second

// outMessage is a stored message on its way out, with its frames built at
// most once each, under the room's lock, and shared by every recipient.
type outMessage struct {
	msg    parley.Message
	frames [2][2][]byte // by mode (ModeJSON, ModeText), then plain and compressed
}

// outFrame is a broadcast waiting for the room's flusher: a message, an
// event's frame (presence, typing, an edit) for the JSON-mode members who
// are not the user named by except, or a reply for one session.
type outFrame struct {
	msg    *outMessage
	wire   []byte
	except string
	to     *Session // a reply for this session alone
}

// member is one session's place in a room; there is one per connection
// and room, so it is kept small.
type member struct {
	// held is set while the session replays its backlog from the store:
	// live messages wait in it meanwhile so the seam has no gap and no
	// duplicate.
	held       *[]*outMessage
	lastTyping int64 // unix nanoseconds
	// standing is the user's membership as of the join, kept current by
	// moderation, so a send needs no store read to check a mute.
	standing parley.Membership
}

// pendingJoin is what a join under way must know of its user's standing:
// its admission was read from the store before a change the room has
// applied since, which found no member to update or evict.
type pendingJoin struct {
	standing *parley.Membership // the latest, if it changed
	evicted  bool
}

// target is one member's share of a fan-out pass.
type target struct {
	s        *Session
	frames   [][]byte
	messages int
}

// room is the local state of one room: its members on this node, who is
// online, and the sequencer that delivers messages in seq order.
//
// Broadcasts don't write to the members themselves: they go into the
// outbox, and the room's flusher goroutine (running only while the outbox
// has frames) takes everything there in one pass and sends it to every
// member with one write each. A quiet room's message goes out at once; a
// busy room's messages merge, so the writes per member fall as the rate
// rises, and the pass never holds the room's lock while writing.
type room struct {
	name string
	hub  *Hub
	refs int // guarded by hub.mu: sessions in or joining the room

	mu        sync.Mutex
	info      parley.Room // kind and topic, refreshed by every join
	loaded    bool
	delivered parley.Seq // the highest seq broadcast here
	// taken is the highest seq the flusher has taken from the outbox: every
	// member of that pass gets it, so a join replays up to taken and the
	// outbox brings the rest.
	taken    parley.Seq
	pending  map[parley.Seq]*outMessage
	gapTimer *time.Timer
	members  map[*Session]*member
	// joins are the joins under way (see expect), with the moderation of
	// their user that the room saw meanwhile.
	joins  map[*Session]*pendingJoin
	online map[string]*presence // by user id
	// arrivals are the same in the order they arrived, with the departed
	// among them until they are more than half (see dropIfOfflineLocked).
	arrivals []*presence
	departed int
	recent   [recentSize]*outMessage // recent[seq % recentSize], contiguous up to delivered
	nrecent  int
	outbox   []outFrame
	flushing bool // a flusher goroutine runs
	// queued counts the frames ever put in the outbox, sent those whose
	// pass is over; passDone signals sent moving, for settle.
	queued, sent uint64
	passDone     *sync.Cond
	// lingerTimer ends lingering presences; it runs while any lingers.
	lingerTimer *time.Timer
}

func newRoom(h *Hub, name string) *room {
	r := &room{
		name:    name,
		hub:     h,
		pending: make(map[parley.Seq]*outMessage),
		members: make(map[*Session]*member),
		online:  make(map[string]*presence),
	}
	r.passDone = sync.NewCond(&r.mu)
	return r
}

// loadLocked reads the room's head from the store the first time the room is
// used on this node. Messages delivered before that are dropped: the store
// already holds them, so the head includes them.
func (r *room) loadLocked(ctx context.Context) error {
	if r.loaded {
		return nil
	}
	head, err := r.hub.store.Head(ctx, r.name)
	if err != nil {
		return err
	}
	r.delivered, r.taken = head, head
	r.loaded = true
	return nil
}

// deliver hands a stored message to the room's sequencer: it is broadcast
// when every lower seq has been, and dropped if it already was.
func (r *room) deliver(m parley.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded || m.Seq <= r.delivered || r.pending[m.Seq] != nil {
		return
	}
	out := &outMessage{msg: m}
	if m.Seq > r.delivered+1 {
		r.pending[m.Seq] = out
		if r.gapTimer == nil {
			r.gapTimer = time.AfterFunc(gapWait, r.fillGap)
		}
		return
	}
	r.broadcastLocked(out)
	for {
		next := r.pending[r.delivered+1]
		if next == nil {
			break
		}
		delete(r.pending, next.msg.Seq)
		r.broadcastLocked(next)
	}
	if len(r.pending) == 0 && r.gapTimer != nil {
		r.gapTimer.Stop()
		r.gapTimer = nil
	}
}

// fillGap reads messages that should have arrived by now from the store.
func (r *room) fillGap() {
	r.mu.Lock()
	r.gapTimer = nil
	from, until := r.delivered, parley.Seq(0)
	for seq := range r.pending {
		if until == 0 || seq < until {
			until = seq
		}
	}
	r.mu.Unlock()
	if until != 0 {
		r.fetch(from, until-1)
	}
	r.mu.Lock()
	if len(r.pending) > 0 && r.gapTimer == nil {
		r.gapTimer = time.AfterFunc(gapWait, r.fillGap)
	}
	r.mu.Unlock()
}

// catchUp delivers whatever the store has past what this node delivered:
// messages published while the broker was unreachable.
func (r *room) catchUp() {
	ctx, cancel := context.WithTimeout(context.Background(), r.hub.opts.StoreTimeout)
	defer cancel()
	head, err := r.hub.store.Head(ctx, r.name)
	if err != nil {
		r.hub.log.Warn("catching up on a room", "room", r.name, "err", err)
		return
	}
	r.mu.Lock()
	from, loaded := r.delivered, r.loaded
	r.mu.Unlock()
	if loaded && head > from {
		r.fetch(from, head)
	}
}

// fetch reads the messages after..until from the store and delivers them.
func (r *room) fetch(after, until parley.Seq) {
	ctx, cancel := context.WithTimeout(context.Background(), r.hub.opts.StoreTimeout)
	defer cancel()
	msgs, err := r.hub.store.Messages(ctx, r.name, after, until, int(until-after))
	if err != nil {
		r.hub.log.Warn("reading missed messages of a room", "room", r.name, "after", after, "err", err)
	}
	for _, m := range msgs {
		r.deliver(m)
	}
}

func (r *room) broadcastLocked(out *outMessage) {
	r.delivered = out.msg.Seq
	r.recent[out.msg.Seq%recentSize] = out
	r.nrecent = min(r.nrecent+1, recentSize)
	r.enqueueLocked(outFrame{msg: out})
}

// enqueueLocked puts f in the outbox and makes sure a flusher runs.
func (r *room) enqueueLocked(f outFrame) {
	r.outbox = append(r.outbox, f)
	r.queued++
	if !r.flushing {
		r.flushing = true
		go r.flush()
	}
}

// flush is the room's flusher: it sends the outbox to the members, one pass
// per batch, until the outbox stays empty. With Options.Coalesce set, passes
// start at least that far apart, trading latency for fewer writes.
func (r *room) flush() {
	var last time.Time
	// The pass's list of targets is reused from pass to pass, and from a
	// pool between flushers, rather than kept by the room: an idle room's
	// would cost every member a target's size for good.
	buf := targetBuffers.Get().(*[]target)
	defer targetBuffers.Put(buf)
	for {
		if wait := r.hub.opts.Coalesce - time.Since(last); wait > 0 && r.hub.opts.Coalesce > 0 {
			time.Sleep(wait)
		}
		r.mu.Lock()
		batch := r.outbox
		if len(batch) == 0 {
			r.flushing = false
			r.mu.Unlock()
			return
		}
		r.outbox = nil
		upto := r.queued
		targets := r.targetsLocked(batch, (*buf)[:0])
		r.mu.Unlock()

		last = time.Now()
		delivered := 0
		for i := range targets {
			if targets[i].s.queue.send(targets[i].frames) {
				delivered += targets[i].messages
			}
			targets[i] = target{} // let a closed session go
		}
		*buf = targets
		r.hub.stats.delivered.Add(int64(delivered))
		r.mu.Lock()
		r.sent = upto
		r.passDone.Broadcast()
		r.mu.Unlock()
		// Let the goroutines that feed the outbox (readers, the store's
		// writer, completers) run before the next pass: on a busy core the
		// flusher would otherwise keep it until preempted, and each message
		// would wait for passes that carry others.
		runtime.Gosched()
	}
}

// settle returns once everything put in the outbox before the call has
// been handed to the members' queues. A reply queued after it comes after
// those frames: the sender's own message before its ack, a moderation
// event before the ok, and a pong after everything the ping followed.
func (r *room) settle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for target := r.queued; r.sent < target; {
		r.passDone.Wait()
	}
}

// targetsLocked decides what each member gets of batch: messages to all
// (held back for members still replaying), events to JSON-mode members other
// than their cause, replies to their session alone, member or not. Members
// with the same share get the same slice. The targets are appended to
// targets.
func (r *room) targetsLocked(batch []outFrame, targets []target) []target {
	// The shares, by mode and compression as in outMessage.frames; a
	// message is framed only in the ways some member takes it.
	var shares [2][2][][]byte
	var wanted [2][2]bool
	for s := range r.members {
		wanted[s.mode][b2i(s.compress)] = true
	}
	var msgs []*outMessage
	var excepted map[string]bool
	var replyTo map[*Session]bool
	for _, f := range batch {
		switch {
		case f.msg != nil:
			msgs = append(msgs, f.msg)
			for mode := range wanted {
				for c := range wanted[mode] {
					if wanted[mode][c] {
						shares[mode][c] = append(shares[mode][c], r.frameFor(f.msg, Mode(mode), c == 1))
					}
				}
			}
			r.taken = f.msg.msg.Seq
		case f.to != nil:
			if replyTo == nil {
				replyTo = make(map[*Session]bool)
			}
			replyTo[f.to] = true
		default:
			for c := range shares[ModeJSON] {
				shares[ModeJSON][c] = append(shares[ModeJSON][c], f.wire)
			}
			if f.except != "" {
				if excepted == nil {
					excepted = make(map[string]bool)
				}
				excepted[f.except] = true
			}
		}
	}

	for s, m := range r.members {
		t := target{s: s, messages: len(msgs)}
		switch {
		case m.held != nil:
			*m.held = append(*m.held, msgs...)
			t.frames, t.messages = r.framesFor(batch, s, false), 0
		case replyTo[s] || (s.mode == ModeJSON && excepted[s.principal.ID]):
			t.frames = r.framesFor(batch, s, true)
		default:
			t.frames = shares[s.mode][b2i(s.compress)]
		}
		if len(t.frames) > 0 {
			targets = append(targets, t)
		}
	}
	for s := range replyTo {
		if r.members[s] == nil { // it left since; the reply still goes
			targets = append(targets, target{s: s, frames: r.framesFor(batch, s, false)})
		}
	}
	return targets
}

// targetBuffers lend flushers their lists of targets.
var targetBuffers = sync.Pool{New: func() any { return new([]target) }}

// framesFor returns the frames of batch that s gets, in order: the replies
// to s, the events in s's mode not caused by its user, and the messages
// too when withMessages is set.
func (r *room) framesFor(batch []outFrame, s *Session, withMessages bool) [][]byte {
	var frames [][]byte
	for _, f := range batch {
		switch {
		case f.msg != nil:
			if withMessages {
				frames = append(frames, r.frameFor(f.msg, s.mode, s.compress))
			}
		case f.to != nil:
			if f.to == s {
				frames = append(frames, f.wire)
			}
		case s.mode == ModeJSON && f.except != s.principal.ID:
			frames = append(frames, f.wire)
		}
	}
	return frames
}

// frameFor returns out's frame in a mode (ModeJSON or ModeText), compressed
// or not, building each at most once. Called with r.mu held.
func (r *room) frameFor(out *outMessage, mode Mode, compress bool) []byte {
	f := &out.frames[mode][b2i(compress)]
	if *f == nil {
		appendTo := func(b []byte) []byte { return protocol.AppendMessage(b, out.msg) }
		if mode == ModeText {
			appendTo = func(b []byte) []byte { return protocol.AppendTextLine(b, out.msg) }
		}
		*f = r.hub.frame(appendTo, compress)
	}
	return *f
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// recentLocked returns the cached messages from seq from up to until, or
// false if the cache doesn't reach back that far.
func (r *room) recentLocked(from, until parley.Seq) ([]*outMessage, bool) {
	oldest := r.delivered - parley.Seq(r.nrecent) + 1
	if from < oldest {
		return nil, false
	}
	out := make([]*outMessage, 0, until-from+1)
	for seq := from; seq <= until; seq++ {
		out = append(out, r.recent[seq%recentSize])
	}
	return out, true
}

// join adds s to the room and sends it the joined frame, then the backlog
// after since (the last replayTail messages when since is nil; none when
// replay is false; its newest within s's replay budget), then live
// messages, with nothing lost or repeated at the seam between backlog and
// live.
func (r *room) join(ctx context.Context, s *Session, id string, since *parley.Seq, replay bool, adm admission) error {
	// Events for the other nodes go out once the room's lock is released,
	// which every path below does before this deferred call runs.
	var events []event
	defer func() {
		for _, ev := range events {
			r.hub.publish(ev)
		}
	}()
	r.mu.Lock()
	pending := r.joins[s]
	delete(r.joins, s)
	if !r.loaded {
		if err := r.loadLocked(ctx); err != nil {
			r.mu.Unlock()
			return err
		}
		// New here: ask the other nodes whom they have in the room.
		events = append(events, event{Room: r.name, Kind: evSync})
	}
	r.info = adm.room
	s.mu.Lock()
	closed, held := s.closed, s.rooms.get(r.name) == r
	s.mu.Unlock()
	if closed {
		// The connection ended since Session.join recorded this room, and
		// its cleanup has left the room already: a member added now would
		// stay online for good.
		r.mu.Unlock()
		return nil
	}
	if !held || pending != nil && pending.evicted {
		// A kick or a ban came after the admission was read: it found no
		// member here to remove (or removed the one this join renews).
		r.mu.Unlock()
		if s.forget(r.name, r) {
			// A re-join: the kick may have found the member but not yet
			// removed it, and having lost forget to this join, it won't.
			r.leave(s, false)
			r.hub.release(r)
		}
		return parley.Errorf(parley.EFORBIDDEN, "You were removed from %s while joining it.", r.name)
	}
	if pending != nil && pending.standing != nil {
		adm.member = *pending.standing
	}
	m := r.members[s]
	if m == nil {
		m = &member{}
		r.members[s] = m
		if r.addLocalLocked(s.principal.User) {
			events = append(events, event{Room: r.name, Kind: evHere, User: &s.principal.User})
		}
	}
	m.standing = adm.member
	// A repeated join on the same connection is a request for the backlog
	// again: live messages keep flowing and the replay ends at the head.
	// The replay reaches up to what the flusher has taken; the outbox
	// brings the rest to every member, this one included.
	head := r.delivered
	if s.mode == ModeJSON {
		s.queue.push(s.encode(protocol.Joined{Type: protocol.TypeJoined, ID: id, Room: r.name, Head: head, Online: r.onlineLocked(), OnlineCount: len(r.online)}))
	}

	from, until := r.replayStart(head, since), r.taken
	if !replay || from > until {
		r.mu.Unlock()
		return nil
	}
	if cached, ok := r.recentLocked(from, until); ok {
		s.pushMessages(r, cached, nil)
		r.mu.Unlock()
		return nil
	}
	// The backlog is older than the cache: read it from the store without
	// holding up the room, keeping live messages aside meanwhile.
	m.held = new([]*outMessage)
	r.mu.Unlock()

	msgs, err := r.hub.store.Messages(ctx, r.name, from-1, until, int(until-from+1))
	r.mu.Lock()
	defer r.mu.Unlock()
	var backlog []*outMessage
	if err == nil {
		backlog = make([]*outMessage, len(msgs))
		for i, msg := range msgs {
			backlog[i] = &outMessage{msg: msg}
		}
	}
	s.pushMessages(r, backlog, *m.held)
	m.held = nil
	return err
}

// expect tells the room that s is about to join it, before the join's
// admission is read: until join (or unexpect), moderation of s's user is
// kept for the join, which would otherwise add a member with the standing
// it had before.
func (r *room) expect(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.joins == nil {
		r.joins = make(map[*Session]*pendingJoin)
	}
	r.joins[s] = &pendingJoin{}
}

// unexpect forgets a join that ends before room.join.
func (r *room) unexpect(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.joins, s)
}

// replayStart is the first seq a join replays: after since, or the recent
// tail without it, never more than MaxReplay.
func (r *room) replayStart(head parley.Seq, since *parley.Seq) parley.Seq {
	var from parley.Seq
	if since == nil {
		from = head - parley.Seq(r.hub.opts.ReplayTail) + 1
	} else {
		from = *since + 1
	}
	from = max(from, head-parley.Seq(r.hub.opts.MaxReplay)+1, 1)
	return from
}

// authorize checks act for s against the room and s's standing as this
// node knows them.
func (r *room) authorize(s *Session, act parley.Action) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.members[s]
	if m == nil {
		return parley.Errorf(parley.EFORBIDDEN, "Join %s on this connection first.", r.name)
	}
	return parley.Authorize(parley.Decision{Principal: s.principal, Action: act, Room: r.info, Member: m.standing, Now: r.hub.now()})
}

// leave removes s from the room; it reports whether s was a member. With
// linger set (the connection dropped, rather than the user leaving), the
// user's presence lingers if this was their last connection here.
func (r *room) leave(s *Session, linger bool) bool {
	r.mu.Lock()
	if _, ok := r.members[s]; !ok {
		r.mu.Unlock()
		return false
	}
	delete(r.members, s)
	gone := r.removeLocalLocked(s.principal.User, linger)
	r.mu.Unlock()
	if gone {
		r.hub.publish(event{Room: r.name, Kind: evGone, User: &s.principal.User})
	}
	return true
}

// typing tells the others that s is typing, at most once per typingInterval.
func (r *room) typing(s *Session) {
	r.mu.Lock()
	m := r.members[s]
	now := r.hub.now()
	if m == nil || now.Sub(time.Unix(0, m.lastTyping)) < typingInterval {
		r.mu.Unlock()
		return
	}
	m.lastTyping = now.UnixNano()
	r.mu.Unlock()
	frame := protocol.Encode(protocol.Typing{Type: protocol.TypeTyping, Room: r.name, User: s.principal.User})
	r.hub.emit(event{Room: r.name, Kind: evFrame, Frame: frame, Except: s.principal.ID})
}

// toOthersLocked sends a JSON payload, framed once, to every JSON-mode
// member who is not the given user; text mode only carries messages. Events
// are small (presence, typing, an edit) and go uncompressed to every member,
// which permessage-deflate allows message by message.
func (r *room) toOthersLocked(userID string, payload []byte) {
	r.enqueueLocked(outFrame{wire: r.hub.opts.Framer.Text(payload, false), except: userID})
}

// applyFrame sends an event's frame to the room's members and applies its
// side effects on this node's state.
func (r *room) applyFrame(ev event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.User != nil && ev.Standing != nil {
		r.setStandingLocked(ev.User.ID, *ev.Standing)
	}
	if ev.Topic != nil {
		r.info.Topic = *ev.Topic
	}
	if ev.Message != nil {
		r.replaceRecentLocked(*ev.Message)
	}
	if len(ev.Frame) > 0 {
		r.toOthersLocked(ev.Except, ev.Frame)
	}
}

// setStandingLocked updates the cached standing of userID's sessions,
// joined or joining.
func (r *room) setStandingLocked(userID string, m parley.Membership) {
	for s, mem := range r.members {
		if s.principal.ID == userID {
			mem.standing = m
		}
	}
	for s, j := range r.joins {
		if s.principal.ID == userID {
			j.standing = &m
		}
	}
}

// replaceRecentLocked swaps an edited or deleted message into the recent
// cache, so a resume replays it as it is now.
func (r *room) replaceRecentLocked(m parley.Message) {
	if m.Seq > r.delivered || m.Seq <= r.delivered-parley.Seq(r.nrecent) {
		return
	}
	r.recent[m.Seq%recentSize] = &outMessage{msg: m}
}
