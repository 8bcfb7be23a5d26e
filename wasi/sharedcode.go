package wasi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// One compiled module for all the snapshots of a module (rewrite.Shared):
// the snapshots of one interpreter (one per set of volumes, one per WSGI
// application) compile to the same bytes, which are compiled and decoded
// once, and each instance is given its own snapshot's memory size and
// globals (begin) before any of its code runs. wazero already shares the
// machine code of two compilations of the same bytes, but each
// CompileModule decodes the module again and keeps the decoded function
// bodies as long as the compiled module: the snapshot modules are
// compiled through sharedCode, by hash, so each is decoded once too.

// sharedCode is the engine's compiled snapshot modules by runtime and hash.
type sharedCode struct {
	mu sync.Mutex
	m  map[codeKey]*codeEntry
}

type codeKey struct {
	rt   wazero.Runtime
	hash [sha256.Size]byte
}

// codeEntry is one compiled module and the snapshots holding it.
type codeEntry struct {
	key   codeKey
	ready chan struct{} // closed once compiled (or failed)
	cm    wazero.CompiledModule
	err   error
	refs  int
}

// acquire returns the compiled module of wasm, compiling it unless a
// snapshot holds it already; release it once.
func (e *Engine) acquireCode(ctx context.Context, rt wazero.Runtime, wasm []byte) (*codeEntry, error) {
	s := &e.shared
	key := codeKey{rt, sha256.Sum256(wasm)}
	s.mu.Lock()
	if s.m == nil {
		s.m = map[codeKey]*codeEntry{}
	}
	c := s.m[key]
	if c == nil {
		c = &codeEntry{key: key, ready: make(chan struct{})}
		s.m[key] = c
		c.refs++
		s.mu.Unlock()
		c.cm, c.err = e.compileBytes(ctx, rt, wasm)
		close(c.ready)
	} else {
		c.refs++
		s.mu.Unlock()
		<-c.ready
	}
	if c.err != nil {
		e.releaseCode(ctx, c)
		return nil, c.err
	}
	return c, nil
}

// releaseCode gives back a hold acquireCode gave; the last one closes the
// compiled module (instances still running keep its machine code).
func (e *Engine) releaseCode(ctx context.Context, c *codeEntry) {
	s := &e.shared
	s.mu.Lock()
	c.refs--
	last := c.refs == 0
	if last && s.m[c.key] == c {
		delete(s.m, c.key)
	}
	s.mu.Unlock()
	if last && c.cm != nil {
		_ = c.cm.Close(ctx)
	}
}

// instanceStart is what an instance of a shared snapshot module is given
// to start as its snapshot: its memory's size and its mutable globals.
type instanceStart struct {
	pages   uint32
	globals []startGlobal
}

type startGlobal struct {
	name  string // the export of the global (rewrite.GlobalPrefix and its index)
	value uint64
}

func newInstanceStart(st rewrite.Start) *instanceStart {
	is := &instanceStart{pages: st.Pages}
	for i, v := range st.Values {
		if st.Mutable[i] {
			is.globals = append(is.globals, startGlobal{rewrite.GlobalPrefix + strconv.Itoa(i), v})
		}
	}
	return is
}

// errSnapshotStart: an instance of a shared snapshot module could not be
// given its snapshot's state; it must not run.
var errSnapshotStart = errors.New("the instance could not be given its snapshot's state")

// begin gives a new instance of the snapshot's module the snapshot's
// memory size and globals; nothing to do for a snapshot compiled from its
// own bytes.
func (s *snapshot) begin(mod api.Module) error {
	st := s.start
	if st == nil {
		return nil
	}
	mem := mod.Memory()
	if mem == nil {
		return fmt.Errorf("%w: no memory", errSnapshotStart)
	}
	if have := mem.Size() / snap.PageSize; have < st.pages {
		if _, ok := mem.Grow(st.pages - have); !ok {
			return fmt.Errorf("%w: its memory could not grow to %d pages", errSnapshotStart, st.pages)
		}
	} else if have > st.pages {
		return fmt.Errorf("%w: its memory has %d pages, the image %d", errSnapshotStart, have, st.pages)
	}
	for _, g := range st.globals {
		mg, ok := mod.ExportedGlobal(g.name).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("%w: %s is not an exported mutable global", errSnapshotStart, g.name)
		}
		mg.Set(g.value)
	}
	return nil
}

// begin gives a new instance of p its snapshot's state, if p runs a
// shared snapshot module.
func (p *Program) begin(mod api.Module) error {
	if p.snap == nil {
		return nil
	}
	return p.snap.begin(mod)
}

// compileSnapshot compiles a snapshot module: its shared module when
// rewrite.Shared can make one, else its own bytes. codeHash and funcs
// name what was compiled (codeSize).
func (e *Engine) compileSnapshot(ctx context.Context, rt wazero.Runtime, wasm []byte) (s *snapshot, codeHash string, funcs int, err error) {
	if shared, st, err := rewrite.Shared(wasm); err == nil {
		if c, err := e.acquireCode(ctx, rt, shared); err == nil {
			return &snapshot{compiled: c.cm, shared: c, start: newInstanceStart(st)}, sha256Hex(shared), definedFunctions(shared), nil
		}
	}
	cm, err := e.compileBytes(ctx, rt, wasm)
	if err != nil {
		return nil, "", 0, err
	}
	return &snapshot{compiled: cm}, sha256Hex(wasm), definedFunctions(wasm), nil
}

// closeCode gives back the snapshot's compiled module.
func (s *snapshot) closeCode(ctx context.Context, e *Engine) {
	if s.shared != nil {
		e.releaseCode(ctx, s.shared)
		s.shared = nil
		return
	}
	_ = s.compiled.Close(ctx)
}
