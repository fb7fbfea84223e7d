package parley

import "context"

// Broker carries room events between the nodes of a cluster, so a message
// stored on one node reaches members connected to another. Implementations
// are safe for concurrent use.
type Broker interface {
	// Publish sends payload to every node running the broker, this one
	// included, tagged with room. An error means some nodes may not get it;
	// they catch up from the store when they next see the room's seq jump
	// or when the broker reconnects.
	Publish(ctx context.Context, room string, payload []byte) error

	// Run receives payloads until ctx ends, calling handle for each from a
	// single goroutine. It reconnects by itself after a failure and calls
	// ready after every (re)connection, so the caller can catch up on what
	// it may have missed. It returns nil when ctx ends.
	Run(ctx context.Context, handle func(room string, payload []byte), ready func()) error

	// Ping reports whether the broker's server answers.
	Ping(ctx context.Context) error

	// Close releases the broker's connections.
	Close() error
}
