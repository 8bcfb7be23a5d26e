package wasi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCompileMalformedNeverPanics: module bytes that made wazero 1.12's
// decoder or validator allocate without bound or panic (found by
// FuzzInstrument, kept among FuzzCompile's seeds) get an error from Compile, and the process goes on
// (a module dropped in a scripts folder must not kill the server).
func TestCompileMalformedNeverPanics(t *testing.T) {
	eng, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	for _, seed := range []string{"4a184306687eab86", "4b013b75c5d61f4d", "e08ecbc5006a85a6"} {
		t.Run(seed, func(t *testing.T) {
			wasm := readFuzzSeed(t, filepath.Join("testdata", "fuzz", "FuzzCompile", "instrument-"+seed))
			m, err := eng.Compile(context.Background(), seed, wasm)
			if err == nil {
				m.Close(context.Background())
				t.Fatalf("Compile accepted a malformed module; want an error")
			}
			if !errors.Is(err, ErrModuleBounds) && !errors.Is(err, ErrMalformedModule) && !strings.Contains(err.Error(), "compile") {
				t.Errorf("error %q names neither the bounds check nor the compile", err)
			}
		})
	}
}

// readFuzzSeed reads the one []byte value of a Go fuzz corpus file.
func readFuzzSeed(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := lines[len(lines)-1]
	q, ok := strings.CutPrefix(last, "[]byte(")
	if !ok {
		t.Fatalf("%s: not a []byte seed: %q", path, last)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}
