package parleytest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley"
)

// The RoomStore part of StoreSuite.

func testCreateRoom(t *testing.T, s fullStore) {
	ctx := context.Background()
	before := time.Now()
	r, err := s.CreateRoom(ctx, parley.Room{Name: "team", Kind: parley.RoomPrivate, Topic: "plans ✓"},
		alice.ID, []string{bob.ID, alice.ID})
	after := time.Now()
	if err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	wantStamp(t, "CreateRoom: CreatedAt", r.CreatedAt, before, after)
	want := parley.Room{Name: "team", Kind: parley.RoomPrivate, Topic: "plans ✓", CreatedAt: r.CreatedAt}
	sameRoom(t, r, want)
	if got, err := s.Room(ctx, "team"); err != nil {
		t.Errorf("Room(team): %v", err)
	} else {
		sameRoom(t, got, want)
	}
	// The owner listed among the members stays the owner.
	wantMembership(t, s, "team", alice.ID, parley.Membership{Role: parley.RoleOwner})
	wantMembership(t, s, "team", bob.ID, parley.Membership{Role: parley.RoleMember})
	wantMembership(t, s, "team", "u-carol", parley.Membership{})
	wantHead(t, s, "team", 0)

	// A name is taken whatever made the room, and whatever kind is asked.
	_, err = s.CreateRoom(ctx, parley.Room{Name: "team", Kind: parley.RoomPublic}, bob.ID, nil)
	wantCode(t, "CreateRoom(team) again", err, parley.ECONFLICT)
	wantMembership(t, s, "team", bob.ID, parley.Membership{Role: parley.RoleMember})
	mustAppend(t, s, parley.Message{Room: "chat", From: alice, Text: "hi"})
	_, err = s.CreateRoom(ctx, parley.Room{Name: "chat", Kind: parley.RoomPrivate}, alice.ID, nil)
	wantCode(t, "CreateRoom of a room Append made", err, parley.ECONFLICT)
	if _, err := s.EnsureRoom(ctx, "lobby"); err != nil {
		t.Fatalf("EnsureRoom(lobby): %v", err)
	}
	_, err = s.CreateRoom(ctx, parley.Room{Name: "lobby", Kind: parley.RoomPublic}, "", nil)
	wantCode(t, "CreateRoom of a room EnsureRoom made", err, parley.ECONFLICT)

	// Appending to a created room numbers from 1 and keeps the room as it was.
	if m := mustAppend(t, s, parley.Message{Room: "team", From: bob, Text: "first"}); m.Seq != 1 {
		t.Errorf("first message in a created room: seq %d, want 1", m.Seq)
	}
	if got, err := s.Room(ctx, "team"); err != nil {
		t.Errorf("Room(team) after Append: %v", err)
	} else {
		sameRoom(t, got, want)
	}

	// A direct room without an owner; a room with no members at all.
	dm := parley.DirectRoomName(alice.ID, bob.ID)
	if _, err := s.CreateRoom(ctx, parley.Room{Name: dm, Kind: parley.RoomDirect}, "", []string{alice.ID, bob.ID}); err != nil {
		t.Fatalf("CreateRoom(direct): %v", err)
	}
	if got, err := s.Room(ctx, dm); err != nil || got.Kind != parley.RoomDirect || got.Topic != "" {
		t.Errorf("Room(direct) = %+v, %v; want kind direct, no topic", got, err)
	}
	wantMembership(t, s, dm, alice.ID, parley.Membership{Role: parley.RoleMember})
	wantMembership(t, s, dm, bob.ID, parley.Membership{Role: parley.RoleMember})
	if _, err := s.CreateRoom(ctx, parley.Room{Name: "empty", Kind: parley.RoomPublic}, "", nil); err != nil {
		t.Fatalf("CreateRoom(empty): %v", err)
	}
	if got, err := s.Room(ctx, "empty"); err != nil || got.Kind != parley.RoomPublic {
		t.Errorf("Room(empty) = %+v, %v; want a public room", got, err)
	}
}

