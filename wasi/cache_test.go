package wasi_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi"
)

// cacheEntries lists wazero's cache files under cacheDir.
func cacheEntries(t *testing.T, cacheDir string) map[string]bool {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(cacheDir, "wazero", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range m {
		out[p] = true
	}
	return out
}

// compileRun compiles wasm on a fresh engine over cacheDir, runs it and
// returns its stdout and the engine.
func compileRun(t *testing.T, cacheDir string, wasm []byte) (string, *wasi.Module, *wasi.Engine) {
	t.Helper()
	ctx := context.Background()
	e, err := wasi.NewEngine(ctx, wasi.Options{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	m, err := e.Compile(ctx, "guest", wasm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Prepare(wasi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.Run(ctx, &wasi.Call{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	return out.String(), m, e
}

// TestCacheTamperedEntryRecompiled: an entry of wazero's file cache
// replaced by another module's (a well-formed entry, its CRC right) is
// detected by its HMAC, removed and compiled afresh, never run
// (cmd/wasigate/DECISIONS.md#the-cache-is-the-servers-alone-and-signed).
func TestCacheTamperedEntryRecompiled(t *testing.T) {
	hello, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	// The attacker's module: the same code but for the length it writes
	// (i32.const 32 -> 7), so its compiled entry fits hello's slot.
	evil := bytes.Replace(hello, []byte{0x41, 0x04, 0x41, 0x20}, []byte{0x41, 0x04, 0x41, 0x07}, 1)
	if bytes.Equal(evil, hello) {
		t.Fatal("hello.wasm changed: the patch no longer applies")
	}
	cacheDir := t.TempDir()
	want, _, _ := compileRun(t, cacheDir, hello)
	helloEntries := cacheEntries(t, cacheDir)
	if len(helloEntries) != 1 {
		t.Fatalf("hello made %d cache entries; want 1", len(helloEntries))
	}
	evilOut, _, _ := compileRun(t, cacheDir, evil)
	if evilOut == want {
		t.Fatalf("the evil module printed hello's output %q", evilOut)
	}
	var helloEntry, evilEntry string
	for p := range cacheEntries(t, cacheDir) {
		if helloEntries[p] {
			helloEntry = p
		} else {
			evilEntry = p
		}
	}
	b, err := os.ReadFile(evilEntry)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(helloEntry, b, 0o600); err != nil {
		t.Fatal(err)
	}

	got, m, e := compileRun(t, cacheDir, hello)
	if got != want {
		t.Errorf("after tampering: output %q; want %q (the tampered entry ran)", got, want)
	}
	if m.Cached {
		t.Errorf("module reported loaded from the cache; want compiled afresh")
	}
	if n := e.Removed(); n != 1 {
		t.Errorf("%d entries removed; want 1", n)
	}
	// The fresh entry is signed: the next engine loads it.
	if _, m, e := compileRun(t, cacheDir, hello); !m.Cached || e.Removed() != 0 {
		t.Errorf("next start: cached %v, removed %d; want true, 0", m.Cached, e.Removed())
	}
}

// TestCachePrune: compiled code not used for CacheMaxAge is deleted at the
// next start; code used since is kept, and a compile marks it used.
func TestCachePrune(t *testing.T) {
	hello, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	compileRun(t, cacheDir, hello)
	entries := cacheEntries(t, cacheDir)
	markers, _ := filepath.Glob(filepath.Join(cacheDir, "seen", "*"))
	if len(entries) != 1 || len(markers) != 1 {
		t.Fatalf("entries %v, markers %v; want one each", entries, markers)
	}
	age := func(d time.Duration) {
		old := time.Now().Add(-d)
		for p := range entries {
			os.Chtimes(p, old, old)
		}
		os.Chtimes(markers[0], old, old)
	}
	age(seam.DefaultCacheMaxAge - time.Hour) // used 13 days 23 hours ago: kept
	if _, m, _ := compileRun(t, cacheDir, hello); !m.Cached {
		t.Fatalf("used within CacheMaxAge: not loaded from the cache")
	}
	if st, err := os.Stat(markers[0]); err != nil || time.Since(st.ModTime()) > time.Minute {
		t.Errorf("after a compile the module is not marked used: %v", err)
	}
	age(seam.DefaultCacheMaxAge + time.Hour)
	ctx := context.Background()
	e, err := wasi.NewEngine(ctx, wasi.Options{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	e.Close(ctx)
	if left := cacheEntries(t, cacheDir); len(left) != 0 {
		t.Errorf("entries unused for longer than %s kept: %v", seam.DefaultCacheMaxAge, left)
	}
}

// TestCacheMaxAgeOption: Options.CacheMaxAge replaces the 14 days:
// compiled code unused for 2 hours is kept by default and deleted under
// a 1-hour max age.
func TestCacheMaxAgeOption(t *testing.T) {
	hello, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	compileRun(t, cacheDir, hello)
	age := func() {
		old := time.Now().Add(-2 * time.Hour)
		paths, _ := filepath.Glob(filepath.Join(cacheDir, "seen", "*"))
		for p := range cacheEntries(t, cacheDir) {
			paths = append(paths, p)
		}
		for _, p := range paths {
			os.Chtimes(p, old, old)
		}
	}
	ctx := context.Background()
	for _, tt := range []struct {
		maxAge time.Duration
		kept   bool
	}{{0, true}, {time.Hour, false}} {
		age()
		e, err := wasi.NewEngine(ctx, wasi.Options{CacheDir: cacheDir, CacheMaxAge: tt.maxAge})
		if err != nil {
			t.Fatal(err)
		}
		e.Close(ctx)
		if kept := len(cacheEntries(t, cacheDir)) == 1; kept != tt.kept {
			t.Errorf("CacheMaxAge %s, code unused for 2h: kept %v; want %v", tt.maxAge, kept, tt.kept)
		}
	}
}
