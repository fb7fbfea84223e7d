package hub

import (
	"context"
	"maps"
	"slices"
	"strings"
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
	msg       parley.Message
	jsonFrame []byte
	textFrame []byte
}

// member is one session's place in a room.
type member struct {
	// syncing is true while the session replays its backlog; live messages
	// wait in held meanwhile so the seam has no gap and no duplicate.
	syncing    bool
	held       []*outMessage
	lastTyping time.Time
	// standing is the user's membership as of the join, kept current by
	// moderation, so a send needs no store read to check a mute.
	standing parley.Membership
}

// room is the local state of one room: its members on this node, who is
// online, and the sequencer that delivers messages in seq order.
type room struct {
	name string
	hub  *Hub
	refs int // guarded by hub.mu: sessions in or joining the room

	mu        sync.Mutex
	info      parley.Room // kind and topic, refreshed by every join
	loaded    bool
	delivered parley.Seq // the highest seq broadcast here
	pending   map[parley.Seq]*outMessage
	gapTimer  *time.Timer
	members   map[*Session]*member
	online    map[string]*presence    // by user id
	recent    [recentSize]*outMessage // recent[seq % recentSize], contiguous up to delivered
	nrecent   int
}

// presence counts one user's connections in the room.
type presence struct {
	user  parley.User
	conns int
	// joinedAt orders the online list by arrival.
	joinedAt time.Time
}

func newRoom(h *Hub, name string) *room {
	return &room{
		name:    name,
		hub:     h,
		pending: make(map[parley.Seq]*outMessage),
		members: make(map[*Session]*member),
		online:  make(map[string]*presence),
	}
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
	r.delivered = head
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
	if until == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.hub.opts.StoreTimeout)
	defer cancel()
	msgs, err := r.hub.store.Messages(ctx, r.name, from, until-1, int(until-1-from))
	if err != nil {
		r.hub.log.Warn("filling a gap in a room's messages", "room", r.name, "after", from, "err", err)
	}
	for _, m := range msgs {
		r.deliver(m)
	}
	r.mu.Lock()
	if len(r.pending) > 0 && r.gapTimer == nil {
		r.gapTimer = time.AfterFunc(gapWait, r.fillGap)
	}
	r.mu.Unlock()
}

func (r *room) broadcastLocked(out *outMessage) {
	r.delivered = out.msg.Seq
	r.recent[out.msg.Seq%recentSize] = out
	r.nrecent = min(r.nrecent+1, recentSize)
	for s, m := range r.members {
		if m.syncing {
			m.held = append(m.held, out)
			continue
		}
		s.pushMessage(r, out)
	}
}

// frameFor returns out's frame in the session's mode, building it once.
// Called with r.mu held.
func (r *room) frameFor(out *outMessage, mode Mode) []byte {
	if mode == ModeText {
		if out.textFrame == nil {
			out.textFrame = r.hub.frame(func(b []byte) []byte { return protocol.AppendTextLine(b, out.msg) })
		}
		return out.textFrame
	}
	if out.jsonFrame == nil {
		out.jsonFrame = r.hub.frame(func(b []byte) []byte { return protocol.AppendMessage(b, out.msg) })
	}
	return out.jsonFrame
}

// recentFrom returns the cached messages from seq from up to delivered, or
// false if the cache doesn't reach back that far.
func (r *room) recentFromLocked(from parley.Seq) ([]*outMessage, bool) {
	oldest := r.delivered - parley.Seq(r.nrecent) + 1
	if from < oldest {
		return nil, false
	}
	out := make([]*outMessage, 0, r.delivered-from+1)
	for seq := from; seq <= r.delivered; seq++ {
		out = append(out, r.recent[seq%recentSize])
	}
	return out, true
}