func testEnsureRoom(t *testing.T, s fullStore) {
	ctx := context.Background()
	_, err := s.Room(ctx, "x")
	wantCode(t, "Room of a missing room", err, parley.ENOTFOUND)

	before := time.Now()
	r, err := s.EnsureRoom(ctx, "x")
	after := time.Now()
	if err != nil {
		t.Fatalf("EnsureRoom(x): %v", err)
	}
	wantStamp(t, "EnsureRoom: CreatedAt", r.CreatedAt, before, after)
	want := parley.Room{Name: "x", Kind: parley.RoomPublic, CreatedAt: r.CreatedAt}
	sameRoom(t, r, want)
	if again, err := s.EnsureRoom(ctx, "x"); err != nil {
		t.Errorf("EnsureRoom(x) again: %v", err)
	} else {
		sameRoom(t, again, want)
	}
	if got, err := s.Room(ctx, "x"); err != nil {
		t.Errorf("Room(x): %v", err)
	} else {
		sameRoom(t, got, want)
	}
	wantHead(t, s, "x", 0)
	wantMembership(t, s, "x", alice.ID, parley.Membership{}) // no owner

	// An existing room comes back as it is, whatever made it.
	created, err := s.CreateRoom(ctx, parley.Room{Name: "p", Kind: parley.RoomPrivate, Topic: "t"}, alice.ID, nil)
	if err != nil {
		t.Fatalf("CreateRoom(p): %v", err)
	}
	if got, err := s.EnsureRoom(ctx, "p"); err != nil {
		t.Errorf("EnsureRoom(p): %v", err)
	} else {
		sameRoom(t, got, created)
	}
	m := mustAppend(t, s, parley.Message{Room: "appended", From: alice, Text: "hi"})
	got, err := s.EnsureRoom(ctx, "appended")
	if err != nil || got.Kind != parley.RoomPublic || got.Topic != "" || got.CreatedAt.IsZero() || got.CreatedAt.After(m.TS) {
		t.Errorf("EnsureRoom of a room Append made = %+v, %v; want public, no topic, created by %v", got, err, m.TS)
	}
	if r, err := s.Room(ctx, "appended"); err != nil || !r.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("Room(appended) = %+v, %v; want %+v", r, err, got)
	}
}

func testSetTopic(t *testing.T, s fullStore) {
	ctx := context.Background()
	r, err := s.EnsureRoom(ctx, "t")
	if err != nil {
		t.Fatalf("EnsureRoom: %v", err)
	}
	for _, topic := range []string{"Release planning 🚀", "", "quotes ' \" and ; --"} {
		if err := s.SetTopic(ctx, "t", topic); err != nil {
			t.Fatalf("SetTopic(%q): %v", topic, err)
		}
		want := r
		want.Topic = topic
		if got, err := s.Room(ctx, "t"); err != nil {
			t.Errorf("Room after SetTopic(%q): %v", topic, err)
		} else {
			sameRoom(t, got, want)
		}
	}
	wantCode(t, "SetTopic of a missing room", s.SetTopic(ctx, "nosuchroom", "x"), parley.ENOTFOUND)
	if _, err := s.Room(ctx, "nosuchroom"); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("SetTopic of a missing room created it: Room = %v", err)
	}
}

