package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// bodies is the number of function bodies wazero still holds for c, or
// -1 when its types are not the ones dropBodies knows.
func bodies(c wazero.CompiledModule) int {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return -1
	}
	f := v.Elem().FieldByName("module")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return -1
	}
	code := f.Elem().FieldByName("CodeSection")
	if !code.IsValid() {
		return -1
	}
	n := 0
	for i := range code.Len() {
		if b := code.Index(i).FieldByName("Body"); b.IsValid() && b.Len() > 0 {
			n++
		}
	}
	return n
}

// TestDropBodies: a compiled module keeps no function body (what wazero
// decoded is let go once compiled), and its instances still run, trap
// with a stack trace naming the function, and start from a snapshot. It
// fails if a wazero upgrade moves the fields dropBodies writes.
func TestDropBodies(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasm, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "fib.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if n := bodies(c); n <= 0 {
		t.Fatalf("%d bodies before; want some (has wazero's compiledModule changed?)", n)
	}
	if !dropBodies(c) {
		t.Fatal("dropBodies: false; want true (has wazero's compiledModule changed?)")
	}
	if n := bodies(c); n != 0 {
		t.Fatalf("%d bodies after dropBodies; want 0", n)
	}

	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	for _, tt := range []struct {
		guest, want string
		config      Config
	}{
		{"hello.wasm", "hello", Config{}},
		{"reactor_shared.wasm", "g=1 m=1 p=2", Config{MemoryLimit: 16 << 20, InitArgs: []string{"drv"}}},
		{"trap.wasm", "unreachable", Config{}},
	} {
		m := compileFile(t, e, filepath.Join("..", "testdata", "guests", tt.guest))
		if n := bodies(m.code.compiled); n != 0 {
			t.Errorf("%s: %d bodies kept by the engine's compile; want 0", tt.guest, n)
		}
		p, err := m.Prepare(tt.config)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = p.Run(ctx, &Call{Stdout: &out})
		got := out.String()
		if err != nil {
			got += err.Error()
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s: got %q; want it to contain %q", tt.guest, got, tt.want)
		}
	}
}
