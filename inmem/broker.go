// Package inmem is an in-process parley.Broker: several hubs in one
// process share it as if they were nodes of a cluster. Tests use it to run
// multi-node scenarios without Redis, and the broker test suite holds it
// to the same contract as the Redis broker.
package inmem

import (
	"context"
	"errors"
	"sync"

	"github.com/parleychat/parley"
)

// Bus connects the brokers made from it.
type Bus struct {
	mu   sync.Mutex
	subs map[*Broker]struct{}
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: make(map[*Broker]struct{})} }

// Broker is one node's connection to a Bus.
type Broker struct {
	bus    *Bus
	queue  chan delivery
	closed chan struct{}
	once   sync.Once
}

type delivery struct {
	room    string
	payload []byte
}

var _ parley.Broker = (*Broker)(nil)

// queueLen bounds what a slow node may have pending; beyond it Publish
// fails, as a real broker drops a slow subscriber.
const queueLen = 4096

// Broker returns a new node's broker on the bus.
func (b *Bus) Broker() *Broker {
	br := &Broker{bus: b, queue: make(chan delivery, queueLen), closed: make(chan struct{})}
	b.mu.Lock()
	b.subs[br] = struct{}{}
	b.mu.Unlock()
	return br
}

// ErrClosed is returned by a closed broker.
var ErrClosed = errors.New("inmem: broker closed")

// errBackedUp is returned when a node's queue is full.
var errBackedUp = errors.New("inmem: a node is not keeping up; it will catch up from the store")

func (br *Broker) Publish(ctx context.Context, room string, payload []byte) error {
	select {
	case <-br.closed:
		return ErrClosed
	default:
	}
	br.bus.mu.Lock()
	defer br.bus.mu.Unlock()
	var err error
	for sub := range br.bus.subs {
		select {
		case sub.queue <- delivery{room, append([]byte(nil), payload...)}:
		default:
			err = errBackedUp
		}
	}
	return err
}

func (br *Broker) Run(ctx context.Context, handle func(string, []byte), ready func()) error {
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-br.closed:
			return nil
		case d := <-br.queue:
			handle(d.room, d.payload)
		}
	}
}

func (br *Broker) Ping(context.Context) error {
	select {
	case <-br.closed:
		return ErrClosed
	default:
		return nil
	}
}

// Close detaches the broker from the bus.
func (br *Broker) Close() error {
	br.once.Do(func() {
		br.bus.mu.Lock()
		delete(br.bus.subs, br)
		br.bus.mu.Unlock()
		close(br.closed)
	})
	return nil
}
