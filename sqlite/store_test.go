package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/parleytest"
	"github.com/parleychat/parley/sqlite"
)

func TestStore(t *testing.T) {
	parleytest.StoreSuite(t, func(t *testing.T) parley.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "parley.db"))
	})
}

// mustOpen opens a store the caller closes.
func mustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "parley.db") // Open makes the directories
	from := parley.User{ID: "u1", Name: "alice"}

	s := mustOpen(t, path)
	u, err := s.CreateGuest(ctx, "alice", []byte("hash"))
	if err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	for i := range 3 {
		if _, _, err := s.Append(ctx, parley.Message{Room: "r", From: from, Text: fmt.Sprint(i), Nonce: fmt.Sprint("n", i)}); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s = mustOpen(t, path)
	defer s.Close()
	if head, err := s.Head(ctx, "r"); err != nil || head != 3 {
		t.Fatalf("Head after reopen = %d, %v; want 3", head, err)
	}
	m, dup, err := s.Append(ctx, parley.Message{Room: "r", From: from, Text: "after"})
	if err != nil || dup || m.Seq != 4 {
		t.Fatalf("Append after reopen: seq %d, dup %v, err %v; want seq 4", m.Seq, dup, err)
	}
	if m, dup, err := s.Append(ctx, parley.Message{Room: "r", From: from, Text: "retry", Nonce: "n1"}); err != nil || !dup || m.Seq != 2 {
		t.Fatalf("retry after reopen: seq %d, dup %v, err %v; want the original, seq 2", m.Seq, dup, err)
	}
	if got, err := s.UserByTokenHash(ctx, []byte("hash")); err != nil || got != u {
		t.Fatalf("UserByTokenHash after reopen = %+v, %v; want %+v", got, err, u)
	}
	if _, err := s.CreateGuest(ctx, "ALICE", []byte("hash2")); parley.ErrorCode(err) != parley.ECONFLICT {
		t.Fatalf("CreateGuest(ALICE) after reopen: %v, want %s", err, parley.ECONFLICT)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	for range 3 {
		s := mustOpen(t, path)
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestClosed(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "parley.db"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	if _, _, err := s.Append(ctx, parley.Message{Room: "r", Text: "x"}); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("Append after Close: %v, want %s", err, parley.EUNAVAILABLE)
	}
	if _, err := s.CreateGuest(ctx, "x", []byte("h")); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("CreateGuest after Close: %v, want %s", err, parley.EUNAVAILABLE)
	}
	if _, err := s.Head(ctx, "r"); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("Head after Close: %v, want %s", err, parley.EUNAVAILABLE)
	}
	if err := s.Ping(ctx); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("Ping after Close: %v, want %s", err, parley.EUNAVAILABLE)
	}
	for what, err := range map[string]error{
		"Message":       second(s.Message(ctx, "r", 1)),
		"EditMessage":   second(s.EditMessage(ctx, "r", 1, "x")),
		"EnsureRoom":    second(s.EnsureRoom(ctx, "r")),
		"Membership":    second(s.Membership(ctx, "r", "u")),
		"SetRole":       s.SetRole(ctx, "r", "u", parley.RoleMember),
		"RoomsOf":       second(s.RoomsOf(ctx, "u")),
		"User":          third(s.User(ctx, "u")),
		"CreateAccount": second(s.CreateAccount(ctx, "a", "h", false)),
		"Accounts":      second(s.Accounts(ctx)),
		"DeleteSession": s.DeleteSession(ctx, []byte("t")),
	} {
		if parley.ErrorCode(err) != parley.EUNAVAILABLE {
			t.Errorf("%s after Close: %v, want %s", what, err, parley.EUNAVAILABLE)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

// TestCloseWhileWriting checks that Close neither hangs nor loses an
// acknowledged write: every Append that returned nil is in the file.
func TestCloseWhileWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	s := mustOpen(t, path)
	var acked atomic.Int64
	going := make(chan struct{}) // closed at the 100th acknowledged append
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				_, _, err := s.Append(context.Background(), parley.Message{Room: "r", Text: "x"})
				if err != nil {
					if parley.ErrorCode(err) != parley.EUNAVAILABLE {
						t.Errorf("Append during Close: %v, want %s", err, parley.EUNAVAILABLE)
					}
					return
				}
				if acked.Add(1) == 100 {
					close(going)
				}
			}
		})
	}
	<-going
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	s = mustOpen(t, path)
	defer s.Close()
	head, err := s.Head(context.Background(), "r")
	if err != nil || head != acked.Load() {
		t.Fatalf("Head after reopen = %d, %v; want %d acknowledged appends", head, err, acked.Load())
	}
}

