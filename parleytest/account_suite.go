package parleytest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleychat/parley"
)

// The AccountStore part of StoreSuite.

func testCreateAccount(t *testing.T, s fullStore) {
	ctx := context.Background()
	before := time.Now()
	dana, err := s.CreateAccount(ctx, "Dana", "$argon2id$dana", false)
	after := time.Now()
	if err != nil {
		t.Fatalf("CreateAccount(Dana): %v", err)
	}
	root, err := s.CreateAccount(ctx, "root", "$argon2id$root", true)
	if err != nil {
		t.Fatalf("CreateAccount(root): %v", err)
	}
	guest, err := s.CreateGuest(ctx, "visitor", []byte("hash-v"))
	if err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	if dana.ID == "" || dana.ID == root.ID || dana.ID == guest.ID || root.ID == guest.ID || dana.Name != "Dana" {
		t.Fatalf("CreateAccount returned %+v and %+v (guest %+v); want distinct non-empty ids and the names given", dana, root, guest)
	}

	got, err := s.AccountByID(ctx, dana.ID)
	if err != nil {
		t.Fatalf("AccountByID: %v", err)
	}
	wantStamp(t, "AccountByID: CreatedAt", got.CreatedAt, before, after)
	want := parley.Account{User: dana, PasswordHash: "$argon2id$dana", CreatedAt: got.CreatedAt}
	sameAccount(t, got, want)
	for _, name := range []string{"Dana", "dana", "DANA"} {
		got, err := s.AccountByName(ctx, name)
		if err != nil {
			t.Errorf("AccountByName(%s): %v", name, err)
			continue
		}
		sameAccount(t, got, want)
	}
	if got, err := s.AccountByName(ctx, "ROOT"); err != nil || got.ID != root.ID || !got.Admin || got.Name != "root" {
		t.Errorf("AccountByName(ROOT) = %+v, %v; want the admin account root", got, err)
	}
	for _, want := range []struct {
		u    parley.User
		kind parley.IdentityKind
	}{{dana, parley.KindAccount}, {root, parley.KindAccount}, {guest, parley.KindGuest}} {
		if got, kind, err := s.User(ctx, want.u.ID); err != nil || got != want.u || kind != want.kind {
			t.Errorf("User(%s) = %+v, %q, %v; want %+v, %q", want.u.ID, got, kind, err, want.u, want.kind)
		}
	}
	_, _, err = s.User(ctx, "u-nobody")
	wantCode(t, "User(unknown)", err, parley.ENOTFOUND)

	// A guest is not an account, and an account has no guest token.
	_, err = s.AccountByID(ctx, guest.ID)
	wantCode(t, "AccountByID(guest)", err, parley.ENOTFOUND)
	_, err = s.AccountByName(ctx, "visitor")
	wantCode(t, "AccountByName(guest)", err, parley.ENOTFOUND)
	_, err = s.AccountByID(ctx, "u-nobody")
	wantCode(t, "AccountByID(unknown)", err, parley.ENOTFOUND)
	_, err = s.AccountByName(ctx, "nobody")
	wantCode(t, "AccountByName(unknown)", err, parley.ENOTFOUND)
	_, err = s.UserByTokenHash(ctx, nil)
	wantCode(t, "UserByTokenHash(nil)", err, parley.ENOTFOUND)
	_, err = s.UserByTokenHash(ctx, []byte{})
	wantCode(t, "UserByTokenHash(empty)", err, parley.ENOTFOUND)
}

func testAccountNameConflicts(t *testing.T, s fullStore) {
	ctx := context.Background()
	if _, err := s.CreateGuest(ctx, "Erin", []byte("hash-e")); err != nil {
		t.Fatalf("CreateGuest(Erin): %v", err)
	}
	if _, err := s.CreateAccount(ctx, "Fay", "h", false); err != nil {
		t.Fatalf("CreateAccount(Fay): %v", err)
	}
	for i, name := range []string{"Erin", "erin", "ERIN", "Fay", "fay", "FAY"} {
		_, err := s.CreateAccount(ctx, name, "h", false)
		wantCode(t, fmt.Sprintf("CreateAccount(%s)", name), err, parley.ECONFLICT)
		_, err = s.CreateGuest(ctx, name, []byte(fmt.Sprint("hash-x", i)))
		wantCode(t, fmt.Sprintf("CreateGuest(%s)", name), err, parley.ECONFLICT)
	}
	// The refusals wrote nothing.
	if _, err := s.AccountByName(ctx, "erin"); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("AccountByName(erin) after a refused CreateAccount: %v, want %s", err, parley.ENOTFOUND)
	}
	if as := mustAccounts(t, s); len(as) != 1 {
		t.Errorf("Accounts after refusals: %+v, want Fay only", as)
	}
}

