package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/protocol"
	"github.com/parleychat/parley/sqlite"
)

// guest creates a user in the store, as moderation needs its target there.
func guest(tb testing.TB, st *sqlite.Store, name string) parley.User {
	tb.Helper()
	u, err := st.CreateGuest(context.Background(), name, []byte("hash-"+name))
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// moderated sets up a room r with alice, a moderator, and bob, a member,
// each joined on one connection.
func moderated(t *testing.T, opts Options) (h *Hub, a *Session, asnk *sink, b *Session, bsnk *sink) {
	t.Helper()
	h, st := newTestHub(t, opts)
	alice, bob := guest(t, st, "alice"), guest(t, st, "bob")
	a, asnk = connect(t, h, alice, ModeJSON)
	join(t, a, asnk, "r", nil)
	b, bsnk = connect(t, h, bob, ModeJSON)
	join(t, b, bsnk, "r", nil)
	asnk.expect(t, protocol.TypePresence) // bob arrives
	if err := st.SetRole(context.Background(), "r", alice.ID, parley.RoleModerator); err != nil {
		t.Fatal(err)
	}
	return h, a, asnk, b, bsnk
}

// TestKickedUserHearsWhy: the member event about a kick or a ban reaches
// the user it removes, before they stop hearing the room.
func TestKickedUserHearsWhy(t *testing.T) {
	for _, tc := range []struct{ frame, event string }{
		{protocol.TypeKick, protocol.MemberKicked},
		{protocol.TypeBan, protocol.MemberBanned},
	} {
		t.Run(tc.frame, func(t *testing.T) {
			// Coalesce holds the room's next pass back after the message
			// below, so the eviction runs well before the pass that carries
			// the event.
			h, a, asnk, b, bsnk := moderated(t, Options{Coalesce: 500 * time.Millisecond})
			h.Deliver(message("r", 1))
			expectSeqs(t, asnk, 1, 1)
			expectSeqs(t, bsnk, 1, 1)

			a.Handle(context.Background(), fmt.Appendf(nil, `{"type":%q,"id":"k","room":"r","user":%q}`, tc.frame, b.User().ID))
			if f := asnk.expect(t, protocol.TypeMember); f.Event != tc.event || f.User != b.User() {
				t.Fatalf("alice got %+v, want bob %s", f, tc.event)
			}
			if f := asnk.expect(t, protocol.TypePresence); f.Event != protocol.PresenceLeave || f.User != b.User() {
				t.Fatalf("alice got %+v, want bob leaving", f)
			}
			asnk.expect(t, protocol.TypeOK)
			// The ok came after the event; by then bob has it too.
			b.PushControl(marker)
			raw := bsnk.next(t)
			if bytes.Equal(raw, marker) {
				t.Fatalf("bob got nothing, want the member event saying he was %s", tc.event)
			}
			if f := decodeFrame(t, raw); f.Type != protocol.TypeMember || f.Event != tc.event || f.User != b.User() {
				t.Fatalf("bob got %+v, want the member event saying he was %s", f, tc.event)
			}
			if raw := bsnk.next(t); !bytes.Equal(raw, marker) {
				t.Fatalf("bob got %s after the member event, want nothing more", raw)
			}
			if err := b.send(context.Background(), "s", "r", "still here?", "n"); parley.ErrorCode(err) != parley.EFORBIDDEN {
				t.Fatalf("bob's send after the %s: %v, want %s", tc.frame, err, parley.EFORBIDDEN)
			}
		})
	}
}

// hookStore runs hook once, when a membership of userID has been read: a
// moderator acting between a join's admission and its end.
type hookStore struct {
	*sqlite.Store
	userID string
	hook   atomic.Pointer[func()]
}

func (s *hookStore) Membership(ctx context.Context, room, userID string) (parley.Membership, error) {
	m, err := s.Store.Membership(ctx, room, userID)
	if userID == s.userID {
		if hook := s.hook.Swap(nil); hook != nil {
			(*hook)()
		}
	}
	return m, err
}

// TestKickDuringJoin: a user kicked or banned while their join is being
// admitted does not end up in the room with the standing they had before.
func TestKickDuringJoin(t *testing.T) {
	for _, kind := range []string{protocol.TypeKick, protocol.TypeBan} {
		t.Run(kind, func(t *testing.T) {
			st := &hookStore{Store: openStore(t)}
			h := New(st, Options{})
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				defer cancel()
				if err := h.Shutdown(ctx); err != nil {
					t.Error(err)
				}
			})
			alice, bob := guest(t, st.Store, "alice"), guest(t, st.Store, "bob")
			a, asnk := connect(t, h, alice, ModeJSON)
			join(t, a, asnk, "r", nil)
			if err := st.SetRole(context.Background(), "r", alice.ID, parley.RoleModerator); err != nil {
				t.Fatal(err)
			}
			if err := st.SetRole(context.Background(), "r", bob.ID, parley.RoleMember); err != nil {
				t.Fatal(err)
			}
			b, bsnk := connect(t, h, bob, ModeJSON)

			st.userID = bob.ID
			kick := func() {
				a.Handle(context.Background(), fmt.Appendf(nil, `{"type":%q,"id":"k","room":"r","user":%q}`, kind, bob.ID))
			}
			st.hook.Store(&kick)
			err := b.join(context.Background(), protocol.ClientFrame{Type: protocol.TypeJoin, ID: "j", Room: "r"})
			if st.hook.Load() != nil {
				t.Fatal("the kick did not run during the join")
			}
			asnk.expect(t, protocol.TypeMember)
			asnk.expect(t, protocol.TypeOK)

			if err := b.send(context.Background(), "s", "r", "in anyway", "n"); parley.ErrorCode(err) != parley.EFORBIDDEN {
				t.Fatalf("bob's send after the %s during his join: %v, want %s", kind, err, parley.EFORBIDDEN)
			}
			h.Deliver(appendMessage(t, st.Store, "r", alice, "not for bob"))
			expectSeqs(t, asnk, 1, 1)
			a.settle() // the pass that brought alice the message is over
			b.PushControl(marker)
			for raw := bsnk.next(t); !bytes.Equal(raw, marker); raw = bsnk.next(t) {
				if f := decodeFrame(t, raw); f.Type == protocol.TypeMessage {
					t.Fatalf("bob, %s during his join, still hears the room: %s", kind, raw)
				}
			}
			if err == nil {
				t.Fatal("bob's join succeeded, want an error: he was removed while joining")
			}
		})
	}
}

