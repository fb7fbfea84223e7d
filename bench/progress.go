package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressEvery is how often the live line is redrawn.
const progressEvery = 500 * time.Millisecond

// progress keeps one status line on stderr, redrawn in place with \r. Its
// goroutine is stopped by close. Safe for concurrent use.
type progress struct {
	w      io.Writer
	mu     sync.Mutex
	status func() string
	width  int
	stop   chan struct{}
	done   chan struct{}
}

func startProgress(w io.Writer) *progress {
	p := &progress{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

// set changes what the line shows; fn is called from the progress
// goroutine, so it must be safe for concurrent use.
func (p *progress) set(fn func() string) {
	p.mu.Lock()
	p.status = fn
	p.mu.Unlock()
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == nil {
		return
	}
	s := p.status()
	pad := max(p.width-len(s), 0)
	fmt.Fprint(p.w, "\r"+s+strings.Repeat(" ", pad))
	p.width = len(s)
}

// clearLocked blanks the line so ordinary output can follow.
func (p *progress) clearLocked() {
	if p.width > 0 {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", p.width)+"\r")
		p.width = 0
	}
}

// println writes a whole line above the status line.
func (p *progress) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintln(p.w, s)
}

// close stops the goroutine and clears the line.
func (p *progress) close() {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	p.clearLocked()
	p.mu.Unlock()
}
