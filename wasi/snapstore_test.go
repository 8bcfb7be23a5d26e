package wasi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// storeDriver prepares reactor_driver.wasm on an engine of its own on
// cache, with the read-only /lib and writable /data folders given.
func storeDriver(t *testing.T, cache, lib, data string, maxAge time.Duration) (*Engine, *Program) {
	t.Helper()
	e, err := NewEngine(context.Background(), Options{CacheDir: cache, SnapshotMaxAge: maxAge})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	m := compileFile(t, e, filepath.Join("..", "testdata", "guests", "reactor_driver.wasm"))
	p, err := m.Prepare(Config{
		Volumes:     []seam.Mount{{Guest: "/lib", Host: lib}, {Guest: "/data", Host: data, Writable: true}},
		MemoryLimit: 16 << 20, InitArgs: []string{"drv"}, Reuse: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Snapshot().On {
		t.Fatalf("Snapshot() = %+v; want on", p.Snapshot())
	}
	return e, p
}

func writeTestFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotStoreDriver: a driver's snapshot, whose init read /lib, is
// loaded by the next engine on the same cache folder while /lib is
// unchanged (a file written in the writable /data does not count), taken
// again once data.txt changes, and taken again when its stored image is
// older than snapshot_max_age.
func TestSnapshotStoreDriver(t *testing.T) {
	cache, lib, data := t.TempDir(), t.TempDir(), t.TempDir()
	writeTestFile(t, filepath.Join(lib, "data.txt"), "one\n")
	steps := []struct {
		name   string
		before func()
		maxAge time.Duration
		cached bool
		lib    string
	}{
		{name: "first start", lib: "one"},
		{name: "restart", cached: true, lib: "one"},
		{name: "a writable volume's file", before: func() { writeTestFile(t, filepath.Join(data, "secret.txt"), "x") }, cached: true, lib: "one"},
		{name: "an edit of what the init read", before: func() { writeTestFile(t, filepath.Join(lib, "data.txt"), "two\n") }, lib: "two"},
		{name: "restart after the edit", cached: true, lib: "two"},
		{name: "older than snapshot_max_age", before: func() { time.Sleep(1100 * time.Millisecond) }, maxAge: time.Second, lib: "two"},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		e, p := storeDriver(t, cache, lib, data, st.maxAge)
		got, err := runDriver(t, p, []string{"drv", "/s"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if s := p.Snapshot(); s.Cached != st.cached || got["lib"] != st.lib {
			t.Errorf("%s: Cached %v, lib=%q; want Cached %v, lib=%q", st.name, s.Cached, got["lib"], st.cached, st.lib)
		}
		e.Close(context.Background())
	}
}

// TestSnapshotRetake: past snapshot_max_age the program moves, while
// requests run, to a snapshot whose init ran again (it reads the new
// data.txt); no request fails, the old snapshot is closed once unused, and
// the retake is stored for the next start.
func TestSnapshotRetake(t *testing.T) {
	cache, lib, data := t.TempDir(), t.TempDir(), t.TempDir()
	writeTestFile(t, filepath.Join(lib, "data.txt"), "one\n")
	started := time.Now() // the init runs after: no retake before started+1s
	_, p := storeDriver(t, cache, lib, data, time.Second)
	writeTestFile(t, filepath.Join(lib, "data.txt"), "two\n")
	deadline := time.Now().Add(30 * time.Second)
	var (
		mu     sync.Mutex
		seen   = map[string]int{}
		failed error
		wg     sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				got, err := runDriver(t, p, []string{"drv", "/s"}, nil)
				mu.Lock()
				if err != nil && failed == nil {
					failed = err
				}
				seen[got["lib"]]++
				if got["lib"] == "two" && time.Since(started) < time.Second {
					failed = errRetakeEarly
				}
				done := failed != nil || seen["two"] >= 20
				mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	if seen["one"] == 0 || seen["two"] < 20 || len(seen) != 2 {
		t.Fatalf("lib= seen %v; want one before the age, then two", seen)
	}
	f := p.fresh
	f.mu.Lock()
	g := f.cur
	f.mu.Unlock()
	f.src.mu.Lock()
	refs, cur := len(f.src.refs), f.src.cur
	f.src.mu.Unlock()
	if g.snap != cur || g.prog == p || refs != 1 {
		t.Errorf("after the retake: program on the current snapshot %v, moved %v, %d snapshot(s) held; want true, true, 1", g.snap == cur, g.prog != p, refs)
	}
	// The next start loads the retaken one.
	_, p2 := storeDriver(t, cache, lib, data, time.Minute)
	got, err := runDriver(t, p2, []string{"drv", "/s"}, nil)
	if err != nil || !p2.Snapshot().Cached || got["lib"] != "two" {
		t.Fatalf("restart after the retake: Cached %v, lib=%q, %v; want the retake loaded (lib=two)", p2.Snapshot().Cached, got["lib"], err)
	}
}

var errRetakeEarly = errors.New("the snapshot was retaken before snapshot_max_age")
