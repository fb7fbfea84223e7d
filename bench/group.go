package bench

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// group owns the read loops of a set of connections: it starts one
// goroutine per connection, and closeAll closes every connection and waits
// for every loop to end. A connection that ends while nobody closed it
// (the server closed it, or the network failed) is counted as dropped.
// Safe for concurrent use.
type group struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	loops   map[*conn]chan struct{}
	closing atomic.Bool
	dropped atomic.Int64
	first   error       // the first drop, under mu
	codes   map[int]int // close codes of drops, under mu
	// rl reads the connections where it can (readloop_linux.go), made on
	// first use; noLoop: it could not be made. Under mu.
	rl     *readLoop
	noLoop bool
}

func newGroup() *group {
	return &group{loops: make(map[*conn]chan struct{}), codes: make(map[int]int)}
}

// start reads c, calling handle with each message until the connection
// ends, from the group's event loop where there is one and from a
// goroutine of c's own otherwise. It returns a channel closed when c has
// ended. handle must not block for long: on the event loop it holds up
// every other connection.
func (g *group) start(c *conn, handle func([]byte)) <-chan struct{} {
	done := make(chan struct{})
	g.mu.Lock()
	g.loops[c] = done
	g.mu.Unlock()
	if g.poll(c, handle, done) {
		if g.closing.Load() { // closeAll ran while we registered
			c.close()
		}
		return done
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(done)
		for {
			data, err := c.next()
			if err != nil {
				g.ended(c, err)
				return
			}
			handle(data)
		}
	}()
	if g.closing.Load() { // closeAll ran while we registered
		c.close()
	}
	return done
}

func (g *group) ended(c *conn, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.loops, c)
	if c.ending.Load() || g.closing.Load() {
		c.nc.Close()
		return
	}
	c.nc.Close()
	g.dropped.Add(1)
	var ce *CloseError
	if errors.As(err, &ce) {
		g.codes[ce.Code]++
	} else {
		g.codes[1006]++
	}
	if g.first == nil {
		g.first = err
	}
}

// closeAll closes every connection politely and waits for the loops.
func (g *group) closeAll() { g.shut(false) }

// dropAll closes every connection without a close frame and waits.
func (g *group) dropAll() { g.shut(true) }

func (g *group) shut(abrupt bool) {
	g.closing.Store(true)
	g.mu.Lock()
	conns := make([]*conn, 0, len(g.loops))
	for c := range g.loops {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		if abrupt {
			c.drop()
		} else {
			c.close()
		}
	}
	g.mu.Lock()
	rl := g.rl
	g.mu.Unlock()
	if rl != nil {
		rl.windDown()
	}
	g.wg.Wait()
}

// drops describes the connections that ended on their own, or returns nil.
func (g *group) drops() error {
	n := g.dropped.Load()
	if n == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Errorf("%d connection(s) ended while the bench was using them (close codes %v); the first: %w", n, g.codes, g.first)
}

// closeCodes returns a copy of the close codes of drops.
func (g *group) closeCodes() map[int]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[int]int, len(g.codes))
	for k, v := range g.codes {
		out[k] = v
	}
	return out
}