func testMembership(t *testing.T, s fullStore) {
	ctx := context.Background()
	mustEnsure(t, s, "m")
	wantMembership(t, s, "m", alice.ID, parley.Membership{})
	wantMembership(t, s, "m", "u-nobody", parley.Membership{})

	for _, role := range []parley.Role{parley.RoleMember, parley.RoleModerator, parley.RoleOwner, parley.RoleMember} {
		mustOK(t, "SetRole("+string(role)+")", s.SetRole(ctx, "m", alice.ID, role))
		wantMembership(t, s, "m", alice.ID, parley.Membership{Role: role})
	}
	wantMembership(t, s, "m", bob.ID, parley.Membership{}) // others are untouched

	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	mustOK(t, "SetMutedUntil", s.SetMutedUntil(ctx, "m", alice.ID, until))
	wantMembership(t, s, "m", alice.ID, parley.Membership{Role: parley.RoleMember, MutedUntil: until})
	if m, _ := s.Membership(ctx, "m", alice.ID); !m.Muted(time.Now()) || m.Muted(until) {
		t.Errorf("Membership %+v: want muted now and not at %v", m, until)
	}
	mustOK(t, "SetMutedUntil(zero)", s.SetMutedUntil(ctx, "m", alice.ID, time.Time{}))
	wantMembership(t, s, "m", alice.ID, parley.Membership{Role: parley.RoleMember})

	// A mute needs no membership, and outlives one.
	mustOK(t, "SetMutedUntil of a non-member", s.SetMutedUntil(ctx, "m", bob.ID, until))
	wantMembership(t, s, "m", bob.ID, parley.Membership{MutedUntil: until})
	mustOK(t, "SetRole(member)", s.SetRole(ctx, "m", bob.ID, parley.RoleMember))
	mustOK(t, "SetRole(none)", s.SetRole(ctx, "m", bob.ID, parley.RoleNone))
	wantMembership(t, s, "m", bob.ID, parley.Membership{MutedUntil: until})
	mustOK(t, "SetMutedUntil(zero)", s.SetMutedUntil(ctx, "m", bob.ID, time.Time{}))
	wantMembership(t, s, "m", bob.ID, parley.Membership{})

	// Standing is per room.
	mustEnsure(t, s, "m2")
	wantMembership(t, s, "m2", alice.ID, parley.Membership{})
	mustOK(t, "SetRole(none)", s.SetRole(ctx, "m", alice.ID, parley.RoleNone))
	wantMembership(t, s, "m", alice.ID, parley.Membership{})
	// Ending a membership that doesn't exist is fine.
	mustOK(t, "SetRole(none) of a non-member", s.SetRole(ctx, "m", "u-nobody", parley.RoleNone))
	mustOK(t, "SetBanned(false) of a non-member", s.SetBanned(ctx, "m", "u-nobody", false))
	wantMembership(t, s, "m", "u-nobody", parley.Membership{})
}

func testBanEndsMembership(t *testing.T, s fullStore) {
	ctx := context.Background()
	mustEnsure(t, s, "b")
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	mustOK(t, "SetRole", s.SetRole(ctx, "b", alice.ID, parley.RoleModerator))
	mustOK(t, "SetMutedUntil", s.SetMutedUntil(ctx, "b", alice.ID, until))
	mustOK(t, "SetBanned(true)", s.SetBanned(ctx, "b", alice.ID, true))
	wantMembership(t, s, "b", alice.ID, parley.Membership{Banned: true, MutedUntil: until})
	if rms := mustRoomsOf(t, s, alice.ID); len(rms) != 0 {
		t.Errorf("RoomsOf a banned user: %+v, want none", rms)
	}
	// Banning twice is a ban; unbanning doesn't restore the membership.
	mustOK(t, "SetBanned(true) again", s.SetBanned(ctx, "b", alice.ID, true))
	mustOK(t, "SetBanned(false)", s.SetBanned(ctx, "b", alice.ID, false))
	wantMembership(t, s, "b", alice.ID, parley.Membership{MutedUntil: until})
	mustOK(t, "SetRole(member)", s.SetRole(ctx, "b", alice.ID, parley.RoleMember))
	wantMembership(t, s, "b", alice.ID, parley.Membership{Role: parley.RoleMember, MutedUntil: until})

	// Anyone can be banned, member or not.
	mustOK(t, "SetBanned of a non-member", s.SetBanned(ctx, "b", bob.ID, true))
	wantMembership(t, s, "b", bob.ID, parley.Membership{Banned: true})
	mustOK(t, "SetBanned(false)", s.SetBanned(ctx, "b", bob.ID, false))
	wantMembership(t, s, "b", bob.ID, parley.Membership{})
}