func testExternalUsers(t *testing.T, s fullStore) {
	ctx := context.Background()
	gus1 := parley.User{ID: parley.ExternalIDPrefix + "1", Name: "Gus"}
	gus2 := parley.User{ID: parley.ExternalIDPrefix + "2", Name: "gus"}
	for _, u := range []parley.User{gus1, gus2} {
		mustOK(t, "SaveExternalUser("+u.ID+")", s.SaveExternalUser(ctx, u))
	}
	mustOK(t, "SaveExternalUser again", s.SaveExternalUser(ctx, gus2)) // saving is idempotent
	for _, u := range []parley.User{gus1, gus2} {
		if got, kind, err := s.User(ctx, u.ID); err != nil || got != u || kind != parley.KindExternal {
			t.Errorf("User(%s) = %+v, %q, %v; want %+v, external", u.ID, got, kind, err, u)
		}
	}
	// Saving again renames.
	gus1.Name = "Gustav"
	mustOK(t, "SaveExternalUser(rename)", s.SaveExternalUser(ctx, gus1))
	if got, _, err := s.User(ctx, gus1.ID); err != nil || got != gus1 {
		t.Errorf("User after rename = %+v, %v; want %+v", got, err, gus1)
	}

	// External names don't block local ones, nor the other way round.
	acct, err := s.CreateAccount(ctx, "GUS", "h", false)
	if err != nil {
		t.Fatalf("CreateAccount with an external user's name: %v", err)
	}
	if _, err := s.CreateGuest(ctx, "Gustav", []byte("hash-g")); err != nil {
		t.Fatalf("CreateGuest with an external user's name: %v", err)
	}
	mustOK(t, "SaveExternalUser with an account's name", s.SaveExternalUser(ctx, parley.User{ID: parley.ExternalIDPrefix + "3", Name: "gus"}))
	if got, err := s.AccountByName(ctx, "gus"); err != nil || got.User != acct {
		t.Errorf("AccountByName(gus) = %+v, %v; want the account %+v", got, err, acct)
	}

	// External users are not accounts.
	_, err = s.AccountByID(ctx, gus1.ID)
	wantCode(t, "AccountByID(external)", err, parley.ENOTFOUND)
	if as := mustAccounts(t, s); len(as) != 1 || as[0].User != acct {
		t.Errorf("Accounts = %+v, want only %+v", as, acct)
	}
	wantCode(t, "SetPassword(external)", s.SetPassword(ctx, gus1.ID, "h"), parley.ENOTFOUND)
}

func testAccounts(t *testing.T, s fullStore) {
	ctx := context.Background()
	if as := mustAccounts(t, s); len(as) != 0 {
		t.Errorf("Accounts of an empty store: %+v, want none", as)
	}
	for _, name := range []string{"bea", "Carl", "adam", "Abe"} {
		if _, err := s.CreateAccount(ctx, name, "hash-"+name, name == "Carl"); err != nil {
			t.Fatalf("CreateAccount(%s): %v", name, err)
		}
	}
	if _, err := s.CreateGuest(ctx, "aaron", []byte("hash-a")); err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	mustOK(t, "SaveExternalUser", s.SaveExternalUser(ctx, parley.User{ID: parley.ExternalIDPrefix + "x", Name: "Aaa"}))

	// By name, case-insensitively, like the names' uniqueness.
	as := mustAccounts(t, s)
	var names []string
	for _, a := range as {
		names = append(names, a.Name)
		if a.PasswordHash != "hash-"+a.Name || a.Admin != (a.Name == "Carl") || a.Disabled || a.CreatedAt.IsZero() {
			t.Errorf("Accounts: %+v", a)
		}
		if byID, err := s.AccountByID(ctx, a.ID); err != nil {
			t.Errorf("AccountByID(%s): %v", a.ID, err)
		} else {
			sameAccount(t, a, byID)
		}
	}
	if got, want := fmt.Sprint(names), "[Abe adam bea Carl]"; got != want {
		t.Errorf("Accounts names %s, want %s", got, want)
	}
}

