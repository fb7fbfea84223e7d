//go:build linux

package ws

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/auth"
	"github.com/parleychat/parley/hub"
)

// guestsByName makes every upgrade a guest named by its ?name=.
type guestsByName struct{}

func (guestsByName) Authenticate(_ context.Context, r *http.Request) (auth.Identity, error) {
	name := r.URL.Query().Get("name")
	return auth.Identity{Principal: parley.Principal{User: parley.User{ID: "id-" + name, Name: name}, Kind: parley.KindGuest}}, nil
}

// bareClient is a WebSocket client that is only a file descriptor, so a
// measurement of the process's heap sees the server's side alone.
type bareClient int

// dialBare opens a parley.v1 connection to addr as name, joins room, and
// reads until the joined frame came.
func dialBare(tb testing.TB, addr *net.TCPAddr, name, room string) bareClient {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		tb.Fatalf("connect: %v", err)
	}
	c := bareClient(fd)
	c.write(tb, fmt.Appendf(nil, "GET /ws?name=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: parley.v1\r\n\r\n", name, addr))
	c.readUntil(tb, []byte(`"welcome"`))
	c.write(tb, cf(true, 1, `{"type":"join","room":"`+room+`","id":"j"}`))
	c.readUntil(tb, []byte(`"joined"`))
	return c
}

func (c bareClient) write(tb testing.TB, b []byte) {
	if _, err := syscall.Write(int(c), b); err != nil {
		tb.Fatalf("write: %v", err)
	}
}

// readUntil reads until what has come contains want.
func (c bareClient) readUntil(tb testing.TB, want []byte) {
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, want) {
		n, err := syscall.Read(int(c), buf)
		if err != nil || n == 0 {
			tb.Fatalf("reading for %s: %v (got %q)", want, err, got)
		}
		got = append(got, buf[:n]...)
	}
}

// BenchmarkIdleConnection opens b.N connections through the whole server
// stack (upgrade, hub session, event loop), each joined to one of 50 rooms
// as a guest, and reports the server's live heap per connection after a
// collection, which is what an idle connection costs before the collector's
// headroom, and the runtime's memory outside the heap per connection
// (offheap-B/conn; Go's network poller kept a record per descriptor there). Run it with a fixed count (the file-descriptor limit of 20,000
// holds both ends of each connection):
//
//	go test -run '^$' -bench IdleConnection -benchtime 5000x ./ws/
func BenchmarkIdleConnection(b *testing.B) {
	if b.N > 9000 {
		b.Fatalf("%d connections need %d descriptors; run with -benchtime 5000x", b.N, 2*b.N)
	}
	h := newTestHub(b, hub.Options{PresenceLimit: -1})
	handler := NewHandler(h, guestsByName{}, Options{EventLoop: true})
	srv := serveWithEventLoop(b, handler)
	addr := srv.Listener.Addr().(*net.TCPAddr)

	// One connection first, so the rooms' and pools' first allocations
	// aren't counted.
	clients := []bareClient{dialBare(b, addr, "warm", "room-0")}
	before, sysBefore := liveHeap()
	b.ResetTimer()
	for i := range b.N {
		clients = append(clients, dialBare(b, addr, fmt.Sprint("u", i), fmt.Sprint("room-", i%50)))
	}
	b.StopTimer()
	after, sysAfter := liveHeap()
	if parked := handler.Parked(); parked != len(clients) {
		b.Fatalf("%d connections parked in the event loop, want %d", parked, len(clients))
	}
	b.ReportMetric(float64(after-before)/float64(b.N), "heap-B/conn")
	b.ReportMetric(float64(sysAfter-sysBefore)/float64(b.N), "offheap-B/conn")
	for _, c := range clients {
		syscall.Close(int(c))
	}
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	h.Shutdown(sctx)
}

// liveHeap is the heap in use after a full collection, and the runtime's
// memory outside the heap that a connection can grow (the network poller's
// descriptors, goroutine stacks and records).
func liveHeap() (heap, offHeap uint64) {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.OtherSys + m.StackInuse + m.MSpanInuse
}