func testSetRoleNoneKeepsBan(t *testing.T, s fullStore) {
	ctx := context.Background()
	mustEnsure(t, s, "k")
	mustOK(t, "SetRole", s.SetRole(ctx, "k", alice.ID, parley.RoleMember))
	mustOK(t, "SetBanned", s.SetBanned(ctx, "k", alice.ID, true))
	mustOK(t, "SetRole(none)", s.SetRole(ctx, "k", alice.ID, parley.RoleNone))
	wantMembership(t, s, "k", alice.ID, parley.Membership{Banned: true})

	until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	mustOK(t, "SetRole", s.SetRole(ctx, "k", bob.ID, parley.RoleModerator))
	mustOK(t, "SetMutedUntil", s.SetMutedUntil(ctx, "k", bob.ID, until))
	mustOK(t, "SetRole(none)", s.SetRole(ctx, "k", bob.ID, parley.RoleNone))
	wantMembership(t, s, "k", bob.ID, parley.Membership{MutedUntil: until})
}

// Writing a standing in a room that doesn't exist is ENOTFOUND, and
// creates neither the room nor the standing; reading one is no error.
func testMembershipMissingRoom(t *testing.T, s fullStore) {
	ctx := context.Background()
	wantMembership(t, s, "nosuchroom", alice.ID, parley.Membership{})
	wantCode(t, "SetRole in a missing room", s.SetRole(ctx, "nosuchroom", alice.ID, parley.RoleMember), parley.ENOTFOUND)
	wantCode(t, "SetBanned in a missing room", s.SetBanned(ctx, "nosuchroom", alice.ID, true), parley.ENOTFOUND)
	wantCode(t, "SetMutedUntil in a missing room",
		s.SetMutedUntil(ctx, "nosuchroom", alice.ID, time.Now().Add(time.Hour)), parley.ENOTFOUND)
	wantMembership(t, s, "nosuchroom", alice.ID, parley.Membership{})
	if _, err := s.Room(ctx, "nosuchroom"); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("Room after writes to a missing room: %v, want %s", err, parley.ENOTFOUND)
	}
	if rms := mustRoomsOf(t, s, alice.ID); len(rms) != 0 {
		t.Errorf("RoomsOf after writes to a missing room: %+v, want none", rms)
	}
}

