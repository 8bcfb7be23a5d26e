package wasi

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
)

// FuzzCompile's seeds live in testdata/fuzz/FuzzCompile/, with the
// 15-byte module that killed the process; the committed guests and the
// hostile modules are added at run time. The rewriters' own fuzz targets
// are in internal/rewrite.

var (
	fuzzEngineOnce sync.Once
	fuzzEngine     *Engine
)

// FuzzCompile: the whole path of untrusted bytes (bounds check, rewriter,
// wazero's decoder and validator) returns an error or a module, never
// crashes the process; and it accepts nothing wazero refuses as given (a
// rewrite must not make an invalid module valid).
func FuzzCompile(f *testing.F) {
	f.Add(dataModule(false, false, seg{8, "ab"}, seg{20, "cd"}, seg{9000, "ef"}))
	f.Add(dataModule(true, false, seg{0, "ab"}, seg{4, "cd"}))
	for _, name := range []string{"hello.wasm", "trap.wasm", "routes.wasm", "loop.wasm", "fib.wasm", "memhog_trap.wasm", "nocontent.wasm", "loops.wasm"} {
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
	f.Add(lyingDataCount)
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	f.Cleanup(func() { rt.Close(ctx) })
	f.Fuzz(func(t *testing.T, wasm []byte) {
		fuzzEngineOnce.Do(func() {
			var err error
			if fuzzEngine, err = NewEngine(context.Background(), Options{}); err != nil {
				panic(err)
			}
		})
		m, err := fuzzEngine.Compile(ctx, "fuzz.wasm", wasm)
		if err != nil {
			return
		}
		m.Close(ctx)
		if c, err := compileRecover(rt, wasm); err != nil {
			t.Fatalf("wazero refuses the module as given (%v), but Compile accepts it", err)
		} else {
			c.Close(ctx)
		}
	})
}

// compileRecover compiles wasm, turning a panic into an error: wazero
// 1.12's validator indexes out of range on some malformed bodies.
func compileRecover(rt wazero.Runtime, wasm []byte) (c wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wazero panicked: %v", r)
		}
	}()
	return rt.CompileModule(context.Background(), wasm)
}

type seg struct {
	off  int32
	data string
}

// dataModule encodes a module with one memory of one page (or an imported
// one), exporting it as "memory", and the given active data segments.
func dataModule(importMem, dataCount bool, segs ...seg) []byte {
	section := func(id byte, content []byte) []byte {
		b := []byte{id}
		b = binary.AppendUvarint(b, uint64(len(content)))
		return append(b, content...)
	}
	m := []byte("\x00asm\x01\x00\x00\x00")
	if importMem {
		m = append(m, section(2, []byte{1, 3, 'e', 'n', 'v', 3, 'm', 'e', 'm', 2, 0, 1})...)
	} else {
		m = append(m, section(5, []byte{1, 0, 1})...)
	}
	m = append(m, section(7, []byte{1, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0})...)
	if dataCount {
		m = append(m, section(12, []byte{byte(len(segs))})...)
	}
	d := binary.AppendUvarint(nil, uint64(len(segs)))
	for _, s := range segs {
		d = append(d, 0, 0x41)
		d = rewrite.AppendSleb32(d, s.off)
		d = append(d, 0x0b)
		d = binary.AppendUvarint(d, uint64(len(s.data)))
		d = append(d, s.data...)
	}
	return append(m, section(11, d)...)
}
