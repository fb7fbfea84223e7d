package parleytest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleychat/parley"
)

// Received is what a running broker handed to its handler.
type Received struct {
	Room    string
	Payload []byte
}

// RunBroker runs b until the test ends and returns what it receives and a
// channel that gets a value each time it is ready.
func RunBroker(tb testing.TB, b parley.Broker) (<-chan Received, <-chan struct{}) {
	tb.Helper()
	got := make(chan Received, 1024)
	ready := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(ctx, func(room string, p []byte) { got <- Received{room, p} }, func() {
			select {
			case ready <- struct{}{}:
			default:
			}
		})
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
		b.Close()
	})
	return got, ready
}

func waitReady(tb testing.TB, ready <-chan struct{}) {
	tb.Helper()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		tb.Fatal("the broker never became ready")
	}
}

// expectPayload waits for.Room/payload, skipping nothing: brokers keep
// one publisher's order.
func expectPayload(tb testing.TB, got <-chan Received, room string, payload []byte) {
	tb.Helper()
	select {
	case r := <-got:
		if r.Room != room || !bytes.Equal(r.Payload, payload) {
			tb.Fatalf("received %s %q, want %s %q", r.Room, r.Payload, room, payload)
		}
	case <-time.After(5 * time.Second):
		tb.Fatalf("%s %q never arrived", room, payload)
	}
}

// BrokerSuite checks a parley.Broker implementation. newNode returns a new
// node's broker on the same cluster; the suite runs and closes it.
func BrokerSuite(t *testing.T, newNode func(t *testing.T) parley.Broker) {
	t.Run("EveryNodeGetsEveryEventInOrder", func(t *testing.T) {
		a, b := newNode(t), newNode(t)
		gotA, readyA := RunBroker(t, a)
		gotB, readyB := RunBroker(t, b)
		waitReady(t, readyA)
		waitReady(t, readyB)
		ctx := context.Background()
		for i := range 50 {
			room := fmt.Sprintf("room-%d", i%3)
			payload := []byte(fmt.Sprintf(`{"n":%d,"bin":"\u0000\xff"}`, i))
			if err := a.Publish(ctx, room, payload); err != nil {
				t.Fatal(err)
			}
			expectPayload(t, gotA, room, payload)
			expectPayload(t, gotB, room, payload)
		}
	})
	t.Run("PingAndClose", func(t *testing.T) {
		b := newNode(t)
		if err := b.Ping(context.Background()); err != nil {
			t.Fatalf("ping: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if err := b.Publish(context.Background(), "r", []byte("x")); err == nil {
			t.Error("publish after close succeeded")
		}
	})
	t.Run("RunStopsWithItsContext", func(t *testing.T) {
		b := newNode(t)
		defer b.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx, func(string, []byte) {}, func() {}) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	})
}
