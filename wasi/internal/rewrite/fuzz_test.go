package rewrite

import (
	"os"
	"testing"
)

// Fuzz targets for every parser of module bytes in this package.
// Seeds live in testdata/fuzz/<Target>/, with the 15-byte module that
// killed the process; the committed guests are added at run time.

// addGuestSeeds adds small seeds only: minimizing a 24 KB C guest's
// mutations took the fuzzer seconds each.
func addGuestSeeds(f *testing.F) {
	f.Add(dataModule(false, false, seg{8, "ab"}, seg{20, "cd"}, seg{9000, "ef"}))
	f.Add(dataModule(true, false, seg{0, "ab"}, seg{4, "cd"}))
	for _, name := range []string{"hello.wasm", "trap.wasm", "routes.wasm"} {
		wasm, err := os.ReadFile(guestPath(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wasm)
	}
	f.Add(lyingDataCount)
}

// FuzzDataMerge: the data-segment rewriter never panics, allocates within
// a small multiple of its input, and what it returns passes the bounds
// check whenever its input did.
func FuzzDataMerge(f *testing.F) {
	addGuestSeeds(f)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, before, after, err := Coalesce(wasm, coalesceGap)
		if err != nil {
			return
		}
		if after > before || len(out) > 3*len(wasm)+5*coalesceGap+64 {
			t.Fatalf("%d -> %d segments, %d -> %d bytes", before, after, len(wasm), len(out))
		}
		if CheckBounds(wasm) == nil {
			if err := CheckBounds(out); err != nil {
				t.Fatalf("rewritten module fails the bounds check: %v", err)
			}
		}
	})
}

// FuzzCheckBounds: the bounds check never panics.
func FuzzCheckBounds(f *testing.F) {
	addGuestSeeds(f)
	f.Fuzz(func(t *testing.T, wasm []byte) { _ = CheckBounds(wasm) })
}

// FuzzSnapshotRewrite: the snapshot rewriter (snapshot.go) never
// panics on untrusted bytes, and the modules it makes pass the bounds
// check and stay within a small multiple of the input
// (cmd/wasigate/DECISIONS.md#module-bytes-are-checked-before-anything-decodes-them).
func FuzzSnapshotRewrite(f *testing.F) {
	addGuestSeeds(f)
	for _, name := range []string{"reactor_trap.wasm", "reactor_global.wasm", "reactor_env.wasm"} {
		wasm, err := os.ReadFile(guestPath(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wasm)
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		sm, err := NewSnapshot(wasm)
		if err != nil {
			return
		}
		inst := sm.Instrument()
		values := make([]uint64, sm.Globals())
		for i := range values {
			values[i] = ^uint64(0)
		}
		out, err := sm.Rewrite(values, 1)
		var shared []byte
		if out != nil {
			// The shared module of the snapshot module (shared.go).
			shared, _, _ = Shared(out)
		}
		for _, b := range [][]byte{inst, out, shared} {
			if b == nil {
				continue
			}
			if len(b) > 2*len(wasm)+64*sm.Globals()+64 {
				t.Fatalf("%d bytes in, %d out", len(wasm), len(b))
			}
			if err := CheckBounds(b); err != nil {
				t.Fatalf("rewritten module fails the bounds check: %v", err)
			}
		}
	})
}
