package wasi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
)

// One compiled copy of what is served. A reactor served from its snapshot
// runs the snapshot's module (snapshot.go), compiled from other bytes than
// the module itself: keeping both compiled doubled an interpreter's machine
// code (ruby.wasm's is 78 MB, CPython's 26 MB) and kept wazero's decoded
// copy of each (function bodies and data segments, 100 MB for the sample
// site), and keeping the rewritten bytes for a later snapshot added 122 MB.
// So the module's own compiled code is closed once a program runs from a
// snapshot and none runs the module itself, and compiled again (from the
// file cache) if a program needs it later; its bytes are read again from
// their file, and checked against what was compiled, when a snapshot with
// other inputs is taken.

// moduleCode is the module as compiled, kept while programs run it.
type moduleCode struct {
	mu       sync.Mutex
	compiled wazero.CompiledModule // nil once released
	users    map[*Program]struct{} // programs bound to run it, not a snapshot, and not closed
	hash     [sha256.Size]byte     // of the bytes compiled (after the engine's rewrites)
	funcs    int                   // functions the module defines (codeSize)
}

// setCode records what Compile compiled from wasm: m.compiled becomes its
// description (exports, imports, memories), which stays valid after the
// code itself is released, and the bytes are kept for a snapshot until
// readFrom says where to read them again.
func (m *Module) setCode(compiled wazero.CompiledModule, wasm []byte) {
	m.code.compiled = compiled
	m.code.hash = sha256.Sum256(wasm)
	m.code.funcs = definedFunctions(wasm)
	m.compiled = describe(compiled)
	if m.HasExport("_initialize") {
		m.snap.reactor = true
		m.snap.wasm = wasm
	}
}

// readFrom records that the module's bytes can be read again from path
// (a file held until the module is closed, or the user's own), so the
// copy kept for a later snapshot is dropped.
func (m *Module) readFrom(path string) {
	m.snap.mu.Lock()
	defer m.snap.mu.Unlock()
	m.snap.src = path
	m.snap.wasm = nil
}

// snapBytes returns the module's bytes as compiled, for a snapshot: the
// copy kept, or the file read and rewritten again as Compile did.
func (m *Module) snapBytes() ([]byte, error) {
	m.snap.mu.Lock()
	wasm, src := m.snap.wasm, m.snap.src
	m.snap.mu.Unlock()
	if wasm != nil {
		return wasm, nil
	}
	if src == "" {
		return nil, fmt.Errorf("%w: %s: the module's bytes were not kept", ErrNoSnapshot, m.Name)
	}
	b, err := m.engine.readModule(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Name, err)
	}
	// The file may have changed since Compile checked it: the same
	// bounds check before anything decodes it (the hash check after the
	// rewrites is what refuses a changed file).
	if err := rewrite.CheckBounds(b); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrModuleChanged, m.Name, err)
	}
	if out, _, _, err := rewrite.Coalesce(b, coalesceGap); err == nil {
		b = out
	}
	if m.interrupt {
		if b, err = rewrite.Instrument(b); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	if sha256.Sum256(b) != m.code.hash {
		return nil, fmt.Errorf("%w: %s (reload the site to load it again)", ErrModuleChanged, src)
	}
	return b, nil
}

// bindCode gives p the compiled module it instantiates: its snapshot's,
// or the module's own, compiled again if it was released. The module's
// own is released once a program runs from a snapshot and none runs it.
func (m *Module) bindCode(p *Program) error {
	c := &m.code
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.snap != nil {
		p.code = p.snap.compiled
		if len(c.users) == 0 && c.compiled != nil {
			// Nothing runs it: Close only drops wazero's reference, and
			// the machine code is unmapped once unreachable.
			_ = c.compiled.Close(context.Background())
			c.compiled = nil
		}
		return nil
	}
	if c.compiled == nil {
		wasm, err := m.snapBytes()
		if err != nil {
			return err
		}
		compiled, err := m.engine.compileBytes(context.Background(), m.rt, wasm)
		if err != nil {
			return fmt.Errorf("compile %s again: %w", m.Name, err)
		}
		c.compiled = compiled
	}
	if c.users == nil {
		c.users = map[*Program]struct{}{}
	}
	c.users[p] = struct{}{}
	p.code = c.compiled
	return nil
}

// unbindCode records that p no longer runs the module's own code (its
// Close), and releases that code once no program runs it, as bindCode
// does for a snapshot program, when it can be compiled again: from its
// file (the cache holds the machine code), or from the bytes a reactor's
// module keeps. Calling it again for p does nothing.
func (m *Module) unbindCode(ctx context.Context, p *Program) {
	c := &m.code
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.users[p]; !ok {
		return
	}
	delete(c.users, p)
	if len(c.users) > 0 || c.compiled == nil || !m.canCompileAgain() {
		return
	}
	// Running instances of other programs keep the machine code mapped
	// (see bindCode); p's idle ones were closed before.
	_ = c.compiled.Close(ctx)
	c.compiled = nil
}

// canCompileAgain reports whether snapBytes can give the module's bytes.
func (m *Module) canCompileAgain() bool {
	m.snap.mu.Lock()
	defer m.snap.mu.Unlock()
	return m.snap.src != "" || m.snap.wasm != nil
}

// release is what Program.Close gives back besides an application's
// snapshot: its idle instances, then its hold on the module's code.
func (p *Program) release(ctx context.Context) {
	if w := p.warm; w != nil {
		p.module.warm.remove(w)
		w.close(ctx)
	}
	p.module.unbindCode(ctx, p)
}

// closeCode releases the module's own compiled code if it is still held.
func (m *Module) closeCode(ctx context.Context) error {
	m.code.mu.Lock()
	defer m.code.mu.Unlock()
	if m.code.compiled == nil {
		return nil
	}
	err := m.code.compiled.Close(ctx)
	m.code.compiled = nil
	return err
}

// Loaded reports whether the module's own compiled code is in memory:
// false once every program runs from a snapshot.
func (m *Module) Loaded() bool {
	m.code.mu.Lock()
	defer m.code.mu.Unlock()
	return m.code.compiled != nil
}

// description is what wasigate asks of a compiled module besides
// instantiating it, copied out of it so that the module (its machine code
// and wazero's decoded copy of its bytes) can be released.
type description struct {
	name         string
	importedFns  []api.FunctionDefinition
	exportedFns  map[string]api.FunctionDefinition
	importedMems []api.MemoryDefinition
	exportedMems map[string]api.MemoryDefinition
}

var _ wazero.CompiledModule = (*description)(nil)

func describe(c wazero.CompiledModule) *description {
	return &description{name: c.Name(), importedFns: c.ImportedFunctions(), exportedFns: c.ExportedFunctions(),
		importedMems: c.ImportedMemories(), exportedMems: c.ExportedMemories()}
}

func (d *description) Name() string                                         { return d.name }
func (d *description) ImportedFunctions() []api.FunctionDefinition          { return d.importedFns }
func (d *description) ExportedFunctions() map[string]api.FunctionDefinition { return d.exportedFns }
func (d *description) ImportedMemories() []api.MemoryDefinition             { return d.importedMems }
func (d *description) ExportedMemories() map[string]api.MemoryDefinition    { return d.exportedMems }
func (d *description) CustomSections() []api.CustomSection                  { return nil }

// Close does nothing: the code is the module's (closeCode).
func (d *description) Close(context.Context) error { return nil }
