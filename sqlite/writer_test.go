package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parleychat/parley"
	msqlite "modernc.org/sqlite"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "parley.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// batchOf builds requests as Append and CreateGuest do, for the writer to
// run as one batch, which its timing never guarantees.
type batchOf struct {
	s    *Store
	ctxs []context.Context
	ops  []op
}

func (b *batchOf) append(ctx context.Context, m parley.Message) *appendOp {
	a := &appendOp{in: m}
	b.ctxs, b.ops = append(b.ctxs, ctx), append(b.ops, op{app: a})
	return a
}

func (b *batchOf) guest(name string, hash string) {
	id, _ := newUserID()
	b.ctxs = append(b.ctxs, context.Background())
	b.ops = append(b.ops, op{apply: func(tx *sql.Tx) error {
		return b.s.createGuestTx(tx, id, name, []byte(hash))
	}})
}

func (b *batchOf) run() []error { return b.s.w.RunBatch(b.ctxs, b.ops) }

// The writer goroutine is idle while these tests call runBatch; the writer
// pool's single connection would serialize them anyway.

func TestBatchIsolatesFailures(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	alice := parley.User{ID: "u1", Name: "alice"}

	b := &batchOf{s: s}
	first := b.append(ctx, parley.Message{Room: "r", From: alice, Text: "one", Nonce: "n"})
	b.guest("Dora", "h1")
	b.guest("DORA", "h2") // conflicts with the guest just before it in the batch
	second := b.append(ctx, parley.Message{Room: "r", From: alice, Text: "one again", Nonce: "n"})
	b.append(cancelled, parley.Message{Room: "r", From: alice, Text: "never"})
	third := b.append(ctx, parley.Message{Room: "r", From: alice, Text: "two"})
	errs := b.run()

	for i, want := range []string{"", "", parley.ECONFLICT, "", "", ""} {
		if i == 4 {
			if !errors.Is(errs[i], context.Canceled) {
				t.Errorf("request %d: %v, want context.Canceled", i, errs[i])
			}
			continue
		}
		if got := parley.ErrorCode(errs[i]); got != want {
			t.Errorf("request %d: error %v, want code %q", i, errs[i], want)
		}
	}
	if first.out.Seq != 1 || first.dup || second.out.Seq != 1 || !second.dup || second.out.Text != "one" || third.out.Seq != 2 {
		t.Errorf("appends got %+v, %+v, %+v; want seq 1, its dup, seq 2", first, second, third)
	}
	if head, _ := s.Head(ctx, "r"); head != 2 {
		t.Errorf("Head = %d, want 2", head)
	}
	if _, err := s.UserByTokenHash(ctx, []byte("h1")); err != nil {
		t.Errorf("first guest: %v", err)
	}
	if _, err := s.UserByTokenHash(ctx, []byte("h2")); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("conflicting guest: %v, want %s", err, parley.ENOTFOUND)
	}
	if st := s.Stats(); st.Commits != 1 || st.Requests != 6 {
		t.Errorf("Stats = %+v, want 6 requests in 1 commit", st)
	}
}

func TestFailedCommitFailsBatch(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	from := parley.User{ID: "u1", Name: "alice"}
	if _, _, err := s.Append(ctx, parley.Message{Room: "r", From: from, Text: "kept"}); err != nil {
		t.Fatalf("Append: %v", err)
	}

	s.commitHook = func() error { return errors.New("injected") }
	b := &batchOf{s: s}
	b.append(ctx, parley.Message{Room: "r", From: from, Text: "lost", Nonce: "n"})
	b.guest("Erin", "h")
	for i, err := range b.run() {
		if err == nil {
			t.Errorf("request %d: nil error after a failed commit", i)
		}
	}
	s.commitHook = nil

	// Nothing of the failed batch remains, and the writer carries on.
	m, dup, err := s.Append(ctx, parley.Message{Room: "r", From: from, Text: "retry", Nonce: "n"})
	if err != nil || dup || m.Seq != 2 {
		t.Errorf("Append after a failed commit: seq %d, dup %v, err %v; want seq 2, not a dup", m.Seq, dup, err)
	}
	if _, err := s.CreateGuest(ctx, "Erin", []byte("h")); err != nil {
		t.Errorf("CreateGuest after a failed commit: %v", err)
	}
}

func TestNonceUsesIndex(t *testing.T) {
	s := openTest(t)
	plan := queryPlan(t, s.rdb, `SELECT seq FROM messages
		WHERE room = ? AND user_id = ? AND nonce = ? AND nonce <> ''`, "r", "u", "n")
	if want := "messages_nonce"; !strings.Contains(plan, want) {
		t.Errorf("query plan %q does not use %s", plan, want)
	}
}

// TestHeadUsesPrimaryKey: a room's head is read from its messages, which
// must be a seek on (room, seq), not a scan of the room's history.
func TestHeadUsesPrimaryKey(t *testing.T) {
	s := openTest(t)
	for _, q := range []string{writerHeadQuery, headQuery} {
		plan := queryPlan(t, s.rdb, q, "r")
		if strings.Contains(plan, "SCAN") || !strings.Contains(plan, "SEARCH messages USING") {
			t.Errorf("query plan of %s is %q, want a search of messages' key", q, plan)
		}
	}
}

