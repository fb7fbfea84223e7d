package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram's buckets: values below linearMax nanoseconds are counted
// exactly; above, each power of two is cut into subCount buckets, so a
// bucket's midpoint is within 1/(2·subCount) = 0.4% of any value in it.
const (
	subBits    = 7
	subCount   = 1 << subBits
	linearMax  = 2 * subCount
	numBuckets = linearMax + (64-subBits-1)*subCount
)

// Histogram counts durations in fixed memory (59 KiB whatever the number
// of samples). Record, Count and the quantile methods are safe for
// concurrent use; a quantile read during recording sees some recent state.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	count  atomic.Int64
	sum    atomic.Int64 // nanoseconds; overflows after 292 years of latency
	min    atomic.Int64
	max    atomic.Int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

func bucketOf(v int64) int {
	if v < linearMax {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	return linearMax + (shift-1)*subCount + int(uint64(v)>>shift) - subCount
}

// bucketRange returns the values a bucket counts: [low, low+width).
func bucketRange(i int) (low, width int64) {
	if i < linearMax {
		return int64(i), 1
	}
	shift := (i-linearMax)/subCount + 1
	m := int64((i-linearMax)%subCount + subCount)
	return m << shift, 1 << shift
}

// Record counts one duration; negative durations (clock steps) count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)].Add(1)
	h.count.Add(1)
	h.sum.Add(v)
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
	for cur := h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	h.count.Add(o.count.Load())
	h.sum.Add(o.sum.Load())
	if v := o.max.Load(); v > h.max.Load() {
		h.max.Store(v)
	}
	if v := o.min.Load(); v < h.min.Load() {
		h.min.Store(v)
	}
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() int64 { return h.count.Load() }

// Max returns the largest recorded duration, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min returns the smallest recorded duration, exactly (0 when empty).
func (h *Histogram) Min() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

// Mean returns the average recorded duration.
func (h *Histogram) Mean() time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the duration below or at which a fraction q of the
// samples lie: the sample of rank ceil(q·n), as a sorted slice would give
// it, within 0.4% (the midpoint of its bucket, clamped to the exact min and
// max). It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	switch rank { // the ends are known exactly
	case n:
		return h.Max()
	case 1:
		return h.Min()
	}
	var seen int64
	for i := range h.counts {
		seen += int64(h.counts[i].Load())
		if seen >= rank {
			low, width := bucketRange(i)
			v := low + width/2
			return time.Duration(min(max(v, h.min.Load()), h.max.Load()))
		}
	}
	return h.Max()
}

// eachBucket calls fn for every non-empty bucket in ascending order.
func (h *Histogram) eachBucket(fn func(low, width int64, n uint64)) {
	for i := range h.counts {
		if n := h.counts[i].Load(); n > 0 {
			low, width := bucketRange(i)
			fn(low, width, n)
		}
	}
}

// Latency is a histogram's summary as results carry it, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// Summary returns the usual percentiles.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count:  h.Count(),
		MeanMS: ms(h.Mean()),
		P50MS:  ms(h.Quantile(0.50)),
		P90MS:  ms(h.Quantile(0.90)),
		P99MS:  ms(h.Quantile(0.99)),
		P999MS: ms(h.Quantile(0.999)),
		MaxMS:  ms(h.Max()),
	}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
