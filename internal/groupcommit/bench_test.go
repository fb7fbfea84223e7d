package groupcommit

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkQueue is the writer's own cost per request, with a commit that
// does nothing: rounds of 64 queued ops, as 64 connections' sends would
// be, each answered before the next round. An op is one request.
func BenchmarkQueue(b *testing.B) {
	w := Start(Options{MaxBatch: 256}, func(ops []int) ([]error, error) { return nil, nil })
	defer w.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	then := func(err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	b.ReportAllocs()
	for n := 0; n < b.N; {
		for i := 0; i < 64 && n < b.N; i, n = i+1, n+1 {
			wg.Add(1)
			w.Queue(ctx, n, then)
		}
		wg.Wait()
	}
}
