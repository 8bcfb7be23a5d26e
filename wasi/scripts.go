package wasi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sync"
	"time"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// Scripts builds, compiles and prepares the scripts of one scripts route
// on demand, and again whenever a script changes
// (cmd/wasigate/DECISIONS.md#scripts-are-built-on-first-use-and-rebuilt-when-they-change).
// Requests for a
// script being built wait for that one build; a compiled module is shared
// by the scripts that build to the same bytes and counted by who holds it,
// so that editing a script does not pile up compiled code for the life of
// the process.
type Scripts struct {
	engine  *Engine
	builder *toolchain.Builder
	cfg     Config
	name    func(full string) string
	built   func(full string, cached bool, d time.Duration, snap seam.Snapshot)

	mu      sync.Mutex
	scripts map[string]*script       // by host path
	modules map[string]*scriptModule // compiled, by sha256 of the .wasm
	closed  bool                     // retired: close modules as they free up
}

// NewScripts returns the scripts of a route whose programs run with cfg.
// name gives a script's module name for errors and logs; built, if not
// nil, is told of each successful build before its waiters go on.
func (e *Engine) NewScripts(b *toolchain.Builder, cfg Config, name func(full string) string, built func(full string, cached bool, d time.Duration, snap seam.Snapshot)) *Scripts {
	return &Scripts{engine: e, builder: b, cfg: cfg, name: name, built: built,
		scripts: map[string]*script{}, modules: map[string]*scriptModule{}}
}

// scriptModule is a compiled script module and who holds it: the scripts
// whose current build it is, and the requests running it. When an edit
// replaces it and its last request ends, it is closed.
type scriptModule struct {
	mod      *Module
	users    int // scripts whose current build this is
	inflight int // requests running it
	// superseded: an edit replaced it; once closed, its cache files
	// (build, compiled code, snapshots) are deleted unless another
	// module uses them.
	superseded bool
}

// script is the state of one script: what was built for which stat
// signature, so that an unchanged script is neither hashed nor rebuilt.
type script struct {
	sig     string
	prog    *Program
	key     string // Scripts.modules key of prog's module
	failSig string // a build that failed, not retried until the file changes
	failErr error
	flight  *scriptFlight
}

// scriptFlight is a build under way; requests for the script wait on done.
type scriptFlight struct {
	sig  string
	done chan struct{}
	prog *Program
	key  string
	err  error
}

// Acquire returns the program of the script at full with its module held
// until release is called (once; later calls do nothing).
func (s *Scripts) Acquire(ctx context.Context, full string) (*Program, func(), error) {
	for {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil, nil, ErrRetired
		}
		prog, key, err := s.program(ctx, full)
		if err != nil {
			return nil, nil, err
		}
		s.mu.Lock()
		if m := s.modules[key]; m != nil {
			m.inflight++
			s.mu.Unlock()
			var once sync.Once
			return prog, func() { once.Do(func() { s.release(key) }) }, nil
		}
		s.mu.Unlock()
		// Closed between the build and now (an edit raced it): again.
	}
}

// Build builds the script at full if it changed since its last build,
// without running it (a scripts route's prebuild).
func (s *Scripts) Build(ctx context.Context, full string) error {
	_, _, err := s.program(ctx, full)
	return err
}

// release ends one run of the module at key, closing it if nothing holds
// it any more.
func (s *Scripts) release(key string) {
	s.mu.Lock()
	m := s.modules[key]
	if m != nil {
		m.inflight--
	}
	s.mu.Unlock()
	s.closeIfFree(key)
}

// closeIfFree closes the module at key when no script's current build and
// no request uses it (after Close, when no request does).
func (s *Scripts) closeIfFree(key string) {
	s.mu.Lock()
	m := s.modules[key]
	if m == nil || m.inflight > 0 || (m.users > 0 && !s.closed) {
		s.mu.Unlock()
		return
	}
	delete(s.modules, key)
	s.mu.Unlock()
	var files []string
	if m.superseded {
		files = s.engine.heldBy(m.mod)
	}
	_ = m.mod.Close(context.Background())
	s.engine.dropSuperseded(files)
}

