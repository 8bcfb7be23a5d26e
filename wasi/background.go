package wasi

import (
	"context"
	"sync"
)

// background is the engine's work that no request waits for (snapshot
// retakes): Engine.Close stops it and waits for it, so that nothing runs
// an init or writes the cache folder once the engine is closed.
type background struct {
	ctx    context.Context // ended by Close: inits started from it stop
	stop   context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newBackground() *background {
	ctx, stop := context.WithCancel(context.Background())
	return &background{ctx: ctx, stop: stop}
}

// start reports whether background work may begin; each true is paired
// with a done.
func (b *background) start() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	return true
}

func (b *background) done() { b.wg.Done() }

// close stops what runs (its inits see their context end) and waits for
// it to return.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stop()
	b.wg.Wait()
}