// join adds s to the room and sends it the joined frame, then the backlog
// after since (the last replayTail messages when since is nil; none when
// replay is false), then live messages, with nothing lost or repeated at the
// seam between backlog and live.
func (r *room) join(ctx context.Context, s *Session, id string, since *parley.Seq, replay bool, adm admission) error {
	r.mu.Lock()
	if err := r.loadLocked(ctx); err != nil {
		r.mu.Unlock()
		return err
	}
	r.info = adm.room
	m := r.members[s]
	if m == nil {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			// The connection ended since Session.join recorded this room, and
			// its cleanup has left the room already: a member added now would
			// stay online for good.
			r.mu.Unlock()
			return nil
		}
		m = &member{}
		r.members[s] = m
		r.addPresenceLocked(s)
	}
	m.standing = adm.member
	// A repeated join on the same connection is a request for the backlog
	// again: live messages keep flowing and the replay ends at the head.
	head := r.delivered
	if s.mode == ModeJSON {
		s.pushFrame(r.hub.encode(protocol.Joined{Type: protocol.TypeJoined, ID: id, Room: r.name, Head: head, Online: r.onlineLocked()}))
	}

	from := r.replayStart(head, since)
	if !replay || from > head {
		r.mu.Unlock()
		return nil
	}
	if cached, ok := r.recentFromLocked(from); ok {
		for _, out := range cached {
			s.pushMessage(r, out)
		}
		r.mu.Unlock()
		return nil
	}
	// The backlog is older than the cache: read it from the store without
	// holding up the room, keeping live messages aside meanwhile.
	m.syncing = true
	r.mu.Unlock()

	msgs, err := r.hub.store.Messages(ctx, r.name, from-1, head, int(head-from+1))
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		for _, msg := range msgs {
			s.pushMessage(r, &outMessage{msg: msg})
		}
	}
	for _, out := range m.held {
		s.pushMessage(r, out)
	}
	m.syncing, m.held = false, nil
	return err
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

// leave removes s from the room; it reports whether s was a member.
func (r *room) leave(s *Session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.members[s]; !ok {
		return false
	}
	delete(r.members, s)
	r.removePresenceLocked(s)
	return true
}

func (r *room) addPresenceLocked(s *Session) {
	p := r.online[s.principal.ID]
	if p != nil {
		p.conns++
		return
	}
	r.online[s.principal.ID] = &presence{user: s.principal.User, conns: 1, joinedAt: r.hub.now()}
	r.announceLocked(s, protocol.PresenceJoin)
}

func (r *room) removePresenceLocked(s *Session) {
	p := r.online[s.principal.ID]
	if p == nil {
		return
	}
	if p.conns--; p.conns > 0 {
		return
	}
	delete(r.online, s.principal.ID)
	r.announceLocked(s, protocol.PresenceLeave)
}

// announceLocked tells the room's other users that s's user arrived or left.
func (r *room) announceLocked(s *Session, event string) {
	r.toOthersLocked(s.principal.ID, protocol.Presence{Type: protocol.TypePresence, Room: r.name, Event: event, User: s.principal.User})
}

// typing tells the others that s is typing, at most once per typingInterval.
func (r *room) typing(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.members[s]
	now := r.hub.now()
	if m == nil || now.Sub(m.lastTyping) < typingInterval {
		return
	}
	m.lastTyping = now
	r.toOthersLocked(s.principal.ID, protocol.Typing{Type: protocol.TypeTyping, Room: r.name, User: s.principal.User})
}

// toOthersLocked sends a JSON frame, encoded once, to every JSON-mode member
// who is not the given user; text mode only carries messages.
func (r *room) toOthersLocked(userID string, frame any) {
	var wire []byte
	for s := range r.members {
		if s.principal.ID == userID || s.mode != ModeJSON {
			continue
		}
		if wire == nil {
			wire = r.hub.encode(frame)
		}
		s.pushFrame(wire)
	}
}

// onlineLocked lists the room's users in the order they arrived.
func (r *room) onlineLocked() []parley.User {
	ps := slices.Collect(maps.Values(r.online))
	slices.SortFunc(ps, func(a, b *presence) int {
		if c := a.joinedAt.Compare(b.joinedAt); c != 0 {
			return c
		}
		return strings.Compare(a.user.Name, b.user.Name)
	})
	users := make([]parley.User, len(ps))
	for i, p := range ps {
		users[i] = p.user
	}
	return users
}

// tellLocked sends a room event to every JSON-mode member.
func (r *room) tellLocked(frame any) {
	r.toOthersLocked("", frame)
}

// setStandingLocked updates the cached standing of userID's sessions.
func (r *room) setStandingLocked(userID string, m parley.Membership) {
	for s, mem := range r.members {
		if s.principal.ID == userID {
			mem.standing = m
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
