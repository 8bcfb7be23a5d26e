package wasi_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi"
)

// helloVersion is hello.wasm printing "helN" + digit instead of "hello":
// the same size and code, another module.
func helloVersion(t *testing.T, n int) []byte {
	t.Helper()
	hello, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	v := bytes.Replace(hello, []byte("hello\n"), []byte(fmt.Sprintf("hel%02d\n", n)), 1)
	if bytes.Equal(v, hello) {
		t.Fatal("hello.wasm changed: the patch no longer applies")
	}
	return v
}

// cacheUsage is the disk space of what the cache bound counts: every
// file under cacheDir but its key and Go's build cache.
func cacheUsage(t *testing.T, cacheDir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(cacheDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "go-build" {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() == "hmac.key" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func markerExists(cacheDir, hash string) bool {
	_, err := os.Stat(filepath.Join(cacheDir, "seen", hash))
	return err == nil
}

// compileFiles writes each module to a file and compiles it with e.
func compileFiles(t *testing.T, e *wasi.Engine, mods ...[]byte) []*wasi.Module {
	t.Helper()
	dir := t.TempDir()
	var out []*wasi.Module
	for i, wasm := range mods {
		p := filepath.Join(dir, fmt.Sprintf("m%d.wasm", i))
		if err := os.WriteFile(p, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := e.CompileFile(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func newCacheEngine(t *testing.T, dir string, maxSize int64) *wasi.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := wasi.NewEngine(ctx, wasi.Options{CacheDir: dir, CacheMaxSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	return e
}

// TestCacheTrimAtBound: a cache folder exactly at cache_max_size is left
// alone; one byte under it, the least recently used module's compiled
// code goes, and only it.
func TestCacheTrimAtBound(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := newCacheEngine(t, dir, -1)
	mods := compileFiles(t, e, helloVersion(t, 1), helloVersion(t, 2), helloVersion(t, 3))
	var hashes []string
	for i, m := range mods {
		hashes = append(hashes, wasi.MarkerKey(m.Hash))
		m.Close(ctx)
		// Used an hour apart, the first longest ago.
		when := time.Now().Add(time.Duration(i-3) * time.Hour)
		if err := os.Chtimes(filepath.Join(dir, "seen", wasi.MarkerKey(m.Hash)), when, when); err != nil {
			t.Fatal(err)
		}
	}
	e.Close(ctx)
	total := cacheUsage(t, dir)
	if n := len(cacheEntries(t, dir)); n != 3 {
		t.Fatalf("%d compiled entries; want 3", n)
	}

	if e := newCacheEngine(t, dir, total); e.Trimmed() != 0 {
		t.Errorf("at the bound (%d bytes): %d groups trimmed; want 0", total, e.Trimmed())
	}
	for i, h := range hashes {
		if !markerExists(dir, h) {
			t.Errorf("at the bound: module %d's compiled code gone", i+1)
		}
	}

	e = newCacheEngine(t, dir, total-1)
	if e.Trimmed() != 1 {
		t.Errorf("one byte past the bound: %d groups trimmed; want 1", e.Trimmed())
	}
	for i, h := range hashes {
		if got, want := markerExists(dir, h), i > 0; got != want {
			t.Errorf("one byte past the bound: module %d's compiled code kept %v; want %v (least recently used first)", i+1, got, want)
		}
	}
	if n := len(cacheEntries(t, dir)); n != 2 {
		t.Errorf("%d compiled entries after the trim; want 2", n)
	}
	if got := cacheUsage(t, dir); got > total-1 {
		t.Errorf("cache folder %d bytes after the trim; want at most %d", got, total-1)
	}
}

// TestCacheTrimKeepsInUse: however small the bound, compiled code an open
// module uses is never trimmed; once the module is closed, it may be.
func TestCacheTrimKeepsInUse(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := newCacheEngine(t, dir, 1)
	mods := compileFiles(t, e, helloVersion(t, 1), helloVersion(t, 2))
	for i, m := range mods {
		if !markerExists(dir, wasi.MarkerKey(m.Hash)) {
			t.Errorf("module %d in use: its compiled code was trimmed", i+1)
		}
	}
	if n := len(cacheEntries(t, dir)); n != 2 {
		t.Errorf("%d compiled entries with two modules in use; want 2", n)
	}
	mods[0].Close(ctx)
	third := compileFiles(t, e, helloVersion(t, 3))[0]
	for i, c := range []struct {
		hash string
		want bool
	}{{wasi.MarkerKey(mods[0].Hash), false}, {wasi.MarkerKey(mods[1].Hash), true}, {wasi.MarkerKey(third.Hash), true}} {
		if got := markerExists(dir, c.hash); got != c.want {
			t.Errorf("module %d: compiled code kept %v; want %v", i+1, got, c.want)
		}
	}
	if n := len(cacheEntries(t, dir)); n != 2 {
		t.Errorf("%d compiled entries after closing one; want 2", n)
	}
	// The modules in use still run, and so does the trimmed one compiled
	// again.
	for i, m := range []*wasi.Module{mods[1], third} {
		if got := runModule(t, m); !strings.Contains(got, fmt.Sprintf("hel%02d", []int{2, 3}[i])) {
			t.Errorf("module %d printed %q", i+2, got)
		}
	}
}

func runModule(t *testing.T, m *wasi.Module) string {
	t.Helper()
	p, err := m.Prepare(wasi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.Run(context.Background(), &wasi.Call{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestScriptsDropSupersededVersions: each edit of a script deletes its
// previous version's compiled code once no request runs it, so a script
// edited many times leaves one version in the cache, not one per edit.
func TestScriptsDropSupersededVersions(t *testing.T) {
	dir, scripts := t.TempDir(), t.TempDir()
	e := newCacheEngine(t, dir, 0)
	s := e.NewScripts(nil, wasi.Config{}, func(p string) string { return filepath.Base(p) }, nil)
	defer s.Close()
	full := filepath.Join(scripts, "s.wasm")
	ctx := context.Background()
	edit := func(n int) {
		t.Helper()
		if err := os.WriteFile(full, helloVersion(t, n), 0o644); err != nil {
			t.Fatal(err)
		}
		// Same size: the modification time tells the edit.
		when := time.Now().Add(time.Duration(n) * time.Second)
		if err := os.Chtimes(full, when, when); err != nil {
			t.Fatal(err)
		}
	}
	acquire := func(n int) (*wasi.Program, func()) {
		t.Helper()
		p, release, err := s.Acquire(ctx, full)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := p.Run(ctx, &wasi.Call{Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("hel%02d", n); !strings.Contains(out.String(), want) {
			t.Fatalf("version %d printed %q; want %q", n, out.String(), want)
		}
		return p, release
	}
	const edits = 10
	for n := 1; n <= edits; n++ {
		edit(n)
		_, release := acquire(n)
		release()
	}
	markers, _ := os.ReadDir(filepath.Join(dir, "seen"))
	if len(markers) != 1 || len(cacheEntries(t, dir)) != 1 {
		t.Errorf("after %d edits: %d markers, %d compiled entries; want 1 and 1 (the current version)", edits, len(markers), len(cacheEntries(t, dir)))
	}

	// A version a request still runs is kept until the request ends.
	p, release := acquire(edits)
	running := wasi.MarkerKey(p.Module().Hash)
	edit(edits + 1)
	_, r2 := acquire(edits + 1)
	r2()
	if !markerExists(dir, running) {
		t.Errorf("the version a request runs lost its compiled code to an edit")
	}
	release()
	if markerExists(dir, running) {
		t.Errorf("the superseded version's compiled code kept after its last request")
	}
}
