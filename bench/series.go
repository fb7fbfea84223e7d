package bench

import (
	"sync/atomic"
	"time"
)

// maxSlots bounds a series: a day of seconds.
const maxSlots = 24 * 3600

// series counts events per second since start, in fixed memory. add is
// safe for concurrent use.
type series struct {
	start time.Time
	slots []atomic.Int64
}

// newSeries covers span from start; later events count in the last slot.
func newSeries(start time.Time, span time.Duration) *series {
	n := min(int(span/time.Second)+2, maxSlots)
	return &series{start: start, slots: make([]atomic.Int64, n)}
}

func (s *series) add(t time.Time, n int64) {
	i := int(t.Sub(s.start) / time.Second)
	s.slots[min(max(i, 0), len(s.slots)-1)].Add(n)
}

// perSecond returns the counts of each second up to end; a last, partial
// second is scaled to a rate when it lasted half a second or more and left
// out otherwise (a few events over a few milliseconds are no rate).
func (s *series) perSecond(end time.Time) []float64 {
	el := max(end.Sub(s.start), 0)
	n := min(int(el/time.Second), len(s.slots))
	out := make([]float64, n, n+1)
	for i := range out {
		out[i] = float64(s.slots[i].Load())
	}
	if frac := el - time.Duration(n)*time.Second; n < len(s.slots) && frac >= time.Second/2 {
		out = append(out, float64(s.slots[n].Load())*float64(time.Second)/float64(frac))
	}
	return out
}
