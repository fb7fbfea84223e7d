package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/parleytest"
	"github.com/parleychat/parley/postgres"
)

func TestMain(m *testing.M) {
	code := m.Run()
	parleytest.StopServers()
	os.Exit(code)
}

func TestStore(t *testing.T) {
	parleytest.StoreSuite(t, func(t *testing.T) parley.Store {
		return mustOpen(t, parleytest.StartPostgres(t))
	})
}

// mustOpen opens a store the caller closes.
func mustOpen(tb testing.TB, dsn string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

func TestMigrationsIdempotent(t *testing.T) {
	dsn := parleytest.StartPostgres(t)
	for range 3 {
		if err := postgres.Migrate(context.Background(), dsn); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	s := mustOpen(t, dsn) // Open migrates too
	defer s.Close()
	if _, _, err := s.Append(context.Background(), parley.Message{Room: "r", Text: "x"}); err != nil {
		t.Fatalf("Append after migrations: %v", err)
	}
}

// TestMigrateConcurrently starts several "nodes" on an empty database at
// once: the advisory lock must make each migration run exactly once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := parleytest.StartPostgres(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = postgres.Migrate(context.Background(), dsn)
				return
			}
			s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent migrations: %v", err)
	}
	s := mustOpen(t, dsn)
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestClosed(t *testing.T) {
	s := mustOpen(t, parleytest.StartPostgres(t))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
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
		"Message":        second(s.Message(ctx, "r", 1)),
		"EditMessage":    second(s.EditMessage(ctx, "r", 1, "x")),
		"DeleteMessage":  second(s.DeleteMessage(ctx, "r", 1)),
		"EnsureRoom":     second(s.EnsureRoom(ctx, "r")),
		"CreateRoom":     second(s.CreateRoom(ctx, parley.Room{Name: "r"}, "", nil)),
		"SetTopic":       s.SetTopic(ctx, "r", "t"),
		"Membership":     second(s.Membership(ctx, "r", "u")),
		"SetRole":        s.SetRole(ctx, "r", "u", parley.RoleMember),
		"RoomsOf":        second(s.RoomsOf(ctx, "u")),
		"User":           third(s.User(ctx, "u")),
		"CreateAccount":  second(s.CreateAccount(ctx, "a", "h", false)),
		"Accounts":       second(s.Accounts(ctx)),
		"SetPassword":    s.SetPassword(ctx, "u", "h"),
		"CreateSession":  s.CreateSession(ctx, "u", []byte("t"), time.Now()),
		"DeleteSession":  s.DeleteSession(ctx, []byte("t")),
		"UserByToken":    second(s.UserByTokenHash(ctx, []byte("h"))),
		"SaveExternal":   s.SaveExternalUser(ctx, parley.User{ID: parley.ExternalIDPrefix + "1", Name: "x"}),
		"AccountByName":  second(s.AccountByName(ctx, "a")),
		"SetMutedUntil":  s.SetMutedUntil(ctx, "r", "u", time.Time{}),
		"SetBanned":      s.SetBanned(ctx, "r", "u", true),
		"SetDisabled":    s.SetDisabled(ctx, "u", true),
		"SessionAccount": func() error { _, _, err := s.SessionAccount(ctx, []byte("t"), time.Now()); return err }(),
	} {
		if parley.ErrorCode(err) != parley.EUNAVAILABLE {
			t.Errorf("%s after Close: %v, want %s", what, err, parley.EUNAVAILABLE)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

// TestCloseWhileWriting checks that Close neither hangs nor loses an
// acknowledged write: every Append that returned nil is in the database.
func TestCloseWhileWriting(t *testing.T) {
	dsn := parleytest.StartPostgres(t)
	s := mustOpen(t, dsn)
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
	s = mustOpen(t, dsn)
	defer s.Close()
	head, err := s.Head(context.Background(), "r")
	if err != nil || head != acked.Load() {
		t.Fatalf("Head after reopen = %d, %v; want %d acknowledged appends", head, err, acked.Load())
	}
}

// TestTwoNodes runs two Stores ("nodes") on one database, appending to the
// same rooms at once, and every fourth message sent to both nodes at the
// same moment with one nonce, as a client retrying on another node might:
// every room must get seqs 1..N with no gaps or duplicates, and each nonce
// one message, new on one node and a dup on the other.
func TestTwoNodes(t *testing.T) {
	dsn := parleytest.StartPostgres(t)
	nodes := []*postgres.Store{mustOpen(t, dsn), mustOpen(t, dsn)}
	for _, s := range nodes {
		defer s.Close()
	}
	const writers, each, rooms = 16, 40, 3
	type result struct {
		m   parley.Message
		dup bool
	}
	results := make(chan result, 2*writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			from := parley.User{ID: fmt.Sprint("u", w), Name: fmt.Sprint("user", w)}
			for i := range each {
				m := parley.Message{Room: fmt.Sprint("room", (w+i)%rooms), From: from, Text: fmt.Sprint(w, "/", i)}
				if i%4 == 0 {
					m.Nonce = fmt.Sprint("n", i)
				}
				// Each message goes to one node; a nonce'd one is sent
				// to the other node as well, as a client retrying after
				// a reconnect would.
				tries := 1
				if m.Nonce != "" {
					tries = 2
				}
				var both sync.WaitGroup
				for k := range tries {
					node := (w + i + k) % 2
					both.Go(func() {
						stored, dup, err := nodes[node].Append(context.Background(), m)
						if err != nil {
							t.Errorf("writer %d message %d on node %d: %v", w, i, node, err)
							return
						}
						results <- result{stored, dup}
					})
				}
				both.Wait()
			}
		})
	}
	wg.Wait()
	close(results)

	seqs := map[string][]parley.Seq{}
	orig := map[string]parley.Seq{} // room/user/nonce → seq
	dups := map[string]int{}
	for r := range results {
		key := r.m.Room + "/" + r.m.From.ID + "/" + r.m.Nonce
		if r.dup {
			dups[key]++
		}
		if r.m.Nonce != "" {
			if seq, ok := orig[key]; ok {
				if seq != r.m.Seq {
					t.Errorf("%s stored as seq %d and %d", key, seq, r.m.Seq)
				}
				continue
			}
			orig[key] = r.m.Seq
		}
		seqs[r.m.Room] = append(seqs[r.m.Room], r.m.Seq)
	}
	for key := range orig {
		if dups[key] != 1 {
			t.Errorf("%s: %d of its two appends were dups, want 1", key, dups[key])
		}
	}
	total := 0
	for room, got := range seqs {
		slices.Sort(got)
		for i, seq := range got {
			if seq != parley.Seq(i+1) {
				t.Fatalf("room %s: sorted seqs[%d] = %d; want 1..%d with no gaps or duplicates", room, i, seq, len(got))
			}
		}
		head, err := nodes[0].Head(context.Background(), room)
		if err != nil || head != parley.Seq(len(got)) {
			t.Errorf("Head(%s) = %d, %v; want %d", room, head, err, len(got))
		}
		total += len(got)
	}
	if total != writers*each {
		t.Errorf("%d distinct messages stored, want %d", total, writers*each)
	}
}

