package wasi

import (
	"context"
	"errors"
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

// deadlines is the part of the Engine that knows how guests are stopped
// and validates modules before they are rewritten.
type deadlines struct {
	instrument bool // Options.Deadline is DeadlineInstrument

	mu        sync.Mutex
	validator wazero.Runtime // compiles originals only to validate them, made on first use
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

// rewriteDeadline instruments wasm when the engine does. Every module is
// instrumented or refused: wazero's own check misses plain recursion and
// long bulk instructions (a guest that never passes through Go again
// stalls every stop-the-world of the process), so it is used only when the
// operator asks for it.
func (e *Engine) rewriteDeadline(m *Module, wasm []byte) ([]byte, error) {
	if !e.dl.instrument {
		m.Deadline = DeadlineWazero
		return wasm, nil
	}
	out, err := rewrite.Instrument(wasm)
	if err != nil {
		return nil, fmt.Errorf("deadline checks: %w", err)
	}
	m.Deadline, m.interrupt = DeadlineInstrument, true
	return out, nil
}

// validate compiles the module exactly as given, before any rewrite,
// in a runtime kept for that and throws the result away. The rewrites
// append globals, locals, labels and exports: a module naming an index it
// never declared (invalid as given) could become valid afterwards and
// reach the deadline checks' counter or flag. wazero's interpreter
// validates as its compiler does and compiles faster.
func (e *Engine) validate(ctx context.Context, wasm []byte) error {
	e.dl.mu.Lock()
	if e.dl.validator == nil {
		e.dl.validator = wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
	}
	rt := e.dl.validator
	e.dl.mu.Unlock()
	c, err := compileModule(ctx, rt, wasm)
	if err != nil {
		if errors.Is(err, ErrMalformedModule) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrMalformedModule, err)
	}
	return c.Close(ctx)
}

// closeValidator closes the validating runtime, if there is one.
func (e *Engine) closeValidator(ctx context.Context) {
	e.dl.mu.Lock()
	defer e.dl.mu.Unlock()
	if e.dl.validator != nil {
		e.dl.validator.Close(ctx)
		e.dl.validator = nil
	}
}

// arm makes an instrumented instance trap at its next check once ctx is
// done, and returns the function that disarms it (call it before closing
// the instance). The global is set from the goroutine that ends ctx;
// wazero's compiler loads a global at every loop header and function
// entry, so the guest sees it there.
func (m *Module) arm(ctx context.Context, mod api.Module) (stop func() bool) {
	return m.flagOf(mod).arm(ctx)
}

// interruptFlag raises an instrumented instance's interrupt flag. A
// reused instance keeps its own, so that arming it for a request costs
// only the context.AfterFunc: looking the export up and making the
// function that sets it were three allocations a request.
type interruptFlag struct {
	raise func()
}

// flagOf returns mod's interrupt flag, or nil when mod has none (not
// instrumented), which arms nothing.
func (m *Module) flagOf(mod api.Module) *interruptFlag {
	if !m.interrupt {
		return nil
	}
	g, ok := mod.ExportedGlobal(rewrite.InterruptExport).(api.MutableGlobal)
	if !ok {
		return nil
	}
	return &interruptFlag{raise: func() { g.Set(1) }}
}

// arm raises f once ctx is done; stop, called before the instance is
// closed or reused, reports whether it disarmed the flag before that.
func (f *interruptFlag) arm(ctx context.Context) (stop func() bool) {
	if f == nil {
		return notArmed
	}
	return context.AfterFunc(ctx, f.raise)
}

func notArmed() bool { return false }

// InterruptGlobal is the name under which an instrumented module exports
// its interrupt flag: setting it to 1 makes the guest trap at its next
// trip through Go.
const InterruptGlobal = rewrite.InterruptExport

// ModuleBytes returns what the engine compiles for wasm when it stops
// guests the way mode says: data segments joined (see coalesceGap) and, for
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
