package snap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi/seal"
)

// emptyModule is the smallest module: it passes the bounds check.
var emptyModule = []byte("\x00asm\x01\x00\x00\x00")

func newStore(t *testing.T, maxAge time.Duration) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	key, err := seal.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(dir, maxAge, key), dir
}

// TestStoreRoundTrip: what Save stores, Load returns as it was, the image
// written sparse (its zero pages read back as zeros).
func TestStoreRoundTrip(t *testing.T) {
	s, _ := newStore(t, time.Hour)
	mem := make([]byte, 2*PageSize)
	copy(mem[5000:], "written")
	path, ok := s.Save("k", emptyModule, mem)
	if !ok {
		t.Fatal("Save failed")
	}
	wasm, got, loadedPath, ok := s.Load("k")
	if !ok {
		t.Fatal("Load: got nothing; want the saved snapshot")
	}
	if !bytes.Equal(wasm, emptyModule) || !bytes.Equal(got, mem) || loadedPath != path {
		t.Errorf("Load: got %d module bytes, %d image bytes at %s; want what Save stored at %s", len(wasm), len(got), loadedPath, path)
	}
	if _, _, _, ok := s.Load("other"); ok {
		t.Error("Load of a key never saved: got a snapshot; want none")
	}
}

// TestStoreRefuses: a snapshot whose image was changed after it was
// signed, or whose image is not whole pages, is not loaded, and its files
// are deleted.
func TestStoreRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(img string) error
	}{
		{"image changed", func(img string) error {
			b, err := os.ReadFile(img)
			if err != nil {
				return err
			}
			b[100] ^= 1
			return os.WriteFile(img, b, 0o600)
		}},
		{"image not whole pages", func(img string) error { return os.Truncate(img, PageSize+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t, time.Hour)
			if _, ok := s.Save("k", emptyModule, make([]byte, PageSize)); !ok {
				t.Fatal("Save failed")
			}
			img := filepath.Join(dir, "snapshots", "k.img")
			if err := tc.change(img); err != nil {
				t.Fatal(err)
			}
			if _, _, _, ok := s.Load("k"); ok {
				t.Fatal("Load: got the snapshot; want it refused")
			}
			if _, err := os.Stat(img); !os.IsNotExist(err) {
				t.Errorf("the refused image is still there (%v); want it deleted", err)
			}
		})
	}
}

// TestStorePrunes: the first Load or Save of a store deletes the snapshots
// unused for its max age, and keeps the others.
func TestStorePrunes(t *testing.T) {
	s, dir := newStore(t, time.Hour)
	for _, k := range []string{"old", "new"} {
		if _, ok := s.Save(k, emptyModule, make([]byte, PageSize)); !ok {
			t.Fatal("Save failed")
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "snapshots", "old.wasm"), old, old); err != nil {
		t.Fatal(err)
	}
	key, err := seal.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fresh := NewStore(dir, time.Hour, key)
	if _, _, _, ok := fresh.Load("new"); !ok {
		t.Error("the snapshot used within the max age was not loaded")
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshots", "old.img")); !os.IsNotExist(err) {
		t.Errorf("the snapshot unused for twice the max age is still there (%v); want it deleted", err)
	}
}
