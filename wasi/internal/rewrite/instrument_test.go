package rewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasigate/wasigate/wasi/toolchain"
)

// validRuntime compiles modules only to validate them: wazero's
// interpreter validates as its compiler does and compiles faster.
func validRuntime(t testing.TB) wazero.Runtime {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCloseOnContextDone(true))
	t.Cleanup(func() { rt.Close(ctx) })
	return rt
}

// TestInstrumentGuests runs every kind of guest through the rewriter
// (C, Rust, Go, WAT, Ruby): each must be instrumented, not left to the
// fallback, and still be a module wazero accepts. Behaviour is checked by the tests that run these
// guests through the default engine (TestRuby, the router's tests).
func TestInstrumentGuests(t *testing.T) {
	paths, _ := filepath.Glob(guestPath("*.wasm"))
	samples, _ := filepath.Glob(filepath.Join(repoDir, "samples", "c", "*.wasm"))
	paths = append(paths, samples...)
	if res, err := (&toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(os.TempDir(), "wasigate-perf-bench")}).Build(context.Background(), filepath.Join(repoDir, "samples", "scripts", "hello-go.go")); err == nil {
		paths = append(paths, res.Path)
	} else if os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
		t.Fatalf("build Go guest: %v", err)
	}
	if _, err := os.Stat(rubyModulePath()); err == nil {
		paths = append(paths, rubyModulePath())
	} else if os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
		t.Fatalf("ruby.wasm: %v", err)
	}
	rt := validRuntime(t)
	ctx := context.Background()
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if joined, _, _, err := Coalesce(wasm, coalesceGap); err == nil {
				wasm = joined // as Engine.Compile does
			}
			out, err := Instrument(wasm)
			if err != nil {
				t.Fatalf("instrument: %v; want the module instrumented", err)
			}
			c, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("wazero refuses the instrumented module: %v", err)
			}
			c.Close(ctx)
		})
	}
}

// FuzzInstrument is the differential check of validation and rewrite:
// for any bytes (that wazero refuses as given, the engine's Compile must
// refuse too: wasi's FuzzCompile checks that), if wazero accepts it, the rewriter instruments it (or refuses a reserved name),
// wazero accepts the result, its exported functions without parameters
// return the same results or trap alike, and with the interrupt flag set
// none of them runs on: each returns soon or traps at a trip.
func FuzzInstrument(f *testing.F) {
	for _, name := range []string{"hello.wasm", "loop.wasm", "fib.wasm", "trap.wasm", "routes.wasm", "memhog_trap.wasm", "nocontent.wasm", "loops.wasm"} {
		if b, err := os.ReadFile(guestPath(name)); err == nil {
			f.Add(b)
		}
	}
	hostile, _ := filepath.Glob(hostilePath("*.wasm"))
	for _, path := range hostile {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	rt := validRuntime(f)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		if !plausibleCounts(wasm) {
			return
		}
		ctx := context.Background()
		orig, err := compileRecover(rt, wasm)
		if err != nil {
			return // the engine's side: wasi's FuzzCompile
		}
		defer orig.Close(ctx)
		out, err := Instrument(wasm)
		if err != nil {
			if !errors.Is(err, ErrReservedName) {
				t.Fatalf("instrument a module wazero accepts: %v", err)
			}
			return
		}
		inst, err := compileRecover(rt, out)
		if err != nil {
			t.Fatalf("wazero accepts the input but not its instrumented form: %v", err)
		}
		defer inst.Close(ctx)
		if len(orig.ImportedFunctions()) == 0 && len(orig.ImportedMemories()) == 0 {
			// The instrumented module first: it stops at its deadline
			// (runExports arms its flag), where the original may not
			// (wazero's check misses plain recursion). Only an
			// instrumented run that ended on its own says the original
			// ends too.
			b := runExports(rt, inst, 20*time.Millisecond, false)
			if slices.Contains(b, "timeout") {
				b = runExports(rt, inst, 2*time.Second, false)
			}
			if !slices.Contains(b, "timeout") {
				if a := runExports(rt, orig, 4*time.Second, false); !slices.Equal(a, b) {
					t.Fatalf("results differ: %q before, %q after", a, b)
				}
			}
			if got := runExports(rt, inst, 2*time.Second, true); slices.Contains(got, "timeout") {
				t.Fatalf("with the interrupt flag set: %q; want every call to end (trap) at a trip", got)
			}
		}
	})
}

// runExports instantiates c, calls its start function if the rewrite made
// it an export (as the engine does), and calls each exported function
// that takes no parameters, in name order, returning what each gave
// ("timeout" when it ran past the deadline d). interrupt sets the
// interrupt flag first.
func runExports(rt wazero.Runtime, c wazero.CompiledModule, d time.Duration, interrupt bool) []string {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	mod, err := rt.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		if ctx.Err() != nil {
			return []string{"timeout"}
		}
		if strings.Contains(err.Error(), "start function") {
			return []string{"start failed"}
		}
		return []string{"instantiate: " + err.Error()}
	}
	defer mod.Close(context.Background())
	if g, ok := mod.ExportedGlobal(InterruptExport).(api.MutableGlobal); ok {
		if interrupt {
			g.Set(1)
		}
		// As the engine does (wasi/deadline.go): the flag stops it at d.
		defer context.AfterFunc(ctx, func() { g.Set(1) })()
	}
	if start := mod.ExportedFunction(StartExport); start != nil {
		if _, err := start.Call(ctx); err != nil {
			if ctx.Err() != nil {
				return []string{"timeout"}
			}
			return []string{"start failed"}
		}
	}
	var names, got []string
	for name, def := range c.ExportedFunctions() {
		if len(def.ParamTypes()) == 0 && !strings.HasPrefix(name, reservedPrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		res, err := mod.ExportedFunction(name).Call(ctx)
		switch {
		case ctx.Err() != nil:
			return append(got, "timeout")
		case err != nil:
			got = append(got, name+": "+err.Error())
		default:
			got = append(got, name+": "+fmtResults(res))
		}
	}
	return got
}

