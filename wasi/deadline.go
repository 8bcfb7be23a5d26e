package wasi

import (
	"context"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
)

// How a guest is stopped at its deadline or when its client leaves (issue
// 13). Options.Deadline picks one for the process, because wazero fixes
// the choice per runtime and a compiled module belongs to the runtime that
// compiled it.
const (
	// DeadlineInstrument, the default, adds a check to the module itself
	// at load time (internal/rewrite) and runs it without wazero's check: a
	// load and a compare per loop iteration and per call.
	DeadlineInstrument = "instrument"
	// DeadlineWazero uses wazero's WithCloseOnContextDone for every module:
	// every loop back-edge exits to Go. For diagnosis.
	DeadlineWazero = "wazero"
)

// deadlines is the part of the Engine that knows how guests are stopped.
type deadlines struct {
	instrument bool // Options.Deadline is DeadlineInstrument

	mu       sync.Mutex
	fallback wazero.Runtime // with WithCloseOnContextDone, made on first use
	cfg      wazero.RuntimeConfig
}

// checkDeadlineMode validates Options.Deadline.
func checkDeadlineMode(mode string) (instrument bool, err error) {
	switch mode {
	case "", DeadlineInstrument:
		return true, nil
	case DeadlineWazero:
		return false, nil
	}
	return false, fmt.Errorf("deadline %q: want %q or %q", mode, DeadlineInstrument, DeadlineWazero)
}

// rewriteDeadline instruments wasm when the engine does. It returns the
// module to compile and the runtime to compile it in: a module the
// rewriter cannot handle goes to a second runtime with wazero's own check,
// and m.DeadlineFallback says why.
func (e *Engine) rewriteDeadline(ctx context.Context, m *Module, wasm []byte) ([]byte, wazero.Runtime, error) {
	if !e.dl.instrument {
		m.Deadline = DeadlineWazero
		return wasm, e.rt, nil
	}
	out, err := rewrite.Instrument(wasm)
	if err == nil {
		m.Deadline, m.interrupt = DeadlineInstrument, true
		return out, e.rt, nil
	}
	m.Deadline, m.DeadlineFallback = DeadlineWazero, err
	rt, err := e.fallbackRuntime(ctx)
	return wasm, rt, err
}

// fallbackRuntime returns the runtime with wazero's check, making it (and
// its WASI module) on first use.
func (e *Engine) fallbackRuntime(ctx context.Context) (wazero.Runtime, error) {
	e.dl.mu.Lock()
	defer e.dl.mu.Unlock()
	if e.dl.fallback != nil {
		return e.dl.fallback, nil
	}
	rt := wazero.NewRuntimeWithConfig(ctx, e.dl.cfg.WithCloseOnContextDone(true))
	if err := instantiateWASI(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	e.dl.fallback = rt
	return rt, nil
}

// closeFallback closes the fallback runtime, if there is one.
func (e *Engine) closeFallback(ctx context.Context) {
	e.dl.mu.Lock()
	defer e.dl.mu.Unlock()
	if e.dl.fallback != nil {
		e.dl.fallback.Close(ctx)
		e.dl.fallback = nil
	}
}

// arm makes an instrumented instance trap at its next check once ctx is
// done, and returns the function that disarms it (call it before closing
// the instance). The global is set from the goroutine that ends ctx;
// wazero's compiler loads a global at every loop header and function
// entry, so the guest sees it there.
func (m *Module) arm(ctx context.Context, mod api.Module) (stop func() bool) {
	if !m.interrupt {
		return func() bool { return false }
	}
	g, ok := mod.ExportedGlobal(rewrite.InterruptExport).(api.MutableGlobal)
	if !ok {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, func() { g.Set(1) })
}

// InterruptGlobal is the name under which an instrumented module exports
// its interrupt flag: setting it to 1 makes the guest trap at its next
// trip through Go.
const InterruptGlobal = rewrite.InterruptExport

// ModuleBytes returns what the engine compiles for wasm when it stops
// guests the way mode says: data segments joined (issue 4) and, for
// DeadlineInstrument, the deadline checks added; an error wrapping the
// rewriter's reason when it cannot instrument. For tools that measure a
// mechanism against plain wazero (cmd/wasigate-bench -deadline).
func ModuleBytes(wasm []byte, mode string) ([]byte, error) {
	if out, _, _, err := rewrite.Coalesce(wasm, coalesceGap); err == nil {
		wasm = out
	}
	if mode != DeadlineInstrument {
		return wasm, nil
	}
	return rewrite.Instrument(wasm)
}