// TestTwoNodesSameName creates the same guest and account names on two
// nodes at once: for each name exactly one creation wins, case-insensitively,
// and the others get ECONFLICT.
func TestTwoNodesSameName(t *testing.T) {
	dsn := parleytest.StartPostgres(t)
	nodes := []*postgres.Store{mustOpen(t, dsn), mustOpen(t, dsn)}
	for _, s := range nodes {
		defer s.Close()
	}
	const names, tries = 10, 6
	var won [names]atomic.Int32
	var wg sync.WaitGroup
	for i := range names {
		for k := range tries {
			wg.Go(func() {
				name := fmt.Sprint("name", i)
				if k%2 == 1 {
					name = strings.ToUpper(name)
				}
				var err error
				if k < tries/2 {
					_, err = nodes[k%2].CreateGuest(context.Background(), name, []byte(fmt.Sprint("h", i, "/", k)))
				} else {
					_, err = nodes[k%2].CreateAccount(context.Background(), name, "hash", false)
				}
				switch parley.ErrorCode(err) {
				case "":
					won[i].Add(1)
				case parley.ECONFLICT:
				default:
					t.Errorf("creating %s: %v", name, err)
				}
			})
		}
	}
	wg.Wait()
	for i := range names {
		if n := won[i].Load(); n != 1 {
			t.Errorf("name%d was created %d times, want once", i, n)
		}
	}
}

