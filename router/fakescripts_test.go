package router

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// fakeScripts are a scripts route's scripts on the fake loader. As the
// real loader's do, a script is built when first asked for and again when
// its file changes (size or modification time); requests that arrive
// while it builds share that build, which goes on when they give up; a
// failed build is kept until the file changes; built is told of each
// successful build with the guest's snapshot. A fake guest's build-delay
// and build-fail directives make builds slow or failing on demand.
type fakeScripts struct {
	l      *fakeLoader
	rc     seam.RunConfig
	built  func(path string, cached bool, d time.Duration, snapshot seam.Snapshot)
	mu     sync.Mutex
	builds map[string]*fakeBuild // by path: the latest build
	closed bool
}

// fakeBuild is one build of one version of a script.
type fakeBuild struct {
	stamp string        // the file's size and modification time
	done  chan struct{} // closed when g or err is set
	g     *fakeGuest
	err   error
	held  atomic.Int64 // runs holding it (Acquire, not released yet)
}

// errFakeBuild is what a fake guest's build-fail gives: the compiler's
// output follows it.
var errFakeBuild = errors.New("build failed")

func (s *fakeScripts) Acquire(ctx context.Context, path string) (host.Runner, func(), error) {
	b, err := s.build(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	b.held.Add(1)
	var once sync.Once
	release := func() { once.Do(func() { b.held.Add(-1) }) }
	return host.RunnerFunc(func(ctx context.Context, inv *host.Invocation) error {
		return b.g.start(ctx, s.rc, inv)
	}), release, nil
}

func (s *fakeScripts) Build(ctx context.Context, path string) error {
	_, err := s.build(ctx, path)
	return err
}

// build returns the build of path's current version, starting it if none
// is under way or done, and waits for it within ctx.
func (s *fakeScripts) build(ctx context.Context, path string) (*fakeBuild, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	stamp := fmt.Sprint(st.Size(), st.ModTime().UnixNano())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("fake scripts: closed")
	}
	b := s.builds[path]
	if b == nil || b.stamp != stamp {
		b = &fakeBuild{stamp: stamp, done: make(chan struct{})}
		s.builds[path] = b
		s.l.builds.Add(1)
		go s.run(b, path)
	}
	s.mu.Unlock()
	select {
	case <-b.done:
		return b, b.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the build of %s: %w", path, context.Cause(ctx))
	}
}

// run builds b: reads the guest, waits its build-delay, fails as its
// build-fail says or reports it built.
func (s *fakeScripts) run(b *fakeBuild, path string) {
	defer close(b.done)
	start := time.Now()
	g, err := readFakeGuest(path)
	if err != nil {
		b.err = fmt.Errorf("build %s: %w", path, err)
		return
	}
	time.Sleep(g.buildDelay)
	switch {
	case g.buildFail != "":
		b.err = fmt.Errorf("build %s: %w:\n%s", path, errFakeBuild, g.buildFail)
	case g.refuse != "":
		b.err = fmt.Errorf("compile %s: %s", path, g.refuse)
	default:
		b.g = g
		if s.built != nil {
			s.built(path, false, time.Since(start), g.snapshotFor(s.rc))
		}
	}
}

func (s *fakeScripts) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}
