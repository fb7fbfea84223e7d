package parleytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley"
)

// StoreSuite checks that a parley.Store keeps the contract of the interfaces
// in store.go. open must return an empty store, on the real clock, for the
// test it is given; the suite closes the store when that test ends, so open
// need only clean up anything else it made (with t.Cleanup).
func StoreSuite(t *testing.T, open func(t *testing.T) parley.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s parley.Store)
	}{
		{"SeqNumbering", testSeqNumbering},
		{"NonceDedup", testNonceDedup},
		{"ConcurrentAppends", testConcurrentAppends},
		{"ConcurrentRetries", testConcurrentRetries},
		{"Messages", testMessages},
		{"History", testHistory},
		{"HeadMissingRoom", testHeadMissingRoom},
		{"GuestRoundTrip", testGuestRoundTrip},
		{"GuestNameConflict", testGuestNameConflict},
		{"UnknownToken", testUnknownToken},
		{"TextRoundTrip", testTextRoundTrip},
		{"Timestamps", testTimestamps},
		{"CancelledContext", testCancelledContext},
		{"QueuedAppends", testQueuedAppends},

		{"MessageGet", ext(testMessageGet)},
		{"EditMessage", ext(testEditMessage)},
		{"DeleteMessage", ext(testDeleteMessage)},
		{"CreateRoom", ext(testCreateRoom)},
		{"EnsureRoom", ext(testEnsureRoom)},
		{"SetTopic", ext(testSetTopic)},
		{"Membership", ext(testMembership)},
		{"BanEndsMembership", ext(testBanEndsMembership)},
		{"SetRoleNoneKeepsBan", ext(testSetRoleNoneKeepsBan)},
		{"MembershipMissingRoom", ext(testMembershipMissingRoom)},
		{"RoomsOf", ext(testRoomsOf)},
		{"CreateAccount", ext(testCreateAccount)},
		{"AccountNameConflicts", ext(testAccountNameConflicts)},
		{"ExternalUsers", ext(testExternalUsers)},
		{"Accounts", ext(testAccounts)},
		{"Sessions", ext(testSessions)},
		{"SetPasswordEndsSessions", ext(testSetPasswordEndsSessions)},
		{"SetDisabled", ext(testSetDisabled)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// fullStore is parley.Store with the interfaces that are to be folded into
// it once every store implements them.
type fullStore interface {
	parley.Store
	parley.MessageEditor
	parley.RoomStore
	parley.AccountStore
}

// ext adapts a test of fullStore to the suite's table. A store that isn't
// one fails the test: the interfaces are required, only not yet in
// parley.Store.
func ext(fn func(t *testing.T, s fullStore)) func(t *testing.T, s parley.Store) {
	return func(t *testing.T, s parley.Store) {
		fs, ok := s.(fullStore)
		if !ok {
			t.Fatalf("%T does not implement parley.MessageEditor, parley.RoomStore and parley.AccountStore", s)
		}
		fn(t, fs)
	}
}

var (
	alice = parley.User{ID: "u-alice", Name: "alice"}
	bob   = parley.User{ID: "u-bob", Name: "bob"}
)

func testSeqNumbering(t *testing.T, s parley.Store) {
	for i := 1; i <= 5; i++ {
		// Seq and TS from the caller are overwritten.
		m := mustAppend(t, s, parley.Message{Room: "a", From: alice, Text: fmt.Sprint("a", i), Seq: 99, TS: time.Unix(1, 0)})
		if m.Seq != parley.Seq(i) {
			t.Fatalf("room a message %d: seq %d, want %d", i, m.Seq, i)
		}
		if i <= 3 {
			m := mustAppend(t, s, parley.Message{Room: "b", From: bob, Text: fmt.Sprint("b", i)})
			if m.Seq != parley.Seq(i) {
				t.Fatalf("room b message %d: seq %d, want %d", i, m.Seq, i)
			}
		}
	}
	wantHead(t, s, "a", 5)
	wantHead(t, s, "b", 3)
	msgs := mustMessages(t, s, "a", 0, 100, 100)
	wantSeqs(t, msgs, 1, 5)
	for i, m := range msgs {
		want := parley.Message{Room: "a", Seq: parley.Seq(i + 1), From: alice, Text: fmt.Sprint("a", i+1)}
		want.TS = m.TS
		sameMessage(t, m, want)
	}
}

func testNonceDedup(t *testing.T, s parley.Store) {
	ctx := context.Background()
	first, dup, err := s.Append(ctx, parley.Message{Room: "r", From: alice, Text: "hello", Nonce: "n1"})
	if err != nil || dup {
		t.Fatalf("first Append: dup %v, err %v", dup, err)
	}
	// A retry, even with other text, gets the original back.
	again, dup, err := s.Append(ctx, parley.Message{Room: "r", From: alice, Text: "hello again", Nonce: "n1"})
	if err != nil || !dup {
		t.Fatalf("retried Append: dup %v, err %v; want dup true", dup, err)
	}
	sameMessage(t, again, first)
	wantHead(t, s, "r", 1)

	// The same nonce from another user, or in another room, is a new message.
	if m := mustAppend(t, s, parley.Message{Room: "r", From: bob, Text: "hi", Nonce: "n1"}); m.Seq != 2 {
		t.Errorf("same nonce, other user: seq %d, want 2", m.Seq)
	}
	if m := mustAppend(t, s, parley.Message{Room: "r2", From: alice, Text: "hello", Nonce: "n1"}); m.Seq != 1 {
		t.Errorf("same nonce, other room: seq %d, want 1", m.Seq)
	}
	// An empty nonce never dedups.
	for i := 3; i <= 4; i++ {
		if m := mustAppend(t, s, parley.Message{Room: "r", From: alice, Text: "hello"}); m.Seq != parley.Seq(i) {
			t.Errorf("empty nonce: seq %d, want %d", m.Seq, i)
		}
	}
	msgs := mustMessages(t, s, "r", 0, 100, 100)
	wantSeqs(t, msgs, 1, 4)
	if msgs[0].Text != "hello" || msgs[0].Nonce != "n1" {
		t.Errorf("stored first message %+v; want text hello, nonce n1", msgs[0])
	}
}

func testConcurrentAppends(t *testing.T, s parley.Store) {
	const writers, each = 32, 50
	ctx := context.Background()
	var wg sync.WaitGroup
	seqs := make(chan parley.Seq, writers*each)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			from := parley.User{ID: fmt.Sprint("u", w), Name: fmt.Sprint("user", w)}
			for i := range each {
				// Every other message carries a nonce, exercising the lookup under load.
				nonce := ""
				if i%2 == 0 {
					nonce = fmt.Sprint("n", i)
				}
				m, dup, err := s.Append(ctx, parley.Message{Room: "busy", From: from, Text: fmt.Sprint(w, "/", i), Nonce: nonce})
				if err != nil || dup {
					errs <- fmt.Errorf("writer %d message %d: dup %v, err %v", w, i, dup, err)
					return
				}
				seqs <- m.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := slices.Sorted(func(yield func(parley.Seq) bool) {
		for s := range seqs {
			if !yield(s) {
				return
			}
		}
	})
	for i, seq := range got {
		if seq != parley.Seq(i+1) {
			t.Fatalf("sorted seqs[%d] = %d; want 1..%d with no gaps or duplicates", i, seq, writers*each)
		}
	}
	if len(got) != writers*each {
		t.Fatalf("%d appends succeeded, want %d", len(got), writers*each)
	}
	wantHead(t, s, "busy", writers*each)
	wantSeqs(t, mustMessages(t, s, "busy", 0, writers*each, writers*each+1), 1, writers*each)
}

// testConcurrentRetries sends every message twice at once, as a client
// that retries on a new connection might, over many rooms: both sends get
// the one stored message, exactly one of them as new, and each room's seqs
// have no gaps. The two sends often share a batch, or follow each other in
// two, which is where a store that numbers or deduplicates per batch would
// slip.
func testConcurrentRetries(t *testing.T, s parley.Store) {
	const rooms, each = 8, 20
	ctx := context.Background()
	type result struct {
		m   parley.Message
		dup bool
		err error
	}
	var wg sync.WaitGroup
	for r := range rooms {
		room := fmt.Sprint("retry", r)
		from := parley.User{ID: fmt.Sprint("u", r), Name: fmt.Sprint("user", r)}
		wg.Go(func() {
			for i := range each {
				m := parley.Message{Room: room, From: from, Text: fmt.Sprint(i), Nonce: fmt.Sprint("n", i)}
				var twice [2]result
				var sends sync.WaitGroup
				for k := range twice {
					sends.Go(func() {
						twice[k].m, twice[k].dup, twice[k].err = s.Append(ctx, m)
					})
				}
				sends.Wait()
				a, b := twice[0], twice[1]
				if a.err != nil || b.err != nil {
					t.Errorf("%s message %d: errors %v, %v", room, i, a.err, b.err)
					return
				}
				if a.dup == b.dup {
					t.Errorf("%s message %d: dup %v and %v; want one new, one dup", room, i, a.dup, b.dup)
					return
				}
				sameMessage(t, a.m, b.m)
				if a.m.Seq != parley.Seq(i+1) {
					t.Errorf("%s message %d: seq %d, want %d", room, i, a.m.Seq, i+1)
					return
				}
			}
		})
	}
	wg.Wait()
	for r := range rooms {
		room := fmt.Sprint("retry", r)
		wantHead(t, s, room, each)
		wantSeqs(t, mustMessages(t, s, room, 0, 2*each, 2*each), 1, each)
	}
}

func testMessages(t *testing.T, s parley.Store) {
	appendN(t, s, "m", 10)
	for _, tc := range []struct {
		after, until parley.Seq
		limit        int
		first, last  parley.Seq // 0, 0 for none
	}{
		{0, 10, 100, 1, 10},
		{0, 100, 100, 1, 10}, // until past the head
		{3, 7, 100, 4, 7},    // after exclusive, until inclusive
		{3, 7, 2, 4, 5},      // limit keeps the oldest
		{0, 10, 1, 1, 1},
		{9, 10, 100, 10, 10},
		{10, 20, 100, 0, 0}, // nothing after the head
		{5, 5, 100, 0, 0},
		{7, 3, 100, 0, 0},
	} {
		msgs := mustMessages(t, s, "m", tc.after, tc.until, tc.limit)
		if tc.first == 0 {
			if len(msgs) != 0 {
				t.Errorf("Messages(after %d, until %d, limit %d): %d messages, want none", tc.after, tc.until, tc.limit, len(msgs))
			}
			continue
		}
		wantSeqs(t, msgs, tc.first, tc.last)
	}
	if msgs := mustMessages(t, s, "nosuchroom", 0, 100, 100); len(msgs) != 0 {
		t.Errorf("Messages of a missing room: %d messages, want none", len(msgs))
	}
}

func testHistory(t *testing.T, s parley.Store) {
	appendN(t, s, "h", 10)
	for _, tc := range []struct {
		before      parley.Seq
		limit       int
		first, last parley.Seq // 0, 0 for none
		more        bool
	}{
		{0, 3, 8, 10, true}, // before <= 0: the newest
		{-1, 3, 8, 10, true},
		{0, 10, 1, 10, false},
		{0, 100, 1, 10, false},
		{8, 3, 5, 7, true}, // before is exclusive
		{4, 3, 1, 3, false},
		{4, 2, 2, 3, true},
		{2, 5, 1, 1, false},
		{1, 5, 0, 0, false},
		{100, 2, 9, 10, true}, // before past the head
	} {
		msgs, more, err := s.History(context.Background(), "h", tc.before, tc.limit)
		if err != nil {
			t.Fatalf("History(before %d, limit %d): %v", tc.before, tc.limit, err)
		}
		if more != tc.more {
			t.Errorf("History(before %d, limit %d): more %v, want %v", tc.before, tc.limit, more, tc.more)
		}
		if tc.first == 0 {
			if len(msgs) != 0 {
				t.Errorf("History(before %d, limit %d): %d messages, want none", tc.before, tc.limit, len(msgs))
			}
			continue
		}
		wantSeqs(t, msgs, tc.first, tc.last)
	}
	msgs, more, err := s.History(context.Background(), "nosuchroom", 0, 10)
	if err != nil || len(msgs) != 0 || more {
		t.Errorf("History of a missing room: %d messages, more %v, err %v; want none", len(msgs), more, err)
	}
}

func testHeadMissingRoom(t *testing.T, s parley.Store) {
	wantHead(t, s, "nosuchroom", 0)
	appendN(t, s, "other", 2)
	wantHead(t, s, "nosuchroom", 0)
}

func testGuestRoundTrip(t *testing.T, s parley.Store) {
	ctx := context.Background()
	u1, err := s.CreateGuest(ctx, "Alice", []byte("hash-1"))
	if err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	u2, err := s.CreateGuest(ctx, "bob", []byte("hash-2"))
	if err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	if u1.ID == "" || u1.ID == u2.ID || u1.Name != "Alice" || u2.Name != "bob" {
		t.Fatalf("CreateGuest returned %+v and %+v; want distinct non-empty ids and the names given", u1, u2)
	}
	for hash, want := range map[string]parley.User{"hash-1": u1, "hash-2": u2} {
		got, err := s.UserByTokenHash(ctx, []byte(hash))
		if err != nil || got != want {
			t.Errorf("UserByTokenHash(%s) = %+v, %v; want %+v", hash, got, err, want)
		}
	}
}

func testGuestNameConflict(t *testing.T, s parley.Store) {
	ctx := context.Background()
	if _, err := s.CreateGuest(ctx, "Carol", []byte("hash-1")); err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	for i, name := range []string{"Carol", "carol", "CAROL"} {
		_, err := s.CreateGuest(ctx, name, []byte(fmt.Sprint("hash-x", i)))
		if code := parley.ErrorCode(err); code != parley.ECONFLICT {
			t.Errorf("CreateGuest(%q) after Carol: error %v (code %q), want %s", name, err, code, parley.ECONFLICT)
		}
	}
	// The failures wrote nothing: their hashes are unknown.
	if _, err := s.UserByTokenHash(ctx, []byte("hash-x1")); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("UserByTokenHash of a refused guest: %v, want %s", err, parley.ENOTFOUND)
	}
	if _, err := s.CreateGuest(ctx, parley.AlternativeName("carol", 2), []byte("hash-2")); err != nil {
		t.Errorf("CreateGuest(carol-2): %v", err)
	}
}

func testUnknownToken(t *testing.T, s parley.Store) {
	_, err := s.UserByTokenHash(context.Background(), []byte("nobody"))
	if code := parley.ErrorCode(err); code != parley.ENOTFOUND {
		t.Errorf("UserByTokenHash(unknown): error %v (code %q), want %s", err, code, parley.ENOTFOUND)
	}
}

func testTextRoundTrip(t *testing.T, s parley.Store) {
	texts := []string{
		"",
		" leading and trailing spaces ",
		"héllo wörld ñ ß",
		"emoji 👋🏽 👨‍👩‍👧‍👦 🇫🇷",
		"日本語のテキスト, 中文, 한국어",
		"עברית and العربية mixed with LTR",
		"combining e\u0301 vs \u00e9",
		"zero\u200bwidth\ufeffbom",
		"line\nbreaks\r\nand\ttabs",
		"quotes ' \" ` and -- ; DROP TABLE messages; /* */",
		`back\slash %s %d ? $1 :name @p`,
		"\x01\x1f control \x7f",
		"\U0010FFFF max code point",
		strings.Repeat("long ✓ ", 1500),
	}
	for i, text := range texts {
		mustAppend(t, s, parley.Message{Room: "t", From: alice, Text: text, Nonce: fmt.Sprint("ñonce-", i)})
	}
	msgs := mustMessages(t, s, "t", 0, 100, 100)
	wantSeqs(t, msgs, 1, parley.Seq(len(texts)))
	for i, m := range msgs {
		if m.Text != texts[i] {
			t.Errorf("message %d: text %q, want %q", i+1, m.Text, texts[i])
		}
	}
}

func testTimestamps(t *testing.T, s parley.Store) {
	before := time.Now()
	m := mustAppend(t, s, parley.Message{Room: "ts", From: alice, Text: "now"})
	after := time.Now()
	wantStamp(t, "Append: TS", m.TS, before, after)
	if !m.EditedAt.IsZero() || m.Deleted {
		t.Errorf("Append: EditedAt %v, Deleted %v; want zero, false", m.EditedAt, m.Deleted)
	}
	stored := mustMessages(t, s, "ts", 0, 1, 1)
	if len(stored) == 1 {
		wantStamp(t, "Messages: TS", stored[0].TS, before, after)
		if !stored[0].TS.Equal(m.TS) {
			t.Errorf("stored TS %v, Append returned %v", stored[0].TS, m.TS)
		}
	}
}

// wantStamp checks a time the store assigned between before and after:
// UTC, whole milliseconds, within the window (widened to whole
// milliseconds, as the store may truncate).
func wantStamp(tb testing.TB, what string, ts, before, after time.Time) {
	tb.Helper()
	if ts.Location() != time.UTC {
		tb.Errorf("%s: location %v, want UTC", what, ts.Location())
	}
	if ts.Nanosecond()%int(time.Millisecond) != 0 {
		tb.Errorf("%s: %v has sub-millisecond precision", what, ts)
	}
	before = before.Truncate(time.Millisecond)
	if ts.Before(before) || ts.After(after) {
		tb.Errorf("%s: %v not within [%v, %v]", what, ts, before, after)
	}
}

// wantCode fails the test unless err has the given code ("" for nil).
func wantCode(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := parley.ErrorCode(err); got != code {
		tb.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

func testCancelledContext(t *testing.T, s parley.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Append(ctx, parley.Message{Room: "c", From: alice, Text: "never"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: %v, want context.Canceled", err)
	}
	wantHead(t, s, "c", 0)
}

// mustAppend appends m and fails the test unless it is stored anew.
func mustAppend(tb testing.TB, s parley.Store, m parley.Message) parley.Message {
	tb.Helper()
	stored, dup, err := s.Append(context.Background(), m)
	if err != nil {
		tb.Fatalf("Append(%+v): %v", m, err)
	}
	if dup {
		tb.Fatalf("Append(%+v): dup true, want a new message", m)
	}
	if stored.Room != m.Room || stored.From != m.From || stored.Text != m.Text || stored.Nonce != m.Nonce {
		tb.Fatalf("Append(%+v) returned %+v", m, stored)
	}
	return stored
}

// appendN appends n messages to room, with texts "1".."n".
func appendN(tb testing.TB, s parley.Store, room string, n int) {
	tb.Helper()
	for i := 1; i <= n; i++ {
		mustAppend(tb, s, parley.Message{Room: room, From: alice, Text: fmt.Sprint(i)})
	}
}

func mustMessages(tb testing.TB, s parley.Store, room string, after, until parley.Seq, limit int) []parley.Message {
	tb.Helper()
	msgs, err := s.Messages(context.Background(), room, after, until, limit)
	if err != nil {
		tb.Fatalf("Messages(%s, %d, %d, %d): %v", room, after, until, limit, err)
	}
	return msgs
}

func wantHead(tb testing.TB, s parley.Store, room string, want parley.Seq) {
	tb.Helper()
	head, err := s.Head(context.Background(), room)
	if err != nil || head != want {
		tb.Errorf("Head(%s) = %d, %v; want %d", room, head, err, want)
	}
}

// wantSeqs checks that msgs are exactly first..last in order, each in the
// room of the first.
func wantSeqs(tb testing.TB, msgs []parley.Message, first, last parley.Seq) {
	tb.Helper()
	if got, want := len(msgs), int(last-first+1); got != want {
		tb.Fatalf("%d messages, want %d (seqs %d..%d)", got, want, first, last)
	}
	for i, m := range msgs {
		if m.Seq != first+parley.Seq(i) || m.Room != msgs[0].Room {
			tb.Fatalf("message %d is %s/%d, want %s/%d", i, m.Room, m.Seq, msgs[0].Room, first+parley.Seq(i))
		}
	}
}

func sameMessage(tb testing.TB, got, want parley.Message) {
	tb.Helper()
	if got.Room != want.Room || got.Seq != want.Seq || got.From != want.From ||
		got.Text != want.Text || got.Nonce != want.Nonce || !got.TS.Equal(want.TS) ||
		!got.EditedAt.Equal(want.EditedAt) || got.Deleted != want.Deleted {
		tb.Errorf("message %+v, want %+v", got, want)
	}
}

// testQueuedAppends queues many appends from one goroutine without waiting,
// a retry among them: they are stored in the order queued and answered in
// that order, the retry with the original.
func testQueuedAppends(t *testing.T, s parley.Store) {
	type outcome struct {
		i   int
		m   parley.Message
		dup bool
		err error
	}
	const n = 300
	results := make(chan outcome, n+1)
	queue := func(i int, nonce string) {
		s.QueueAppend(context.Background(), parley.Message{Room: "q", From: alice, Text: fmt.Sprint("m", i), Nonce: nonce},
			func(m parley.Message, dup bool, err error) { results <- outcome{i, m, dup, err} })
	}
	for i := range n {
		queue(i, fmt.Sprint("n", i))
		if i == 100 {
			queue(-1, "n50") // a retry of message 50
		}
	}
	want := 0
	for range n + 1 {
		var r outcome
		select {
		case r = <-results:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d queued appends answered", want, n)
		}
		if r.err != nil {
			t.Fatalf("append %d: %v", r.i, r.err)
		}
		if r.i == -1 {
			if !r.dup || r.m.Seq != 51 || r.m.Text != "m50" {
				t.Errorf("the retry got %+v, dup %v; want message 50 (seq 51) again", r.m, r.dup)
			}
			continue
		}
		if r.i != want || r.dup || r.m.Seq != parley.Seq(want+1) {
			t.Fatalf("answer %d: append %d with seq %d (dup %v); want append %d, seq %d", want, r.i, r.m.Seq, r.dup, want, want+1)
		}
		want++
	}
	if head, err := s.Head(context.Background(), "q"); err != nil || head != n {
		t.Fatalf("head %d, %v; want %d", head, err, n)
	}
}