func testSessions(t *testing.T, s fullStore) {
	ctx := context.Background()
	u, err := s.CreateAccount(ctx, "hana", "h", false)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	acct, err := s.AccountByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("AccountByID: %v", err)
	}
	now := time.Now().Truncate(time.Millisecond)
	exp := now.Add(time.Hour)
	mustOK(t, "CreateSession", s.CreateSession(ctx, u.ID, []byte("tok-1"), exp))
	mustOK(t, "CreateSession", s.CreateSession(ctx, u.ID, []byte("tok-2"), exp.Add(time.Hour)))

	for _, at := range []time.Time{now, exp.Add(-time.Millisecond)} {
		got, gotExp, err := s.SessionAccount(ctx, []byte("tok-1"), at)
		if err != nil {
			t.Errorf("SessionAccount at %v (expires %v): %v", at, exp, err)
			continue
		}
		sameAccount(t, got, acct)
		if !gotExp.Equal(exp) {
			t.Errorf("SessionAccount: expires %v, want %v", gotExp, exp)
		}
	}
	for _, at := range []time.Time{exp, exp.Add(time.Millisecond), exp.Add(24 * time.Hour)} {
		_, _, err := s.SessionAccount(ctx, []byte("tok-1"), at)
		wantCode(t, fmt.Sprintf("SessionAccount at %v, expires %v", at, exp), err, parley.ENOTFOUND)
	}
	_, _, err = s.SessionAccount(ctx, []byte("tok-unknown"), now)
	wantCode(t, "SessionAccount(unknown)", err, parley.ENOTFOUND)
	// A session token is not a guest token.
	_, err = s.UserByTokenHash(ctx, []byte("tok-1"))
	wantCode(t, "UserByTokenHash(session token)", err, parley.ENOTFOUND)

	// Deleting one session leaves the others.
	mustOK(t, "DeleteSession", s.DeleteSession(ctx, []byte("tok-1")))
	_, _, err = s.SessionAccount(ctx, []byte("tok-1"), now)
	wantCode(t, "SessionAccount after DeleteSession", err, parley.ENOTFOUND)
	if got, _, err := s.SessionAccount(ctx, []byte("tok-2"), now); err != nil || got.ID != u.ID {
		t.Errorf("other session after DeleteSession: %+v, %v", got, err)
	}
	mustOK(t, "DeleteSession again", s.DeleteSession(ctx, []byte("tok-1")))
	mustOK(t, "DeleteSession(unknown)", s.DeleteSession(ctx, []byte("tok-unknown")))
}

func testSetPasswordEndsSessions(t *testing.T, s fullStore) {
	ctx := context.Background()
	u, err := s.CreateAccount(ctx, "ivan", "old", false)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	other, err := s.CreateAccount(ctx, "jo", "jo", false)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	now := time.Now()
	exp := now.Add(time.Hour)
	mustOK(t, "CreateSession", s.CreateSession(ctx, u.ID, []byte("tok-1"), exp))
	mustOK(t, "CreateSession", s.CreateSession(ctx, u.ID, []byte("tok-2"), exp))
	mustOK(t, "CreateSession", s.CreateSession(ctx, other.ID, []byte("tok-jo"), exp))

	mustOK(t, "SetPassword", s.SetPassword(ctx, u.ID, "new"))
	for _, tok := range []string{"tok-1", "tok-2"} {
		_, _, err := s.SessionAccount(ctx, []byte(tok), now)
		wantCode(t, "SessionAccount("+tok+") after SetPassword", err, parley.ENOTFOUND)
	}
	if a, err := s.AccountByID(ctx, u.ID); err != nil || a.PasswordHash != "new" {
		t.Errorf("AccountByID after SetPassword = %+v, %v; want hash new", a, err)
	}
	// Other accounts keep their sessions; new sessions work.
	if _, _, err := s.SessionAccount(ctx, []byte("tok-jo"), now); err != nil {
		t.Errorf("another account's session after SetPassword: %v", err)
	}
	mustOK(t, "CreateSession after SetPassword", s.CreateSession(ctx, u.ID, []byte("tok-3"), exp))
	if a, _, err := s.SessionAccount(ctx, []byte("tok-3"), now); err != nil || a.PasswordHash != "new" {
		t.Errorf("SessionAccount of a new session = %+v, %v", a, err)
	}

	wantCode(t, "SetPassword(unknown)", s.SetPassword(ctx, "u-nobody", "x"), parley.ENOTFOUND)
	guest, err := s.CreateGuest(ctx, "kim", []byte("hash-k"))
	if err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	wantCode(t, "SetPassword(guest)", s.SetPassword(ctx, guest.ID, "x"), parley.ENOTFOUND)
}

