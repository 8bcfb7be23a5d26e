package rewrite

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// TestInstrumentLoops runs the loop shapes of loops.wat (a loop with a
// result, loops left by a branch with a value, by a br_table to three
// depths and by return, an inner loop without a call in an outer one with
// a call, a loop typed by a type index) in wazero's compiler, before and
// after instrumentation. Each export must return what it
// returned before, and, with the interrupt flag set, trap: each runs past
// the 4096 checks between two trips through Go, so it must reach one.
func TestInstrumentLoops(t *testing.T) {
	// In a child process: a rewrite without its trips through Go would
	// stall the collector, and with it this whole binary (inChild).
	if !inChild(t, 30*time.Second) {
		return
	}
	wasm, err := os.ReadFile(guestPath("loops.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	// Each loop runs at least 4500 checks of weight 1 or more: with a
	// budget of 4096 units between trips each reaches one.
	defer SetCheckEvery(SetCheckEvery(1 << 12))
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatalf("instrument: %v", err)
	}
	ctx := context.Background()
	// wazero's own check too, only so that a wrong rewrite that loops
	// forever fails the test instead of hanging it.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true))
	defer rt.Close(ctx)
	orig, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := rt.CompileModule(ctx, out)
	if err != nil {
		t.Fatalf("wazero refuses the instrumented module: %v", err)
	}
	var names []string
	for name := range orig.ExportedFunctions() {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) != 6 {
		t.Fatalf("loops.wasm exports %v; want its 6 functions", names)
	}
	call := func(c wazero.CompiledModule, name string, interrupt bool) ([]uint64, error) {
		mod, err := rt.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatal(err)
		}
		defer mod.Close(ctx)
		if interrupt {
			g, ok := mod.ExportedGlobal(InterruptExport).(api.MutableGlobal)
			if !ok {
				t.Fatal("no interrupt global")
			}
			g.Set(1)
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return mod.ExportedFunction(name).Call(cctx)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want, err := call(orig, name, false)
			if err != nil {
				t.Fatalf("original: %v", err)
			}
			got, err := call(inst, name, false)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("instrumented: %v, %v; want %v as before", got, err, want)
			}
			if got, err := call(inst, name, true); err == nil {
				t.Errorf("interrupted: returned %v; want a trap at a trip", got)
			}
		})
	}
}

// TestInstrumentLongLoop: a loop without a call whose body's longest path
// is over the budget between two trips (testdata/guests/longloop.wat) gets
// a check of the budget's weight, which passes a multiple of the budget at
// every check. The guest must trip there and go on with its body, not trip
// again and again at the header without ever running it: run must return
// what it returned before instrumentation, well within its deadline.
func TestInstrumentLongLoop(t *testing.T) {
	wasm, err := os.ReadFile(guestPath("longloop.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	defer SetCheckEvery(SetCheckEvery(64))
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatalf("instrument: %v", err)
	}
	ctx := context.Background()
	// wazero's own check too, so that a rewrite that loops forever fails
	// the test at its deadline instead of hanging it.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true))
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatalf("wazero refuses the instrumented module: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := mod.ExportedFunction("run").Call(cctx)
	if err != nil || len(got) != 1 || got[0] != 1000 {
		t.Errorf("run: got %v, %v; want [1000]", got, err)
	}
}