func fmtResults(res []uint64) string {
	var b []byte
	for _, r := range res {
		b = strconv.AppendUint(append(b, ' '), r, 10)
	}
	return string(b)
}

// plausibleCounts reports whether every vector section's count is at most
// its length. wazero 1.12's decoder allocates for the count first: an
// import section claiming 3.7 billion entries ran the fuzzer out of memory
// inside CompileModule (seed 4a184306687eab86).
func plausibleCounts(wasm []byte) bool {
	for pos := 8; pos < len(wasm); {
		id := wasm[pos]
		size, n := Uleb32(wasm[pos+1:])
		if n == 0 || uint64(pos)+1+uint64(n)+uint64(size) > uint64(len(wasm)) {
			return false // wazero reads its count before seeing that
		}
		body := wasm[pos+1+n : pos+1+n+int(size)]
		if id != 0 && id != 8 && id != 12 {
			if count, _ := Uleb32(body); uint64(count) > uint64(len(body)) {
				return false
			}
		}
		pos += 1 + n + int(size)
	}
	return true
}

// compileRecover compiles wasm, turning a panic into an error: wazero
// 1.12's validator indexes out of range on some malformed bodies (seed
// e08ecbc5006a85a6), which is not the rewriter's fault.
func compileRecover(rt wazero.Runtime, wasm []byte) (c wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wazero panicked: %v", r)
		}
	}()
	return rt.CompileModule(context.Background(), wasm)
}

// TestInstrumentChecks: which functions get a check. A
// function with neither a loop nor a call runs a bounded number of
// instructions and is left as it is; the others get one scratch i32 local
// after their parameters and locals, which the checks name. A call with
// work after it gets a check after it too, one that ends the function
// does not.
func TestInstrumentChecks(t *testing.T) {
	leaf := []byte{0x00, 0x20, 0x00, 0x0b}                                 // (param i32): local.get 0
	caller := []byte{0x00, 0x41, 0x01, 0x10, 0x00, 0x1a, 0x0b}             // (): i32.const 1 call 0 drop
	looper := []byte{0x01, 0x01, 0x7e, 0x03, 0x40, 0x0b, 0x20, 0x00, 0x0b} // (param i32) (local i64): loop end local.get 0
	last := []byte{0x00, 0x41, 0x01, 0x10, 0x00, 0x0b}                     // (param i32): i32.const 1 call 0
	var code []byte
	for _, b := range [][]byte{leaf, caller, looper, last} {
		code = append(append(code, byte(len(b))), b...)
	}
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	wasm = appendTestSection(wasm, 1, []byte{0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00})
	wasm = appendTestSection(wasm, 3, []byte{0x04, 0x00, 0x01, 0x00, 0x00})
	wasm = appendTestSection(wasm, 5, []byte{0x01, 0x00, 0x01})
	wasm = appendTestSection(wasm, 10, append([]byte{0x04}, code...))
	if _, err := validRuntime(t).CompileModule(context.Background(), wasm); err != nil {
		t.Fatalf("the test's module is invalid: %v", err)
	}
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatalf("instrument: %v", err)
	}
	if _, err := validRuntime(t).CompileModule(context.Background(), out); err != nil {
		t.Fatalf("wazero refuses the instrumented module: %v", err)
	}
	bodies := testCodeBodies(t, out)
	tests := []struct {
		name   string
		body   []byte
		locals []byte // the declarations: count, then (n, type) entries
		tee    []byte // local.tee of the scratch local; nil: no check
		checks int    // how many checks (each has one local.tee)
	}{
		{"leaf", bodies[0], []byte{0x00}, nil, 0},
		{"caller", bodies[1], []byte{0x01, 0x01, 0x7f}, []byte{0x22, 0x00}, 2},
		{"loop", bodies[2], []byte{0x02, 0x01, 0x7e, 0x01, 0x7f}, []byte{0x22, 0x02}, 1},
		{"last call", bodies[3], []byte{0x01, 0x01, 0x7f}, []byte{0x22, 0x01}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tee == nil {
				if !slices.Equal(tc.body, leaf) {
					t.Fatalf("body % x; want it unchanged, % x", tc.body, leaf)
				}
				return
			}
			if !bytes.HasPrefix(tc.body, tc.locals) {
				t.Errorf("body % x; want locals % x", tc.body, tc.locals)
			}
			if got := bytes.Count(tc.body, tc.tee); got != tc.checks {
				t.Errorf("body % x: %d checks naming the scratch local (% x); want %d", tc.body, got, tc.tee, tc.checks)
			}
		})
	}
}

func appendTestSection(b []byte, id byte, body []byte) []byte {
	return append(append(b, id, byte(len(body))), body...)
}

// testCodeBodies returns the function bodies of a module's code section.
func testCodeBodies(t *testing.T, wasm []byte) [][]byte {
	t.Helper()
	for p := 8; p < len(wasm); {
		size, n := Uleb32(wasm[p+1:])
		if n == 0 || p+1+n+int(size) > len(wasm) {
			break
		}
		sec := wasm[p+1+n : p+1+n+int(size)]
		if wasm[p] != 10 {
			p += 1 + n + int(size)
			continue
		}
		var bodies [][]byte
		count, q := Uleb32(sec)
		for range count {
			l, m := Uleb32(sec[q:])
			bodies = append(bodies, sec[q+m:q+m+int(l)])
			q += m + int(l)
		}
		return bodies
	}
	t.Fatal("no code section")
	return nil
}
