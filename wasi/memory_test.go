package wasi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestMemoryError: a guest that fails after memory.grow was refused at
// its limit is reported as such; one that fails for another reason is not.
func TestMemoryError(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	for _, tt := range []struct {
		guest string
		want  bool
	}{
		{"memhog_trap.wasm", true}, // grows until refused, then unreachable
		{"trap.wasm", false},       // unreachable at once
	} {
		wasm, err := os.ReadFile(filepath.Join("..", "testdata", "guests", tt.guest))
		if err != nil {
			t.Fatal(err)
		}
		m, err := e.Compile(ctx, tt.guest, wasm)
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Prepare(Config{MemoryLimit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		err = p.Run(ctx, &Call{})
		if err == nil {
			t.Fatalf("%s: ran without error; want a trap", tt.guest)
		}
		var me *MemoryError
		if got := errors.As(err, &me); got != tt.want {
			t.Errorf("%s: MemoryError %v (%v); want %v", tt.guest, got, err, tt.want)
		}
	}
}
