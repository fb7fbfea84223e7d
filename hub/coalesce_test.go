package hub

import (
	"slices"
	"testing"
	"time"
)

// TestCoalescing: a broadcast right after a write waits out the interval
// and goes out together with what arrives meanwhile; an urgent frame cuts
// the wait short; a broadcast after a quiet interval goes out at once.
func TestCoalescing(t *testing.T) {
	const interval = 300 * time.Millisecond
	snk := newSink()
	q := newSendQueue(snk, rawFramer{}, 1<<20, interval, nil)

	q.push([]byte("m1"))
	if got := writeStrings(snk.nextWrite(t)); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("first write %q, want m1 at once", got)
	}
	start := time.Now()
	q.push([]byte("m2"))
	q.push([]byte("m3"))
	got := writeStrings(snk.nextWrite(t))
	if !slices.Equal(got, []string{"m2", "m3"}) {
		t.Fatalf("second write %q, want m2 and m3 in one write", got)
	}
	if d := time.Since(start); d < interval/2 {
		t.Errorf("broadcasts went out after %v, want them held for about %v", d, interval)
	}

	start = time.Now()
	q.push([]byte("m4"))
	q.pushUrgent([]byte("ack"))
	got = writeStrings(snk.nextWrite(t))
	if !slices.Equal(got, []string{"m4", "ack"}) {
		t.Fatalf("urgent write %q, want m4 and ack", got)
	}
	if d := time.Since(start); d > interval/2 {
		t.Errorf("an urgent frame waited %v", d)
	}

	time.Sleep(interval + 50*time.Millisecond)
	start = time.Now()
	q.push([]byte("m5"))
	snk.nextWrite(t)
	if d := time.Since(start); d > interval/2 {
		t.Errorf("a broadcast after a quiet interval waited %v", d)
	}
	q.close(closeNone, "")
	snk.awaitClosed(t)
}