// TestGroupCommit checks that concurrent appends share commits.
func TestGroupCommit(t *testing.T) {
	s := mustOpen(t, parleytest.StartPostgres(t))
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

// TestFailingRequestInBatch checks that a request PostgreSQL refuses (text
// with a NUL byte) fails alone, while the rest of its batch commits.
func TestFailingRequestInBatch(t *testing.T) {
	s := mustOpen(t, parleytest.StartPostgres(t))
	defer s.Close()
	const n = 64
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	for i := range n {
		wg.Go(func() {
			text := "fine"
			if i%8 == 0 {
				text = "nul \x00 byte"
			}
			_, _, err := s.Append(context.Background(), parley.Message{Room: fmt.Sprint("r", i%3), Text: text})
			switch {
			case err == nil && i%8 != 0:
				ok.Add(1)
			case err != nil && i%8 == 0:
				failed.Add(1)
			default:
				t.Errorf("Append %d (%q): %v", i, text, err)
			}
		})
	}
	wg.Wait()
	var heads parley.Seq
	for r := range 3 {
		head, err := s.Head(context.Background(), fmt.Sprint("r", r))
		if err != nil {
			t.Fatalf("Head: %v", err)
		}
		heads += head
	}
	if ok.Load() != n-n/8 || failed.Load() != n/8 || heads != parley.Seq(ok.Load()) {
		t.Errorf("%d ok, %d failed, heads sum to %d; want %d, %d, %d", ok.Load(), failed.Load(), heads, n-n/8, n/8, n-n/8)
	}
	t.Logf("%d requests in %d commits", s.Stats().Requests, s.Stats().Commits)
}

// TestServerDown stops PostgreSQL under an open Store: appends and pings
// must fail promptly with EUNAVAILABLE, and once the server is back on the
// same port the same Store must recover by itself.
func TestServerDown(t *testing.T) {
	srv := parleytest.StartPostgresServer(t)
	s := mustOpen(t, srv.CreateDatabase(t))
	defer s.Close()
	from := parley.User{ID: "u1", Name: "alice"}
	if _, _, err := s.Append(context.Background(), parley.Message{Room: "r", From: from, Text: "before"}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	const bound = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	_, _, err := s.Append(ctx, parley.Message{Room: "r", From: from, Text: "while down", Nonce: "down"})
	if took := time.Since(start); took > bound+time.Second {
		t.Errorf("Append with the server down took %v; want under %v", took, bound)
	}
	t.Logf("Append with the server down, after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("Append with the server down: %v (code %q), want %s", err, parley.ErrorCode(err), parley.EUNAVAILABLE)
	}
	if err := s.Ping(ctx); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("Ping with the server down: %v, want %s", err, parley.EUNAVAILABLE)
	}
	if _, err := s.Head(ctx, "r"); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("Head with the server down: %v, want %s", err, parley.EUNAVAILABLE)
	}
	if _, err := s.CreateGuest(ctx, "bob", []byte("h")); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("CreateGuest with the server down: %v, want %s", err, parley.EUNAVAILABLE)
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// The first append after the restart must already succeed: the lost
	// connections were dropped when the failure was seen.
	m, dup, err := s.Append(context.Background(), parley.Message{Room: "r", From: from, Text: "after", Nonce: "down"})
	if err != nil || dup || m.Seq != 2 {
		t.Fatalf("Append after restart: seq %d, dup %v, err %v; want seq 2 (the failed append wrote nothing)", m.Seq, dup, err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
	if _, err := s.CreateGuest(context.Background(), "bob", []byte("h")); err != nil {
		t.Errorf("CreateGuest after restart: %v", err)
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	s := mustOpen(b, parleytest.StartPostgres(b))
	defer s.Close()
	var next atomic.Int64
	b.SetParallelism(32) // 32 × GOMAXPROCS appenders, like many connected clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1)
		m := parley.Message{Room: fmt.Sprint("room", n%64), From: parley.User{ID: fmt.Sprint("u", n), Name: "bench"}, Text: "hello, benchmark"}
		for i := 0; pb.Next(); i++ {
			m.Nonce = fmt.Sprint(i)
			if _, _, err := s.Append(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(st.Requests)/float64(max(st.Commits, 1)), "msgs/commit")
}

// BenchmarkAppendSerial is the baseline: one appender, one commit per message.
func BenchmarkAppendSerial(b *testing.B) {
	s := mustOpen(b, parleytest.StartPostgres(b))
	defer s.Close()
	m := parley.Message{Room: "room", From: parley.User{ID: "u1", Name: "bench"}, Text: "hello, benchmark"}
	for b.Loop() {
		if _, _, err := s.Append(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
