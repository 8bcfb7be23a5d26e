package wasi

import (
	"context"
	"fmt"
)

// An application's snapshot (Config.App): the driver's init starts the
// interpreter, imports its preloads and then loads one application (a
// WSGI callable, samples/python/wasigate_wsgi.py), so that every request
// starts from the application already built. Unlike an interpreter's
// snapshot, shared by every program with the same init inputs, it is
// taken for one Program and given back by its Close: an application is
// loaded again whenever its files change, and each load's image would
// otherwise stay mapped for the life of the process.

// useAppSnapshot takes p's own snapshot; the init's failure is the error.
func (p *Program) useAppSnapshot(c Config) error {
	m := p.module
	if !m.snap.reactor {
		return fmt.Errorf("%w: %w: not a reactor", ErrAppLoad, ErrNoSnapshot)
	}
	in := p.snapInputs(c)
	in.App = true
	s, err := m.takeSnapshot(p.pool.Limit(), in)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAppLoad, err)
	}
	if s.image.Size() > p.pool.Limit() {
		s.close(context.Background(), m.engine)
		return fmt.Errorf("%w: the image (%d bytes) is larger than the memory limit (%d bytes)", ErrAppLoad, s.image.Size(), p.pool.Limit())
	}
	p.startFrom(s)
	p.own = true
	p.attachAppFresh(in, c)
	return nil
}

// Close releases what the program alone holds: an application's snapshot,
// its idle instances, and its hold on the module's own code (footprint.go).
// Call it once no run of p is under way; a later Run fails.
func (p *Program) Close(ctx context.Context) error {
	p.release(ctx)
	if p.fresh != nil {
		p.closeFresh()
	}
	if p.own && p.snap != nil {
		p.snap.close(ctx, p.module.engine)
		p.snap = nil
	}
	return nil
}

// close gives back a snapshot's image and compiled module.
func (s *snapshot) close(ctx context.Context, e *Engine) {
	e.pools.DropImage(s.image)
	s.image.Close()
	s.closeCode(ctx, e)
}
