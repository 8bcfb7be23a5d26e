package rewrite

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// snapshotModule is what wasi/snaptake.go serves a snapshot from: the
// module rewritten with values and pages, every global exported.
func snapshotModule(t testing.TB, wasm []byte, values []uint64, pages uint32) []byte {
	t.Helper()
	sm, err := NewSnapshot(wasm)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sm.Rewrite(values, pages)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := NewSnapshot(out)
	if err != nil {
		t.Fatal(err)
	}
	return exp.Instrument()
}

// TestShared: two snapshots of one module, with other global values and
// memory sizes, have the same shared module, and Shared gives back each
// one's values and pages; the immutable globals keep their constants.
func TestShared(t *testing.T) {
	wasm, err := os.ReadFile(guestPath("reactor_shared.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if wasm, err = Instrument(wasm); err != nil { // as the engine serves it
		t.Fatal(err)
	}
	sm, err := NewSnapshot(wasm)
	if err != nil {
		t.Fatal(err)
	}
	n := sm.Globals()
	var shared [][]byte
	for _, tt := range []struct {
		values []uint64
		pages  uint32
	}{
		{make([]uint64, n), 2},
		{[]uint64{0xffffffff, 1 << 40, 5}, 7},
		{[]uint64{49, 0, 0}, 65536},
	} {
		if len(tt.values) != n {
			t.Fatalf("the guest has %d globals; the table is for %d", n, len(tt.values))
		}
		out, st, err := Shared(snapshotModule(t, wasm, tt.values, tt.pages))
		if err != nil {
			t.Fatal(err)
		}
		if st.Pages != tt.pages {
			t.Errorf("pages: got %d; want %d", st.Pages, tt.pages)
		}
		for i, v := range tt.values {
			want := v
			if sm.mutable[i] == 0 {
				want = 0 // not asked for: an immutable global keeps its constant
			}
			if sm.globals[i] == 0x7f {
				want = uint64(uint32(want))
			}
			if st.Mutable[i] != (sm.mutable[i] != 0) || (st.Mutable[i] && st.Values[i] != want) {
				t.Errorf("global %d: got %#x (mutable %v); want %#x (mutable %v)", i, st.Values[i], st.Mutable[i], want, sm.mutable[i] != 0)
			}
		}
		if err := CheckBounds(out); err != nil {
			t.Fatalf("the shared module fails the bounds check: %v", err)
		}
		shared = append(shared, out)
	}
	for i := 1; i < len(shared); i++ {
		if !bytes.Equal(shared[0], shared[i]) {
			t.Errorf("shared module %d differs from the first", i)
		}
	}
}

// TestSharedRefuses: a snapshot module whose global starts at something
// other than a constant (global.get) has no shared module.
func TestSharedRefuses(t *testing.T) {
	// (module (memory 1) (global i32 (i32.const 1)) (global (mut i32) (global.get 0)))
	wasm := []byte("\x00asm\x01\x00\x00\x00" +
		"\x05\x03\x01\x00\x01" +
		"\x06\x0b\x02\x7f\x00\x41\x01\x0b\x7f\x01\x23\x00\x0b")
	if _, _, err := Shared(wasm); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("got %v; want ErrNoSnapshot", err)
	}
}