// TestGroupCommit checks that concurrent appends share commits.
func TestGroupCommit(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "parley.db"))
	defer s.Close()
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				room := fmt.Sprint("room", (w+i)%8)
				if _, _, err := s.Append(context.Background(), parley.Message{Room: room, Text: "x"}); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("%d requests in %d commits (%.1f per commit)", st.Requests, st.Commits, float64(st.Requests)/float64(st.Commits))
	if st.Requests != writers*each {
		t.Errorf("Stats().Requests = %d, want %d", st.Requests, writers*each)
	}
	if st.Commits == 0 || st.Commits > st.Requests/4 {
		t.Errorf("Stats().Commits = %d for %d requests; want batches of 4 or more on average", st.Commits, st.Requests)
	}
}

// BenchmarkAppendParallel is the load the writer is sized for: 64 senders,
// each in a room of its own, every message with a fresh nonce (as clients
// send them), each sender waiting for its ack before the next send. It
// reports acked msgs/s, the ack latency that senders saw (p50, p99) and
// how many appends shared a commit.
//
//	go test -run x -bench AppendParallel -benchtime 3s ./sqlite/
func BenchmarkAppendParallel(b *testing.B) {
	const senders, rooms = 64, 64
	s := mustOpen(b, filepath.Join(b.TempDir(), "parley.db"))
	defer s.Close()
	ctx := context.Background()
	var left atomic.Int64
	left.Store(int64(b.N))
	lat := make([][]time.Duration, senders)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	b.ResetTimer()
	for w := range senders {
		wg.Go(func() {
			m := parley.Message{Room: fmt.Sprint("room", w%rooms), From: parley.User{ID: fmt.Sprint("u", w), Name: "bench"}, Text: "hello, benchmark"}
			for i := 0; left.Add(-1) >= 0; i++ {
				m.Nonce = strconv.Itoa(i)
				start := time.Now()
				if _, dup, err := s.Append(ctx, m); err != nil || dup {
					b.Errorf("Append: dup %v, err %v", dup, err)
					return
				}
				lat[w] = append(lat[w], time.Since(start))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu := cpuTime() - cpu0
	st := s.Stats()
	all := slices.Sorted(slices.Values(slices.Concat(lat...)))
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(st.Requests)/float64(max(st.Commits, 1)), "msgs/commit")
	b.ReportMetric(float64(cpu/time.Microsecond)/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(0, "ns/op") // per op is per message over 64 senders: msgs/s says it plainly
}

// BenchmarkQueueAppend is the server's way in: one goroutine queues a
// round of 64 sends, one per room as 64 connections' would be, and waits
// for the round's answers. An op is one message, so allocs/op and
// cpu-µs/msg are the store's cost per message, commits included.
//
//	go test -run x -bench QueueAppend -benchmem ./sqlite/
func BenchmarkQueueAppend(b *testing.B) {
	const rooms = 64
	s := mustOpen(b, filepath.Join(b.TempDir(), "parley.db"))
	defer s.Close()
	ctx := context.Background()
	msgs := make([]parley.Message, rooms)
	for i := range msgs {
		msgs[i] = parley.Message{Room: fmt.Sprint("room", i), From: parley.User{ID: fmt.Sprint("u", i), Name: "bench"},
			Text: strings.Repeat("a", 100)}
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	done := func(_ parley.Message, dup bool, err error) {
		if err != nil || dup {
			failed.Add(1)
		}
		wg.Done()
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for n := 0; n < b.N; {
		for i := 0; i < rooms && n < b.N; i, n = i+1, n+1 {
			msgs[i].Nonce = strconv.Itoa(n)
			wg.Add(1)
			s.QueueAppend(ctx, msgs[i], done)
		}
		wg.Wait()
	}
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d appends failed or were taken for duplicates", failed.Load())
	}
	st := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(st.Requests)/float64(max(st.Commits, 1)), "msgs/commit")
	b.ReportMetric(float64((cpuTime()-cpu0)/time.Microsecond)/float64(b.N), "cpu-µs/msg")
}

// BenchmarkAppendSerial is the baseline: one appender, one fsync per message.
func BenchmarkAppendSerial(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "parley.db"))
	defer s.Close()
	m := parley.Message{Room: "room", From: parley.User{ID: "u1", Name: "bench"}, Text: "hello, benchmark"}
	for b.Loop() {
		if _, _, err := s.Append(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