// TestAppendFailsAlone checks the slow path: an append that fails for
// another reason than its nonce fails alone, and the batch's other appends
// keep seqs without gaps.
func TestAppendFailsAlone(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	// A temporary trigger lives on the writer's one connection, which the
	// idle writer isn't using.
	if _, err := s.wdb.Exec(`CREATE TEMP TRIGGER fail BEFORE INSERT ON messages
		WHEN NEW.text = 'fail' BEGIN SELECT RAISE(ABORT, 'injected'); END`); err != nil {
		t.Fatal(err)
	}
	alice := parley.User{ID: "u1", Name: "alice"}

	b := &batchOf{s: s}
	first := b.append(ctx, parley.Message{Room: "r", From: alice, Text: "one", Nonce: "n1"})
	b.append(ctx, parley.Message{Room: "r", From: alice, Text: "fail", Nonce: "n2"})
	b.append(ctx, parley.Message{Room: "new", From: alice, Text: "fail"})
	again := b.append(ctx, parley.Message{Room: "r", From: alice, Text: "one again", Nonce: "n1"})
	second := b.append(ctx, parley.Message{Room: "r", From: alice, Text: "two", Nonce: "n2"})
	errs := b.run()

	for i, want := range []bool{false, true, true, false, false} {
		if (errs[i] != nil) != want {
			t.Errorf("request %d: error %v, want an error: %v", i, errs[i], want)
		}
	}
	if first.out.Seq != 1 || first.dup || again.out.Seq != 1 || !again.dup || second.out.Seq != 2 || second.dup {
		t.Errorf("appends got %+v, %+v, %+v; want seq 1, its dup, seq 2", first.out, again.out, second.out)
	}
	if head, _ := s.Head(ctx, "r"); head != 2 {
		t.Errorf("Head = %d, want 2", head)
	}
	if _, err := s.Room(ctx, "new"); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Errorf("Room(new) after its only append failed: %v, want %s", err, parley.ENOTFOUND)
	}
	if st := s.Stats(); st.Commits != 1 || st.Requests != 5 {
		t.Errorf("Stats = %+v, want 5 requests in 1 commit", st)
	}
	// The head cache holds what was committed.
	if m, _, err := s.Append(ctx, parley.Message{Room: "r", From: alice, Text: "three"}); err != nil || m.Seq != 3 {
		t.Errorf("next Append: seq %d, err %v; want seq 3", m.Seq, err)
	}
}

// TestWriterPragmas guards the writer connection's durability and
// checkpoint settings, which nothing else would notice changing.
func TestWriterPragmas(t *testing.T) {
	s := openTest(t)
	for pragma, want := range map[string]int{
		"synchronous":        2, // FULL: a commit is fsynced before an append is answered
		"wal_autocheckpoint": walCheckpointPages,
		"foreign_keys":       1,
	} {
		var got int
		if err := s.wdb.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %d, want %d", pragma, got, want)
		}
	}
}

// secondCallFails counts calls to the SQL function second_call_fails, which
// fails its second call: a statement that succeeds when the batch is first
// written and fails when it is written again.
var secondCallFails atomic.Int64

func init() {
	msqlite.MustRegisterScalarFunction("second_call_fails", 0, func(*msqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		if secondCallFails.Add(1) == 2 {
			return nil, errors.New("injected: the second call fails")
		}
		return int64(0), nil
	})
}

// TestRetriedBatchResetsOutcomes: a batch written twice must not keep the
// first attempt's outcome. Here a retry is taken for a duplicate of the
// append before it on the first pass; on the second that append fails, so
// the retry is stored, and must say so (a duplicate isn't broadcast).
func TestRetriedBatchResetsOutcomes(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.wdb.Exec(`CREATE TEMP TRIGGER flaky BEFORE INSERT ON messages
		WHEN NEW.text = 'one' BEGIN SELECT second_call_fails(); END;
		CREATE TEMP TRIGGER fail BEFORE INSERT ON messages
		WHEN NEW.text = 'fail' BEGIN SELECT RAISE(ABORT, 'injected'); END`); err != nil {
		t.Fatal(err)
	}
	secondCallFails.Store(0)
	alice := parley.User{ID: "u1", Name: "alice"}

	b := &batchOf{s: s}
	b.append(ctx, parley.Message{Room: "r", From: alice, Text: "one", Nonce: "n"})
	retry := b.append(ctx, parley.Message{Room: "r", From: alice, Text: "one, retried", Nonce: "n"})
	b.append(ctx, parley.Message{Room: "r", From: alice, Text: "fail"})
	errs := b.run()

	if errs[0] == nil || errs[1] != nil || errs[2] == nil {
		t.Fatalf("errors %v; want the first and the third to fail", errs)
	}
	if retry.dup || retry.out.Seq != 1 || retry.out.Text != "one, retried" {
		t.Errorf("the retry: %+v, dup %v; want it stored as seq 1, not a duplicate", retry.out, retry.dup)
	}
	msgs, err := s.Messages(ctx, "r", 0, 10, 10)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "one, retried" {
		t.Errorf("stored %+v (err %v); want the retry alone", msgs, err)
	}
}