// Close is called when the route is retired and its requests have ended:
// every compiled script module is closed.
func (s *Scripts) Close() {
	s.mu.Lock()
	s.closed = true
	keys := make([]string, 0, len(s.modules))
	for k := range s.modules {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	for _, k := range keys {
		s.closeIfFree(k)
	}
}

// program returns the prepared program of the script at full, building
// it when the file changed since the last build. A stat signature decides
// that, so an unchanged script costs a stat or two per request, not a
// hash of its source. Requests for a script being built wait for that
// build; other scripts and routes do not.
func (s *Scripts) program(ctx context.Context, full string) (*Program, string, error) {
	sig, err := statSig(full)
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	sc := s.scripts[full]
	if sc == nil {
		sc = &script{}
		s.scripts[full] = sc
	}
	switch {
	case sc.prog != nil && sc.sig == sig:
		p, key := sc.prog, sc.key
		s.mu.Unlock()
		return p, key, nil
	case sc.failErr != nil && sc.failSig == sig:
		err := sc.failErr
		s.mu.Unlock()
		return nil, "", err
	}
	f := sc.flight
	if f == nil || f.sig != sig {
		f = &scriptFlight{sig: sig, done: make(chan struct{})}
		sc.flight = f
		go s.build(full, sc, f)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.prog, f.key, f.err
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

// build runs one flight, detached from the request that started it: a
// client that goes away must not cancel what others wait for.
func (s *Scripts) build(full string, sc *script, f *scriptFlight) {
	start := time.Now()
	prog, key, cached, err := s.compile(full)
	var old string // the module reference this build lets go of
	s.mu.Lock()
	if sc.flight == f {
		sc.flight = nil
		if err == nil {
			old = sc.key
			sc.sig, sc.prog, sc.key = f.sig, prog, key
		} else if !errors.Is(err, toolchain.ErrToolchain) {
			// A toolchain may be installed without the script changing.
			sc.failSig, sc.failErr = f.sig, err
		}
	} else if err == nil {
		old = key // a newer build replaced this one: give its reservation back
	}
	if old != "" {
		if m := s.modules[old]; m != nil {
			if m.users--; m.users == 0 && !s.closed {
				m.superseded = true
			}
		}
	}
	s.mu.Unlock()
	if old != "" {
		s.closeIfFree(old)
	}
	// Told before the waiters go on, so that the event comes before
	// anything they log about the script.
	if err == nil && s.built != nil {
		s.built(full, cached, time.Since(start), prog.Snapshot())
	}
	f.prog, f.key, f.err = prog, key, err
	close(f.done)
}

// compile builds (through the content-hash cache), compiles (once per
// distinct .wasm) and prepares the script at full.
func (s *Scripts) compile(full string) (*Program, string, bool, error) {
	ctx := context.Background()
	wasmPath, cached, fallback := full, true, ""
	if kind := toolchain.KindOf(full); kind != toolchain.Wasm {
		if s.builder == nil {
			return nil, "", false, fmt.Errorf("%s scripts need a builder", kind)
		}
		res, err := s.builder.Build(ctx, full)
		if err != nil {
			return nil, "", false, err
		}
		wasmPath, cached, fallback = res.Path, res.Cached, res.Fallback
	}
	var built []string // the build's output, held from here on
	if wasmPath != full {
		built = []string{wasmPath}
		s.engine.hold(wasmPath)
		defer s.engine.unhold(wasmPath)
	}
	// Refused from its size before it is read: a script dropped or built
	// into a module of hundreds of MiB must not be held in memory.
	wasm, err := s.engine.readModule(wasmPath)
	if err != nil {
		return nil, "", false, err
	}
	sum := sha256.Sum256(wasm)
	key := hex.EncodeToString(sum[:])
	// The module is reserved (users+1) for the script being built, so that
	// a release elsewhere cannot close it before build records it.
	s.mu.Lock()
	m := s.modules[key]
	if m != nil {
		m.users++
		m.superseded = false // an edit went back to it
	}
	s.mu.Unlock()
	if m == nil {
		mod, err := s.engine.Compile(ctx, s.name(full), wasm)
		if err != nil {
			return nil, "", false, err
		}
		mod.goFallback = fallback
		mod.readFrom(wasmPath)
		s.mu.Lock()
		if m = s.modules[key]; m != nil {
			m.users++ // compiled meanwhile for another script: use that one
			m.superseded = false
			s.mu.Unlock()
			_ = mod.Close(ctx)
		} else {
			m = &scriptModule{mod: mod, users: 1}
			s.modules[key] = m
			s.mu.Unlock()
		}
	}
	s.engine.holdFor(m.mod, append(built, s.engine.markerPath(validatedKey(m.mod.Hash)))...)
	if !cached {
		s.engine.trimCache()
	}
	prog, err := m.mod.Prepare(s.cfg)
	if err != nil {
		s.mu.Lock()
		m.users--
		s.mu.Unlock()
		s.closeIfFree(key)
		return nil, "", false, err
	}
	return prog, key, cached, nil
}

// statSig is what must change when a script's build output may: the size
// and modification time of each of its build's input files
// (toolchain.Inputs).
func statSig(full string) (string, error) {
	files, err := toolchain.Inputs(full)
	if err != nil {
		return "", err
	}
	h := fnv.New64a()
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", p, st.Size(), st.ModTime().UnixNano())
	}
	return fmt.Sprintf("%x", h.Sum64()), nil
}
