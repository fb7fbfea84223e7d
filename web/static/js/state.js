// The page's model: the rooms I am in, the room on screen, the users I
// have seen. Other modules read and change it; rendering follows from it.

export const LOBBY = "lobby";

export const state = {
  me: null, // {id, name}
  kind: "guest", // guest, account or external (a JWT user)
  admin: false, // site admins may moderate every public and private room
  rooms: new Map(), // name → Room
  current: null, // the Room on screen
  users: new Map(), // id → {id, name}: everyone seen, for invites and peers
  initialRooms: true, // the first rooms list of this page is being merged
};

export class Room {
  constructor(name) {
    this.name = name;
    this.kind = name.startsWith("dm-") ? "direct" : "public";
    this.topic = "";
    this.role = "member";
    this.peer = null; // direct rooms: the other user
    this.joined = false; // joined on the current socket
    this.head = 0; // the room's latest seq when joined
    this.lastSeq = 0; // the highest seq shown, an ack's included
    // The highest seq of the message frames received: a rejoin resumes after
    // it. Not an ack's: an ack may come before messages stored ahead of it,
    // still on their way, and resuming after it would skip them.
    this.resumeSeq = 0;
    this.firstSeq = 0; // the lowest seq loaded: scroll-back pages before it
    this.more = true; // older messages exist on the server
    this.loading = false; // a history page is on its way
    this.resumeFrom = null; // the since of a resuming join, until its first message
    this.gap = null; // {since, before}: messages a resume missed, being paged in
    this.readSeq = null; // the highest seq I have seen; null until known
    this.markerSeq = null; // where the "new messages" divider sits
    this.messages = new Map(); // seq → {m, li}
    this.online = new Map(); // id → user
    this.onlineUnlisted = 0; // online but not listed: a room over the presence limit
    this.typing = new Map(); // id → {name, timer}
    this.mutedUntil = 0;
    this.list = null; // the <ol> of messages, built when first shown
    this.scrollTop = null; // where the reader left it; null means the bottom
  }

  // label is what a person calls the room; a direct room is named by its
  // peer, which the rooms list doesn't say (the page remembers it).
  get label() {
    if (this.kind === "direct") return this.peer ? this.peer.name : "Direct conversation";
    return this.name;
  }

  // title names the room in sentences and labels: "#lobby", "plans"
  // (private rooms get a padlock icon, drawn by CSS), or the peer's name.
  get title() {
    if (this.kind === "direct") return this.label;
    return this.kind === "private" ? this.name : `#${this.name}`;
  }

  // canModerate: moderation controls are shown to those the server would
  // let act; the server checks again (parley.Authorize).
  get canModerate() {
    if (this.kind === "direct") return false;
    return this.role === "owner" || this.role === "moderator" || state.admin;
  }

  get muted() { return this.mutedUntil > Date.now(); }

  // unread counts messages from others after readSeq, including those not
  // loaded yet (seqs have no gaps, so the gap before firstSeq counts too).
  get unread() {
    if (this.readSeq == null) return 0;
    let n = 0;
    for (const { m } of this.messages.values()) {
      if (m.seq > this.readSeq && m.from.id !== state.me?.id) n++;
    }
    if (this.firstSeq && this.firstSeq - 1 > this.readSeq) n += this.firstSeq - 1 - this.readSeq;
    return n;
  }
}

export function remember(user) {
  if (!user?.id || user.id === state.me?.id) return;
  state.users.set(user.id, { id: user.id, name: user.name });
}
