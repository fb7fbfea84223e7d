package redisbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleychat/parley"
	"github.com/parleychat/parley/parleytest"
	"github.com/parleychat/parley/redisbroker"
)

func open(t *testing.T, addr string) *redisbroker.Broker {
	t.Helper()
	b, err := redisbroker.Open("redis://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBroker(t *testing.T) {
	srv := parleytest.StartRedis(t)
	parleytest.BrokerSuite(t, func(t *testing.T) parley.Broker { return open(t, srv.Addr) })
}

// TestResubscribesAfterRestart: a Redis restart loses the subscription;
// the broker must come back by itself, say it is ready again, and carry
// events as before.
func TestResubscribesAfterRestart(t *testing.T) {
	srv := parleytest.StartRedis(t)
	b := open(t, srv.Addr)
	got, ready := parleytest.RunBroker(t, b)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		t.Fatal("no ready after the restart: the subscription did not come back")
	}
	pub := open(t, srv.Addr)
	defer pub.Close()
	if err := pub.Publish(context.Background(), "lobby", []byte("after")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if string(r.Payload) != "after" {
			t.Fatalf("got %q", r.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event after the restart never arrived")
	}
}
