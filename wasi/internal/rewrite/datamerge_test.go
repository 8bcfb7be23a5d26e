package rewrite

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasigate/wasigate/wasi/toolchain"
)

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
		d = AppendSleb32(d, s.off)
		d = append(d, 0x0b)
		d = binary.AppendUvarint(d, uint64(len(s.data)))
		d = append(d, s.data...)
	}
	return append(m, section(11, d)...)
}

// memoryAfterInstantiation instantiates wasm without running anything and
// returns its whole linear memory: what the data segments wrote.
func memoryAfterInstantiation(t *testing.T, rt wazero.Runtime, wasm []byte) []byte {
	t.Helper()
	ctx := context.Background()
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	defer mod.Close(ctx)
	mem := mod.ExportedMemory("memory")
	if mem == nil {
		t.Fatal("no exported memory")
	}
	b, _ := mem.Read(0, mem.Size())
	return bytes.Clone(b)
}

func TestCoalesceData(t *testing.T) {
	tests := []struct {
		name      string
		wasm      []byte
		gap       int
		rewritten bool
		after     int
	}{
		{"adjacent", dataModule(false, false, seg{0, "ab"}, seg{2, "cd"}), 0, true, 1},
		{"small gap filled", dataModule(false, false, seg{8, "ab"}, seg{20, "cd"}, seg{30, "ef"}), 16, true, 1},
		{"large gap kept", dataModule(false, false, seg{8, "ab"}, seg{20, "cd"}, seg{9000, "ef"}), 16, true, 2},
		{"offset needing multi-byte leb", dataModule(false, false, seg{300, "x"}, seg{65000, "y"}), 1 << 16, true, 1},
		{"overlapping left alone", dataModule(false, false, seg{0, "abcd"}, seg{2, "XY"}), 16, false, 0},
		{"later one overlapping an earlier gap left alone", dataModule(false, false, seg{0, "ab"}, seg{8, "cd"}, seg{1, "XYZ"}), 16, false, 0},
		{"descending sorted", dataModule(false, false, seg{100, "ab"}, seg{10, "cd"}), 16, true, 2},
		{"descending joined", dataModule(false, false, seg{100, "ab"}, seg{10, "cd"}, seg{50, "ef"}), 64, true, 1},
		{"imported memory left alone", dataModule(true, false, seg{0, "ab"}, seg{4, "cd"}), 16, false, 0},
		{"data count left alone", dataModule(false, true, seg{0, "ab"}, seg{4, "cd"}), 16, false, 0},
		{"turned off", dataModule(false, false, seg{0, "ab"}, seg{4, "cd"}), -1, false, 2},
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, after, err := Coalesce(tc.wasm, tc.gap)
			if got := err == nil; got != tc.rewritten {
				t.Fatalf("rewritten = %v (err %v); want %v", got, err, tc.rewritten)
			}
			if !tc.rewritten {
				if !bytes.Equal(out, tc.wasm) {
					t.Errorf("module changed although not rewritten")
				}
				if err != nil && !errors.Is(err, ErrNoRewrite) {
					t.Errorf("err = %v; want ErrNoRewrite", err)
				}
			}
			if after != tc.after {
				t.Errorf("segments after = %d; want %d", after, tc.after)
			}
			if tc.name == "imported memory left alone" {
				return // cannot instantiate without an env module
			}
			want := memoryAfterInstantiation(t, rt, tc.wasm)
			got := memoryAfterInstantiation(t, rt, out)
			if !bytes.Equal(got, want) {
				t.Errorf("memory after instantiation differs from the original module's")
			}
		})
	}
}

// TestCoalesceDataGoGuest rewrites a real Go guest (tens of thousands of
// segments) and checks the memory it starts with and what it prints.
func TestCoalesceDataGoGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go on PATH (Debian: golang)")
	}
	dir := t.TempDir()
	res, err := (&toolchain.Builder{Trusted: trustedTestBuilds(), Dir: dir}).Build(context.Background(), filepath.Join(repoDir, "samples", "scripts", "hello-go.go"))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	wasm, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckBounds(wasm); err != nil {
		t.Fatalf("checkBounds: %v", err)
	}
	out, before, after, err := Coalesce(wasm, coalesceGap)
	if err != nil {
		t.Fatalf("coalesceData: %v", err)
	}
	if before < 1000 || after*10 > before {
		t.Errorf("segments %d -> %d; want over 1000 joined into a tenth or fewer", before, after)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	if !bytes.Equal(memoryAfterInstantiation(t, rt, out), memoryAfterInstantiation(t, rt, wasm)) {
		t.Errorf("memory after instantiation differs from the original module's")
	}
}
