package hub

import (
	"sync/atomic"

	"github.com/parleychat/parley"
)

// errorCodes are the codes counted per code; anything else counts as internal.
var errorCodes = [...]string{
	parley.EBADREQUEST, parley.EUNAUTHORIZED, parley.EFORBIDDEN, parley.ENOTFOUND, parley.ECONFLICT,
	parley.ETOOLARGE, parley.ERATELIMITED, parley.EUNAVAILABLE, parley.EINTERNAL,
}

type stats struct {
	connections atomic.Int64
	received    atomic.Int64
	delivered   atomic.Int64
	slowCloses  atomic.Int64
	// publishErrors counts room events other nodes may have missed.
	publishErrors atomic.Int64
	errors        [len(errorCodes)]atomic.Int64 // indexed like errorCodes
}

func (s *stats) countError(code string) {
	for i, c := range errorCodes {
		if c == code {
			s.errors[i].Add(1)
			return
		}
	}
	s.errors[len(errorCodes)-1].Add(1)
}

// Stats is a snapshot of the hub's counters, for metrics.
type Stats struct {
	Connections   int64
	Rooms         int
	Received      int64 // messages stored from this node's sessions
	Delivered     int64 // message frames queued to recipients
	SlowCloses    int64 // connections closed for overflowing their queue
	PublishErrors int64 // room events the broker did not take
	Errors        map[string]int64
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	rooms := len(h.rooms)
	h.mu.Unlock()
	st := Stats{
		Connections:   h.stats.connections.Load(),
		Rooms:         rooms,
		Received:      h.stats.received.Load(),
		Delivered:     h.stats.delivered.Load(),
		SlowCloses:    h.stats.slowCloses.Load(),
		PublishErrors: h.stats.publishErrors.Load(),
		Errors:        make(map[string]int64, len(errorCodes)),
	}
	for i, c := range errorCodes {
		st.Errors[c] = h.stats.errors[i].Load()
	}
	return st
}
