package wasi_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// sparseModule makes a file of size bytes that takes no disk space: a
// module that would have to be read in full to be refused by anything
// but its size.
func sparseModule(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("\x00asm\x01\x00\x00\x00")); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// allocatedBy is how many bytes the Go heap allocated while f ran.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestModuleTooLarge: a module file over max_module_size, loaded, compiled
// or dropped as a script, is refused with ErrTooLarge from its size,
// without reading it.
func TestModuleTooLarge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := newCacheEngine(t, t.TempDir(), 0)
	big := sparseModule(t, dir, "big.wasm", toolchain.DefaultMaxModuleSize+1)
	cases := []struct {
		name string
		load func() error
	}{
		{"Load", func() error { _, err := e.Load(ctx, big, nil); return err }},
		{"CompileFile", func() error { _, err := e.CompileFile(ctx, big); return err }},
		{"ReadModuleFile", func() error { _, err := wasi.ReadModuleFile(big); return err }},
		{"script", func() error {
			s := e.NewScripts(nil, wasi.Config{}, filepath.Base, nil)
			defer s.Close()
			_, _, err := s.Acquire(ctx, big)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			alloc := allocatedBy(func() { err = c.load() })
			var tl *toolchain.TooLargeError
			if !errors.Is(err, wasi.ErrTooLarge) || !errors.As(err, &tl) || tl.Size != toolchain.DefaultMaxModuleSize+1 {
				t.Fatalf("got %v; want a TooLargeError of %d bytes", err, toolchain.DefaultMaxModuleSize+1)
			}
			if !strings.Contains(err.Error(), "max_module_size") {
				t.Errorf("error %q does not name max_module_size, the key to raise", err)
			}
			if alloc > 8<<20 {
				t.Errorf("refusing it allocated %d bytes; want it refused unread (under 8 MiB)", alloc)
			}
		})
	}

	// The engine's own bound, and a module at it is read.
	hello := filepath.Join("..", "testdata", "guests", "hello.wasm")
	st, err := os.Stat(hello)
	if err != nil {
		t.Fatal(err)
	}
	small := newCacheEngine(t, t.TempDir(), 0)
	if _, err := small.CompileFile(ctx, hello); err != nil {
		t.Errorf("hello.wasm with the default bound: %v", err)
	}
	at, err := wasi.NewEngine(ctx, wasi.Options{MaxModuleSize: st.Size()})
	if err != nil {
		t.Fatal(err)
	}
	defer at.Close(ctx)
	if _, err := at.CompileFile(ctx, hello); err != nil {
		t.Errorf("hello.wasm at the bound: %v; want it compiled", err)
	}
	under, err := wasi.NewEngine(ctx, wasi.Options{MaxModuleSize: st.Size() - 1})
	if err != nil {
		t.Fatal(err)
	}
	defer under.Close(ctx)
	if _, err := under.CompileFile(ctx, hello); !errors.Is(err, wasi.ErrTooLarge) {
		t.Errorf("hello.wasm one byte over the bound: %v; want ErrTooLarge", err)
	}

	// wat2wasm's output is bounded too.
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Logf("SKIPPED the .wat case: wat2wasm not on PATH (Debian: apt-get install wabt)")
		return
	}
	wat := filepath.Join(dir, "big.wat")
	text := `(module (memory 2) (data (i32.const 0) "` + strings.Repeat("x", 100<<10) + `"))`
	if err := os.WriteFile(wat, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tiny, err := wasi.NewEngine(ctx, wasi.Options{MaxModuleSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer tiny.Close(ctx)
	if _, err := tiny.CompileFile(ctx, wat); !errors.Is(err, wasi.ErrTooLarge) {
		t.Errorf("a .wat converting to 100 KiB with a 64 KiB bound: %v; want ErrTooLarge", err)
	}
}

// TestCacheUnsignedEntryPlanted: an unsigned entry planted at another
// module's slot in wazero's cache, with no marker that lists it, never
// runs: the module's own code is compiled and served, and the planted
// file is gone.
func TestCacheUnsignedEntryPlanted(t *testing.T) {
	for _, keepMarker := range []bool{false, true} {
		name := "marker removed"
		if keepMarker {
			name = "marker kept"
		}
		t.Run(name, func(t *testing.T) {
			hello, evil := helloVersion(t, 1), helloVersion(t, 2)
			// The planted code must differ in what it does, not only in
			// data (data comes from the module's bytes, not the entry): it
			// writes 7 bytes where hello writes 32.
			evil = []byte(strings.Replace(string(evil), "\x41\x04\x41\x20", "\x41\x04\x41\x07", 1))
			cacheDir := t.TempDir()
			want, m, _ := compileRun(t, cacheDir, hello)
			helloHash := wasi.MarkerKey(m.Hash)
			helloEntries := cacheEntries(t, cacheDir)
			evilOut, _, _ := compileRun(t, cacheDir, evil)
			if evilOut == want || len(helloEntries) != 1 {
				t.Fatalf("setup: evil printed %q, hello made %d entries", evilOut, len(helloEntries))
			}
			var helloEntry, evilEntry string
			for p := range cacheEntries(t, cacheDir) {
				if helloEntries[p] {
					helloEntry = p
				} else {
					evilEntry = p
				}
			}
			planted, err := os.ReadFile(evilEntry)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(helloEntry, planted, 0o600); err != nil {
				t.Fatal(err)
			}
			// Unsigned: no signature file for hello's slot.
			sig := filepath.Join(cacheDir, "wazero-sig", filepath.Base(filepath.Dir(helloEntry))+"_"+filepath.Base(helloEntry))
			if err := os.Remove(sig); err != nil {
				t.Fatalf("the signature of hello's entry is not where expected: %v", err)
			}
			if !keepMarker {
				if err := os.Remove(filepath.Join(cacheDir, "seen", helloHash)); err != nil {
					t.Fatal(err)
				}
			}

			got, _, _ := compileRun(t, cacheDir, hello)
			if got != want {
				t.Errorf("output %q; want hello's %q (the planted unsigned entry ran)", got, want)
			}
			if b, err := os.ReadFile(helloEntry); err == nil && string(b) == string(planted) {
				t.Errorf("the planted entry is still at hello's slot")
			}
		})
	}
}