func testRoomsOf(t *testing.T, s fullStore) {
	ctx := context.Background()
	if rms := mustRoomsOf(t, s, alice.ID); len(rms) != 0 {
		t.Errorf("RoomsOf in an empty store: %+v, want none", rms)
	}
	rooms := map[string]parley.Room{}
	for _, r := range []parley.Room{
		{Name: "c-room", Kind: parley.RoomPrivate, Topic: "see"},
		{Name: "a-room", Kind: parley.RoomPublic},
		{Name: "b-room", Kind: parley.RoomPrivate, Topic: "bee"},
		{Name: "d-room", Kind: parley.RoomPublic},
		{Name: "e-room", Kind: parley.RoomPublic},
		{Name: "f-room", Kind: parley.RoomPublic},
	} {
		created, err := s.CreateRoom(ctx, r, "", nil)
		if err != nil {
			t.Fatalf("CreateRoom(%s): %v", r.Name, err)
		}
		rooms[r.Name] = created
	}
	dm := parley.DirectRoomName(alice.ID, bob.ID)
	created, err := s.CreateRoom(ctx, parley.Room{Name: dm, Kind: parley.RoomDirect}, "", []string{alice.ID, bob.ID})
	if err != nil {
		t.Fatalf("CreateRoom(direct): %v", err)
	}
	rooms[dm] = created
	mustOK(t, "SetRole", s.SetRole(ctx, "c-room", alice.ID, parley.RoleModerator))
	mustOK(t, "SetRole", s.SetRole(ctx, "a-room", alice.ID, parley.RoleMember))
	mustOK(t, "SetRole", s.SetRole(ctx, "b-room", alice.ID, parley.RoleOwner))
	mustOK(t, "SetRole", s.SetRole(ctx, "d-room", alice.ID, parley.RoleMember))
	mustOK(t, "SetBanned", s.SetBanned(ctx, "d-room", alice.ID, true))
	mustOK(t, "SetMutedUntil", s.SetMutedUntil(ctx, "e-room", alice.ID, time.Now().Add(time.Hour)))
	mustOK(t, "SetRole", s.SetRole(ctx, "f-room", alice.ID, parley.RoleMember))
	mustOK(t, "SetRole(none)", s.SetRole(ctx, "f-room", alice.ID, parley.RoleNone))
	mustOK(t, "SetRole", s.SetRole(ctx, "f-room", bob.ID, parley.RoleOwner))
	mustOK(t, "SetTopic", s.SetTopic(ctx, "a-room", "ay"))
	r := rooms["a-room"]
	r.Topic = "ay"
	rooms["a-room"] = r

	want := []parley.RoomMembership{
		{Room: rooms["a-room"], Role: parley.RoleMember},
		{Room: rooms["b-room"], Role: parley.RoleOwner},
		{Room: rooms["c-room"], Role: parley.RoleModerator},
		{Room: rooms[dm], Role: parley.RoleMember},
	}
	slices.SortFunc(want, func(a, b parley.RoomMembership) int { return strings.Compare(a.Room.Name, b.Room.Name) })
	got := mustRoomsOf(t, s, alice.ID)
	if len(got) != len(want) {
		t.Fatalf("RoomsOf(alice) = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Role != want[i].Role {
			t.Errorf("RoomsOf(alice)[%d] role %q, want %q", i, got[i].Role, want[i].Role)
		}
		sameRoom(t, got[i].Room, want[i].Room)
	}

	got = mustRoomsOf(t, s, bob.ID)
	if len(got) != 2 || got[0].Room.Name != dm || got[0].Role != parley.RoleMember ||
		got[1].Room.Name != "f-room" || got[1].Role != parley.RoleOwner {
		t.Errorf("RoomsOf(bob) = %+v, want the direct room as member, f-room as owner", got)
	}
	if rms := mustRoomsOf(t, s, "u-nobody"); len(rms) != 0 {
		t.Errorf("RoomsOf(unknown user) = %+v, want none", rms)
	}
}

func mustEnsure(tb testing.TB, s fullStore, room string) parley.Room {
	tb.Helper()
	r, err := s.EnsureRoom(context.Background(), room)
	if err != nil {
		tb.Fatalf("EnsureRoom(%s): %v", room, err)
	}
	return r
}

func mustOK(tb testing.TB, what string, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

func mustRoomsOf(tb testing.TB, s fullStore, userID string) []parley.RoomMembership {
	tb.Helper()
	rms, err := s.RoomsOf(context.Background(), userID)
	if err != nil {
		tb.Fatalf("RoomsOf(%s): %v", userID, err)
	}
	return rms
}

func wantMembership(tb testing.TB, s fullStore, room, userID string, want parley.Membership) {
	tb.Helper()
	got, err := s.Membership(context.Background(), room, userID)
	if err != nil || got.Role != want.Role || got.Banned != want.Banned || !got.MutedUntil.Equal(want.MutedUntil) {
		tb.Errorf("Membership(%s, %s) = %+v, %v; want %+v", room, userID, got, err, want)
	}
}

func sameRoom(tb testing.TB, got, want parley.Room) {
	tb.Helper()
	if got.Name != want.Name || got.Kind != want.Kind || got.Topic != want.Topic || !got.CreatedAt.Equal(want.CreatedAt) {
		tb.Errorf("room %+v, want %+v", got, want)
	}
}
