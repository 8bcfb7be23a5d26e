package wasi

import (
	"context"
	"errors"
	"testing"
)

// lyingDataCount is a 15-byte module whose data section declares
// 0xFFFFFFFF segments. Before the bounds check, compiling it killed the process:
// "fatal error: runtime: out of memory".
var lyingDataCount = []byte("\x00asm\x01\x00\x00\x00\x0b\x05\xff\xff\xff\xff\x0f")

// TestCompileLyingCounts: modules that declare more than they hold are
// refused with ErrModuleBounds, before anything allocates from the counts.
func TestCompileLyingCounts(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	hdr := "\x00asm\x01\x00\x00\x00"
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"data section of 0xFFFFFFFF segments", lyingDataCount},
		{"type section of 0xFFFFFFFF types", []byte(hdr + "\x01\x05\xff\xff\xff\xff\x0f")},
		{"import with a 4 GiB name", []byte(hdr + "\x02\x07\x01\xff\xff\xff\xff\x0f\x00")},
		{"4 billion locals", []byte(hdr + "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x0a\x01\x08\x01\xff\xff\xff\xff\x0f\x7f\x0b")},
		{"table of 4 billion entries", []byte(hdr + "\x04\x07\x01\x70\x00\xff\xff\xff\xff\x0f")},
		{"data segment of 4 GiB", []byte(hdr + "\x05\x03\x01\x00\x01\x0b\x0a\x01\x00\x41\x00\x0b\xff\xff\xff\xff\x0f")},
		{"function names of 4 billion entries", []byte(hdr + "\x00\x0c\x04name\x01\x05\xff\xff\xff\xff\x0f")},
		{"section size past the module's end", []byte(hdr + "\x01\xff\xff\x03\x01\x60\x00\x00")},
		{"function body size past its section", []byte(hdr + "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x05\x01\x7f\x00\x00\x0b")},
		{"function body size past the module's end", []byte(hdr + "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x05\x01\xff\xff\x03\x00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := e.Compile(ctx, "lying.wasm", tc.wasm)
			if err == nil {
				m.Close(ctx)
				t.Fatalf("Compile: no error; want %v", ErrModuleBounds)
			}
			if !errors.Is(err, ErrModuleBounds) {
				t.Errorf("Compile: got %v; want %v", err, ErrModuleBounds)
			}
		})
	}
}