func testSetDisabled(t *testing.T, s fullStore) {
	ctx := context.Background()
	u, err := s.CreateAccount(ctx, "lee", "h", false)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	now := time.Now()
	exp := now.Add(time.Hour)
	mustOK(t, "CreateSession", s.CreateSession(ctx, u.ID, []byte("tok-1"), exp))

	mustOK(t, "SetDisabled(true)", s.SetDisabled(ctx, u.ID, true))
	_, _, err = s.SessionAccount(ctx, []byte("tok-1"), now)
	wantCode(t, "SessionAccount after SetDisabled(true)", err, parley.ENOTFOUND)
	if a, err := s.AccountByID(ctx, u.ID); err != nil || !a.Disabled {
		t.Errorf("AccountByID of a disabled account = %+v, %v; want Disabled", a, err)
	}
	if a, err := s.AccountByName(ctx, "LEE"); err != nil || !a.Disabled {
		t.Errorf("AccountByName of a disabled account = %+v, %v; want Disabled", a, err)
	}
	// Whether or not a store lets one record a session for a disabled
	// account, that session doesn't sign anyone in.
	_ = s.CreateSession(ctx, u.ID, []byte("tok-2"), exp)
	_, _, err = s.SessionAccount(ctx, []byte("tok-2"), now)
	wantCode(t, "SessionAccount of a disabled account", err, parley.ENOTFOUND)

	// Enabling doesn't bring ended sessions back.
	mustOK(t, "SetDisabled(false)", s.SetDisabled(ctx, u.ID, false))
	_, _, err = s.SessionAccount(ctx, []byte("tok-1"), now)
	wantCode(t, "SessionAccount after SetDisabled(false)", err, parley.ENOTFOUND)
	mustOK(t, "CreateSession", s.CreateSession(ctx, u.ID, []byte("tok-3"), exp))
	if a, _, err := s.SessionAccount(ctx, []byte("tok-3"), now); err != nil || a.Disabled {
		t.Errorf("SessionAccount after enabling = %+v, %v", a, err)
	}
	// Enabling an enabled account, or disabling twice, is fine.
	mustOK(t, "SetDisabled(false) again", s.SetDisabled(ctx, u.ID, false))
	mustOK(t, "SetDisabled(true)", s.SetDisabled(ctx, u.ID, true))
	mustOK(t, "SetDisabled(true) again", s.SetDisabled(ctx, u.ID, true))

	wantCode(t, "SetDisabled(unknown)", s.SetDisabled(ctx, "u-nobody", true), parley.ENOTFOUND)
}

func mustAccounts(tb testing.TB, s fullStore) []parley.Account {
	tb.Helper()
	as, err := s.Accounts(context.Background())
	if err != nil {
		tb.Fatalf("Accounts: %v", err)
	}
	return as
}

func sameAccount(tb testing.TB, got, want parley.Account) {
	tb.Helper()
	if got.User != want.User || got.PasswordHash != want.PasswordHash || got.Admin != want.Admin ||
		got.Disabled != want.Disabled || !got.CreatedAt.Equal(want.CreatedAt) {
		tb.Errorf("account %+v, want %+v", got, want)
	}
}
