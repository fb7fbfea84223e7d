// Package redisbroker is parley.Broker over Redis pub/sub: every node
// publishes a room's events on the channel parley:room:NAME and receives
// all rooms' events through one pattern subscription, so an event crosses
// Redis once per node, however many members each node has.
//
// Subscribing to the pattern rather than to each room keeps no per-room
// state to restore after a reconnect; the price is that every node sees
// every room's events, which suits clusters of a handful of nodes.
//
// A Broker is safe for concurrent use; Run owns the subscription.
package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parleychat/parley"
)

const channelPrefix = "parley:room:"

// Broker publishes and receives room events through Redis.
type Broker struct {
	client *redis.Client
	log    *slog.Logger
}

var _ parley.Broker = (*Broker)(nil)

// Open connects to the Redis server at url (redis://[:password@]host:port/db).
// It does not wait for the server: Run retries until it answers.
func Open(url string, log *slog.Logger) (*Broker, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// net/url's errors quote the whole URL, password included; what
		// it says of the problem is enough.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redisbroker: parsing the URL: %w", err)
	}
	// Fail fast while Redis is away: a publish that can't go out is
	// caught up from the store, so waiting longer helps nobody.
	opts.DialTimeout = time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	opts.MaxRetries = 1
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Broker{client: redis.NewClient(opts), log: log}, nil
}

// Publish sends payload on room's channel.
func (b *Broker) Publish(ctx context.Context, room string, payload []byte) error {
	if err := b.client.Publish(ctx, channelPrefix+room, payload).Err(); err != nil {
		return fmt.Errorf("redisbroker: publishing to %s: %w", room, err)
	}
	return nil
}

// Run receives every room's events until ctx ends. go-redis reconnects and
// resubscribes after a failure; each confirmation of the subscription
// calls ready, so the caller catches up on what it missed meanwhile.
func (b *Broker) Run(ctx context.Context, handle func(room string, payload []byte), ready func()) error {
	sub := b.client.PSubscribe(ctx, channelPrefix+"*")
	// Receive does not watch ctx while it waits for data; closing the
	// subscription is what ends a blocked Receive.
	stop := context.AfterFunc(ctx, func() { sub.Close() })
	defer stop()
	defer sub.Close()
	backoff := 100 * time.Millisecond
	for {
		msg, err := sub.Receive(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			b.log.Warn("redis subscription interrupted; reconnecting", "err", err, "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "psubscribe" {
				b.log.Info("subscribed to room events on redis")
				ready()
			}
		case *redis.Message:
			handle(strings.TrimPrefix(m.Channel, channelPrefix), []byte(m.Payload))
		}
	}
}

// Ping asks Redis for PONG.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisbroker: %w", err)
	}
	return nil
}

// Close closes the connections.
func (b *Broker) Close() error {
	if err := b.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}
