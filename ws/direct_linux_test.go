//go:build linux

package ws

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/parleychat/parley/hub"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestTryWriteAfterBlockingWrite: a blocking write's deadline must not
// outlive it, or every non-blocking write after it would fail once the
// deadline passed, closing healthy connections.
func TestTryWriteAfterBlockingWrite(t *testing.T) {
	server, client := tcpPair(t)
	tr := newConn(server, 50*time.Millisecond).transport()
	nb, ok := tr.(hub.NonblockingWriter)
	if !ok {
		t.Fatal("a TCP connection's transport cannot write without blocking")
	}
	if err := tr.Write(net.Buffers{[]byte("one ")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // well past the write timeout
	n, err := nb.TryWrite([][]byte{[]byte("two "), []byte("three")})
	if err != nil || n != 9 {
		t.Fatalf("TryWrite = %d, %v; want 9, nil", n, err)
	}
	got := make([]byte, 13)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "one two three" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// TestTryWriteFullSocket: a socket whose buffer is full takes what fits and
// then nothing, without an error and without blocking.
func TestTryWriteFullSocket(t *testing.T) {
	server, _ := tcpPair(t) // the client never reads
	nb := newConn(server, time.Second).transport().(hub.NonblockingWriter)
	chunk := make([]byte, 64<<10)
	total := 0
	start := time.Now()
	for i := 0; ; i++ {
		n, err := nb.TryWrite([][]byte{chunk})
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n == 0 {
			break
		}
		if i > 10000 || time.Since(start) > 5*time.Second {
			t.Fatalf("wrote %d bytes and the socket still takes more", total)
		}
	}
	if total == 0 {
		t.Fatal("an empty socket took nothing")
	}
}

// TestWriteWaitsForTheSocket: a blocking Write hands over every byte, in
// order, across many buffers (more than one writev takes) and partial
// writes to a slow reader, and gives up at the write timeout on a peer
// that reads nothing.
func TestWriteWaitsForTheSocket(t *testing.T) {
	server, client := tcpPair(t)
	tr := newConn(server, 5*time.Second).transport()
	var bufs net.Buffers
	var want []byte
	for i := range 3000 { // 3,000 buffers, ~6 MB: several writevs, a full socket
		b := bytes.Repeat([]byte{byte(i)}, 1+i%4000)
		bufs = append(bufs, b, nil) // empty buffers are skipped
		want = append(want, b...)
	}
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 8192)
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		for len(all) < len(want) {
			n, err := client.Read(buf)
			if err != nil {
				break
			}
			all = append(all, buf[:n]...)
			if len(all) < 1<<20 {
				time.Sleep(time.Millisecond) // slow at first, so the writer waits
			}
		}
		got <- all
	}()
	if err := tr.Write(bufs); err != nil {
		t.Fatal(err)
	}
	if all := <-got; !bytes.Equal(all, want) {
		t.Fatalf("read %d bytes, want the %d written, in order", len(all), len(want))
	}

	stuck, _ := tcpPair(t) // its peer never reads
	tr = newConn(stuck, 200*time.Millisecond).transport()
	start := time.Now()
	err := tr.Write(net.Buffers{make([]byte, 32<<20)})
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("Write to a peer that reads nothing: %v after %v, want the deadline error", err, time.Since(start))
	}
}
