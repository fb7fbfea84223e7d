package hub

import (
	"slices"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
)

// presence is one user's presence in a room: their connections on this
// node, and the other nodes that said they have the user, each with the
// time its word expires. The user is online while either is non-empty, or
// while the last local connection's linger lasts.
type presence struct {
	user  parley.User
	conns int
	nodes map[string]time.Time
	// lingerUntil (unix nanoseconds) is set while the user's last
	// connection here has dropped and the user still counts as online, for
	// a reconnect to find; 0 otherwise.
	lingerUntil int64
	departed    bool // gone from online; still in the room's arrivals
}

func (p *presence) online() bool { return p.local() || len(p.nodes) > 0 }

// local reports whether the user is here on this node, connected or
// lingering.
func (p *presence) local() bool { return p.conns > 0 || p.lingerUntil != 0 }

func (r *room) presenceOf(u parley.User) *presence {
	p := r.online[u.ID]
	if p == nil {
		p = &presence{user: u}
		r.online[u.ID] = p
		r.arrivals = append(r.arrivals, p)
	}
	return p
}

// addLocalLocked counts a new local connection of u; it reports whether u
// is new here, which the other nodes must hear of.
func (r *room) addLocalLocked(u parley.User) bool {
	p := r.presenceOf(u)
	was, wasLocal := p.online(), p.local()
	p.conns++
	p.lingerUntil = 0
	if !was {
		r.announceLocked(u, protocol.PresenceJoin)
	}
	return !wasLocal
}

// removeLocalLocked counts a local connection of u gone; it reports whether
// u has left this node, which the other nodes must hear of. When linger is
// set and the connection was u's last, u stays online for
// Options.PresenceLinger instead, so a client that reconnects at once (a
// network blip, a reconnect storm) causes no leave and join for everyone;
// the timer that ends lingering holds a reference on the room, so the room
// (and its recent messages) stays for the reconnect. (The hub's lock may be
// taken under a room's, never the other way round.)
func (r *room) removeLocalLocked(u parley.User, linger bool) (gone bool) {
	p := r.online[u.ID]
	if p == nil || p.conns == 0 {
		return false
	}
	p.conns--
	if p.conns > 0 {
		return false
	}
	if d := r.hub.opts.PresenceLinger; linger && d > 0 {
		p.lingerUntil = r.hub.now().Add(d).UnixNano()
		if r.lingerTimer == nil {
			r.hub.retain(r)
			r.lingerTimer = time.AfterFunc(d, r.endLingering)
		}
		return false
	}
	r.dropIfOfflineLocked(p)
	return true
}

// endLingering takes the users whose linger is over offline. The timer runs
// while anyone lingers and holds a reference on the room meanwhile.
func (r *room) endLingering() {
	r.mu.Lock()
	now := r.hub.now().UnixNano()
	var gone []parley.User
	var next int64
	for _, p := range r.online {
		switch {
		case p.lingerUntil == 0:
		case now < p.lingerUntil:
			if next == 0 || p.lingerUntil < next {
				next = p.lingerUntil
			}
		default:
			p.lingerUntil = 0
			gone = append(gone, p.user)
			r.dropIfOfflineLocked(p)
		}
	}
	done := next == 0
	if done {
		r.lingerTimer = nil
	} else {
		r.lingerTimer.Reset(time.Duration(next - now))
	}
	r.mu.Unlock()
	for i := range gone {
		r.hub.publish(event{Room: r.name, Kind: evGone, User: &gone[i]})
	}
	if done {
		r.hub.release(r)
	}
}

func (r *room) dropIfOfflineLocked(p *presence) {
	if !p.online() {
		// Announced, or not, as the room was with the user in it.
		r.announceLocked(p.user, protocol.PresenceLeave)
		delete(r.online, p.user.ID)
		// Finding p in arrivals would cost a scan per departure, O(n²)
		// when a big room empties (lingering ends for everyone at once);
		// the departed are swept out together once they are half.
		p.departed = true
		if r.departed++; 2*r.departed > len(r.arrivals) {
			r.arrivals = slices.DeleteFunc(r.arrivals, func(p *presence) bool { return p.departed })
			r.departed = 0
		}
	}
}

// announceLocked tells the room's other users that u arrived or left,
// unless the room is over the presence limit: there every arrival would
// cost a frame to each of thousands of members, O(members²) in all, for a
// list no one reads.
func (r *room) announceLocked(u parley.User, ev string) {
	if r.overPresenceLimitLocked() {
		return
	}
	r.toOthersLocked(u.ID, protocol.Encode(protocol.Presence{Type: protocol.TypePresence, Room: r.name, Event: ev, User: u}))
}

// applyPresence applies another node's presence news.
func (r *room) applyPresence(ev event) {
	r.mu.Lock()
	now := r.hub.now()
	switch ev.Kind {
	case evHere:
		if ev.User != nil {
			r.remoteHereLocked(*ev.User, ev.Node, now)
		}
	case evGone:
		if p := r.online[userID(ev.User)]; p != nil {
			delete(p.nodes, ev.Node)
			r.dropIfOfflineLocked(p)
		}
	case evRefresh:
		listed := make(map[string]bool, len(ev.Users))
		for _, u := range ev.Users {
			listed[u.ID] = true
			r.remoteHereLocked(u, ev.Node, now)
		}
		for _, p := range r.online {
			if _, ok := p.nodes[ev.Node]; ok && !listed[p.user.ID] {
				delete(p.nodes, ev.Node)
				r.dropIfOfflineLocked(p)
			}
		}
	}
	var users []parley.User
	if ev.Kind == evSync {
		users = r.localUsersLocked()
	}
	r.mu.Unlock()
	if len(users) > 0 {
		r.hub.publish(event{Room: r.name, Kind: evRefresh, Users: users})
	}
}

func (r *room) remoteHereLocked(u parley.User, node string, now time.Time) {
	p := r.presenceOf(u)
	was := p.online()
	if p.nodes == nil {
		p.nodes = make(map[string]time.Time)
	}
	p.nodes[node] = now.Add(time.Duration(presenceTTL * float64(r.hub.opts.PresenceRefresh)))
	if !was {
		r.announceLocked(u, protocol.PresenceJoin)
	}
}

// expireRemote drops other nodes' presence entries that were not refreshed
// in time: their node is gone.
func (r *room) expireRemote() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.hub.now()
	for _, p := range r.online {
		for node, until := range p.nodes {
			if now.After(until) {
				delete(p.nodes, node)
			}
		}
		r.dropIfOfflineLocked(p)
	}
}

// localUsers lists the users with connections in the room on this node.
func (r *room) localUsers() []parley.User {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.localUsersLocked()
}

func (r *room) localUsersLocked() []parley.User {
	var users []parley.User
	for _, p := range r.online {
		if p.local() {
			users = append(users, p.user)
		}
	}
	return users
}

// onlineLocked lists the room's users, on any node, in the order they
// arrived: all of them, or the first PresenceLimit in a room over it.
func (r *room) onlineLocked() []parley.User {
	n := len(r.online)
	if limit := r.hub.opts.PresenceLimit; limit > 0 {
		n = min(n, limit)
	}
	users := make([]parley.User, 0, n)
	for _, p := range r.arrivals {
		if len(users) == n {
			break
		}
		if !p.departed {
			users = append(users, p.user)
		}
	}
	return users
}

func (r *room) overPresenceLimitLocked() bool {
	limit := r.hub.opts.PresenceLimit
	return limit > 0 && len(r.online) > limit
}

func userID(u *parley.User) string {
	if u == nil {
		return ""
	}
	return u.ID
}
