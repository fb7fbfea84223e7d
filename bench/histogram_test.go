package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// oracle is the percentile a sorted slice gives: the sample of rank
// ceil(q·n).
func oracle(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestHistogramQuantilesMatchSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() time.Duration{
		"uniform µs":    func() time.Duration { return time.Duration(rng.IntN(1000)) * time.Microsecond },
		"lognormal":     func() time.Duration { return time.Duration(math.Exp(rng.NormFloat64()*1.5 + 13)) },
		"tiny exact":    func() time.Duration { return time.Duration(rng.IntN(300)) },
		"heavy tail":    func() time.Duration { return time.Duration(1e6 / math.Pow(rng.Float64()+1e-9, 0.8)) },
		"one value":     func() time.Duration { return 1234567 },
		"seconds-range": func() time.Duration { return time.Duration(rng.Int64N(int64(100 * time.Second))) },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{1, 2, 7, 100, 10007} {
				h := NewHistogram()
				samples := make([]time.Duration, n)
				for i := range samples {
					samples[i] = gen()
					h.Record(samples[i])
				}
				slices.Sort(samples)
				for _, q := range []float64{0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
					got, want := h.Quantile(q), oracle(samples, q)
					// Within 0.4% (half a bucket), or 1ns for the exact range.
					if tol := float64(want)/256 + 1; math.Abs(float64(got-want)) > tol {
						t.Errorf("n=%d q=%g: got %v, want %v (±%.0fns)", n, q, got, want, tol)
					}
				}
				if h.Max() != samples[n-1] || h.Min() != samples[0] || h.Count() != int64(n) {
					t.Errorf("n=%d: min %v max %v count %d; want %v %v %d", n, h.Min(), h.Max(), h.Count(), samples[0], samples[n-1], n)
				}
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value lands in a bucket whose range holds it, and buckets tile
	// the line without gaps.
	prevEnd := int64(0)
	for i := range numBuckets {
		low, width := bucketRange(i)
		if low != prevEnd {
			t.Fatalf("bucket %d starts at %d, want %d", i, low, prevEnd)
		}
		if bucketOf(low) != i || bucketOf(low+width-1) != i {
			t.Fatalf("bucket %d [%d,%d) does not hold its ends", i, low, low+width)
		}
		prevEnd = low + width
		if prevEnd < 0 { // past MaxInt64
			break
		}
	}
	if b := bucketOf(math.MaxInt64); b >= numBuckets {
		t.Fatalf("MaxInt64 maps to bucket %d of %d", b, numBuckets)
	}
	h := NewHistogram()
	h.Record(-5)
	if h.Quantile(1) != 0 {
		t.Errorf("a negative duration should count as 0")
	}
}

func TestHistogramEmptyMergeAndConcurrency(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Min() != 0 || h.Max() != 0 {
		t.Fatal("an empty histogram should report zeros")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if h.Count() != 4000 || h.Max() != 3999*time.Microsecond {
		t.Fatalf("count %d max %v after concurrent records", h.Count(), h.Max())
	}
	o := NewHistogram()
	o.Record(time.Hour)
	h.Merge(o)
	if h.Count() != 4001 || h.Max() != time.Hour || h.Quantile(1) != time.Hour {
		t.Fatalf("after merge: count %d max %v", h.Count(), h.Max())
	}
	s := h.Summary()
	if !(s.P50MS > 0 && s.P50MS <= s.P99MS && s.P99MS <= s.MaxMS) {
		t.Fatalf("summary out of order: %+v", s)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	for i := range b.N {
		h.Record(time.Duration(i*7919) % time.Second)
	}
}