// TestRoomsListsWhatMayBeRead: a guest whom an account named as a member
// of a private room doesn't see it listed (guests use public rooms only),
// nor does a token limited to other rooms.
func TestRoomsListsWhatMayBeRead(t *testing.T) {
	ctx := context.Background()
	h, st := newTestHub(t, Options{})
	ann, bob := guest(t, st, "ann"), guest(t, st, "bob")
	if _, err := st.CreateRoom(ctx, parley.Room{Name: "secret", Kind: parley.RoomPrivate}, ann.ID, []string{bob.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRoom(ctx, parley.Room{Name: "open", Kind: parley.RoomPublic}, ann.ID, []string{bob.ID}); err != nil {
		t.Fatal(err)
	}
	names := func(p parley.Principal) []string {
		rooms, err := h.Rooms(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rooms {
			out = append(out, r.Room.Name)
		}
		slices.Sort(out)
		return out
	}
	if got := names(parley.Principal{User: bob, Kind: parley.KindAccount}); !slices.Equal(got, []string{"open", "secret"}) {
		t.Errorf("an account's rooms: %v, want open and secret", got)
	}
	if got := names(parley.Principal{User: bob, Kind: parley.KindGuest}); !slices.Equal(got, []string{"open"}) {
		t.Errorf("a guest's rooms: %v, want open only", got)
	}
	if got := names(parley.Principal{User: bob, Kind: parley.KindExternal, Rooms: []string{"secret"}}); !slices.Equal(got, []string{"secret"}) {
		t.Errorf("a token for secret only: %v, want secret only", got)
	}
}

// TestEditsAreRateLimited: edits reach every member like sends, so a user
// can't flood a room by editing one message over and over.
func TestEditsAreRateLimited(t *testing.T) {
	ctx := context.Background()
	h, st := newTestHub(t, Options{Limits: protocol.Limits{Rate: 1, Burst: 2}})
	bob := guest(t, st, "bob")
	p := parley.Principal{User: bob, Kind: parley.KindGuest}
	m := appendMessage(t, st, "r", bob, "first")
	for i := range 2 {
		if err := h.Edit(ctx, p, "r", m.Seq, fmt.Sprint("edit ", i)); err != nil {
			t.Fatalf("edit %d within the burst: %v", i, err)
		}
	}
	var rl *protocol.RateLimitError
	err := h.Edit(ctx, p, "r", m.Seq, "one too many")
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 || parley.ErrorCode(err) != parley.ERATELIMITED {
		t.Fatalf("edit over the burst: %v, want rate_limited with a wait", err)
	}
	if got, _, _ := st.History(ctx, "r", 0, 1); len(got) != 1 || got[0].Text != "edit 1" {
		t.Errorf("the refused edit changed the message: %+v", got)
	}
}

// TestGuestsStayOutOfPrivateRooms: an account can't make a guest a member
// of a room guests can't use, nor open a direct room with one; a public
// room is fine.
func TestGuestsStayOutOfPrivateRooms(t *testing.T) {
	ctx := context.Background()
	h, st := newTestHub(t, Options{})
	ann, gil := guest(t, st, "ann"), guest(t, st, "gil")
	annAcct := parley.Principal{User: ann, Kind: parley.KindAccount} // the kind is the principal's
	acct, err := st.CreateAccount(ctx, "bob", "hash", false)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := h.CreateRoom(ctx, annAcct, "plans", parley.RoomPrivate, "", []string{gil.ID}); parley.ErrorCode(err) != parley.EFORBIDDEN {
		t.Errorf("a private room naming a guest: %v, want forbidden", err)
	}
	if _, err := h.CreateRoom(ctx, annAcct, "plans", parley.RoomPrivate, "", []string{acct.ID}); err != nil {
		t.Fatalf("a private room naming an account: %v", err)
	}
	invite := func(room, user string) error {
		return h.Moderate(ctx, annAcct, protocol.ClientFrame{Type: protocol.TypeInvite, Room: room, User: user})
	}
	if err := invite("plans", gil.ID); parley.ErrorCode(err) != parley.EFORBIDDEN || !strings.Contains(parley.ErrorMessage(err), "guest") {
		t.Errorf("inviting a guest into a private room: %v, want forbidden, naming the guest", err)
	}
	if _, _, err := h.OpenDirect(ctx, annAcct, gil.ID); parley.ErrorCode(err) != parley.EFORBIDDEN {
		t.Errorf("a direct room with a guest: %v, want forbidden", err)
	}
	if _, _, err := h.OpenDirect(ctx, annAcct, acct.ID); err != nil {
		t.Errorf("a direct room with an account: %v", err)
	}
	if _, err := h.CreateRoom(ctx, annAcct, "open", parley.RoomPublic, "", []string{gil.ID}); err != nil {
		t.Errorf("a public room naming a guest: %v", err)
	}
}
