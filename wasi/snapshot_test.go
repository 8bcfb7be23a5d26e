package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// reactorOut is what testdata/guests/reactor.c prints.
type reactorOut struct {
	counter, random, prng, time, table string
	env                                []string
}

func parseReactor(t *testing.T, out string) reactorOut {
	t.Helper()
	var r reactorOut
	_, body, ok := strings.Cut(out, "\n\n")
	if !ok {
		t.Fatalf("no header block in %q", out)
	}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "counter":
			r.counter = v
		case "random":
			r.random = v
		case "prng":
			r.prng = v
		case "time":
			r.time = v
		case "table":
			r.table = v
		default:
			r.env = append(r.env, line)
		}
	}
	return r
}

func reactorProgram(t *testing.T, e *Engine, c Config) *Program {
	t.Helper()
	m := compileFile(t, e, filepath.Join("..", "testdata", "guests", "reactor.wasm"))
	c.Entrypoint = "serve"
	if c.MemoryLimit == 0 {
		c.MemoryLimit = 64 << 20
	}
	p, err := m.Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runReactor runs n requests at once, request i with REQ=i.
func runReactor(t *testing.T, p *Program, n int) []reactorOut {
	t.Helper()
	outs := make([]reactorOut, n)
	bufs := make([]bytes.Buffer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Run(context.Background(), &Call{Env: []string{"REQ=" + strconv.Itoa(i)}, Stdout: &bufs[i]})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		outs[i] = parseReactor(t, bufs[i].String())
	}
	return outs
}

// TestSnapshotIsolation: instances of a snapshotted reactor start from
// the state its _initialize left (the table, the PRNG seeded at init: the
// same in every request) and nothing a request does reaches another: the
// counter is 1 in each, also in a memory the pool restored after a
// request; random_get, the clock and the environment are each request's
// own.
func TestSnapshotIsolation(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	const wantTable = "132692967424" // sum of table[i*4096], as the init filled it
	for _, tt := range []struct {
		name             string
		cfg              Config
		snapshot, mapped bool
	}{
		{"mapped", Config{}, true, true},
		{"copied", Config{}, true, false},
		{"off", Config{NoSnapshot: true}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mapped {
				defer snap.SetCopyMax(snap.SetCopyMax(0))
			}
			p := reactorProgram(t, e, tt.cfg)
			info := p.Snapshot()
			if info.On != tt.snapshot {
				t.Fatalf("snapshot on: got %v (%s); want %v", info.On, info.Reason, tt.snapshot)
			}
			if tt.snapshot && (info.Mapped != tt.mapped || info.Image < 1<<20) {
				t.Errorf("got mapped %v, image %d bytes; want mapped %v, an image of more than the 1 MiB table", info.Mapped, info.Image, tt.mapped)
			}
			before := time.Now().UnixNano()
			// Twice two at once: the second round runs in memories the
			// first one used and the pool restored.
			outs := append(runReactor(t, p, 2), runReactor(t, p, 2)...)
			seen := map[string]bool{}
			for i, o := range outs {
				if o.counter != "1" {
					t.Errorf("request %d: counter=%s; want 1", i, o.counter)
				}
				if o.table != wantTable {
					t.Errorf("request %d: table=%s; want %s", i, o.table, wantTable)
				}
				if want := []string{"env-REQ=" + strconv.Itoa(i%2)}; strings.Join(o.env, ",") != want[0] {
					t.Errorf("request %d: env %q; want %q", i, o.env, want)
				}
				if ns, _ := strconv.ParseInt(o.time, 10, 64); ns < before || ns > time.Now().UnixNano() {
					t.Errorf("request %d: time %s not within the test's run", i, o.time)
				}
				if seen["r"+o.random] || seen["t"+o.time] {
					t.Errorf("request %d: random %s or time %s seen in another request", i, o.random, o.time)
				}
				seen["r"+o.random], seen["t"+o.time] = true, true
			}
			// The PRNG seeded by the init is frozen into the snapshot, by
			// design: all requests draw the same number from it.
			if samePRNG := outs[0].prng == outs[1].prng && outs[1].prng == outs[3].prng; samePRNG != tt.snapshot {
				t.Errorf("prng values %s %s %s: same %v; want %v", outs[0].prng, outs[1].prng, outs[3].prng, samePRNG, tt.snapshot)
			}
			if n, _ := e.MemoryInUse(); n != 0 || e.MemoryRescued() != 0 {
				t.Errorf("memories in use %d, rescued %d; want 0, 0", n, e.MemoryRescued())
			}
		})
	}
}

// TestSnapshotRefused: a snapshot that cannot be taken is refused with
// the reason, and the program runs as without snapshots.
func TestSnapshotRefused(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	for _, tt := range []struct {
		guest, reason string
	}{
		{"reactor_trap.wasm", "_initialize failed"},
		{"reactor_global.wasm", `imports "env.g" (kind 3)`},
		{"reactor_env.wasm", "_initialize read the environment"},
	} {
		t.Run(tt.guest, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join("..", "testdata", "guests", tt.guest))
			if err != nil {
				t.Fatal(err)
			}
			m, err := e.Compile(ctx, tt.guest, wasm)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			p, err := m.Prepare(Config{Entrypoint: "serve", MemoryLimit: 16 << 20})
			if err != nil {
				t.Fatal(err)
			}
			info := p.Snapshot()
			if info.On || !strings.Contains(info.Reason, tt.reason) || !strings.HasPrefix(info.Reason, "no snapshot: ") {
				t.Errorf("got on %v, reason %q; want off, reason containing %q", info.On, info.Reason, tt.reason)
			}
			if !p.init {
				t.Errorf("_initialize not called per request without a snapshot")
			}
		})
	}
}

// TestPrepareMemoryMinimum: a module whose memory starts above the memory
// limit is refused when the route is prepared; instantiating it made
// wazero panic, in a request or in a snapshot's init at startup.
func TestPrepareMemoryMinimum(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	wasm, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "reactor.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(ctx, "reactor.wasm", wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	for _, noSnapshot := range []bool{false, true} {
		_, err := m.Prepare(Config{Entrypoint: "serve", MemoryLimit: 1 << 20, NoSnapshot: noSnapshot})
		if want := "its memory starts at 1179648 bytes, more than the memory limit of 1048576 bytes"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no snapshot %v: Prepare: %v; want an error containing %q", noSnapshot, err, want)
		}
	}
}

// TestSnapshotCache: a snapshot taken once is loaded from the cache folder
// by the next engine; a changed image fails its signature and the snapshot
// is taken again (cmd/wasigate/DECISIONS.md#snapshots-are-cached-and-signed).
func TestSnapshotCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() (*Engine, seam.Snapshot, []reactorOut) {
		e, err := NewEngine(ctx, Options{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(ctx) })
		p := reactorProgram(t, e, Config{})
		return e, p.Snapshot(), runReactor(t, p, 2)
	}
	_, first, out1 := open()
	_, second, out2 := open()
	if !first.On || first.Cached || !second.On || !second.Cached {
		t.Fatalf("first %+v, second %+v; want taken, then loaded from the cache", first, second)
	}
	if out1[0].prng != out2[0].prng || out2[0].counter != "1" || out2[1].counter != "1" {
		t.Errorf("from the cache: prng %s (taken: %s), counters %s %s; want the same prng, counters 1", out2[0].prng, out1[0].prng, out2[0].counter, out2[1].counter)
	}
	imgs, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.img"))
	if len(imgs) != 1 {
		t.Fatalf("images in the cache: %v; want one", imgs)
	}
	b, err := os.ReadFile(imgs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(imgs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, third, out3 := open()
	if !third.On || third.Cached || out3[0].counter != "1" {
		t.Errorf("after changing the image: %+v, counter %s; want taken again, counter 1", third, out3[0].counter)
	}
}

// TestSnapshotCachePrune: a start that loads a snapshot marks it used and
// deletes the cached snapshots unused for CacheMaxAge.
func TestSnapshotCachePrune(t *testing.T) {
	dir := t.TempDir()
	open := func() seam.Snapshot { return startReactor(t, dir) }
	if first := open(); !first.On || first.Cached {
		t.Fatalf("first start: %+v; want a snapshot taken", first)
	}
	used, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.wasm"))
	if len(used) != 1 {
		t.Fatalf("cached modules %v; want one", used)
	}
	stale := []string{filepath.Join(dir, "snapshots", "stale.wasm"), filepath.Join(dir, "snapshots", "stale.img"),
		filepath.Join(dir, "snapshots-sig", "stale.wasm"), filepath.Join(dir, "snapshots-sig", "stale.img")}
	for _, p := range stale {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long, recent := time.Now().Add(-seam.DefaultCacheMaxAge-time.Hour), time.Now().Add(-seam.DefaultCacheMaxAge+time.Hour)
	os.Chtimes(stale[0], long, long)
	os.Chtimes(used[0], recent, recent)
	if second := open(); !second.On || !second.Cached {
		t.Fatalf("second start: %+v; want the snapshot loaded from the cache", second)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s kept; want it deleted (unused for longer than %s)", p, seam.DefaultCacheMaxAge)
		}
	}
	st, err := os.Stat(used[0])
	if err != nil || time.Since(st.ModTime()) > time.Minute {
		t.Errorf("the loaded snapshot: %v, used %v ago; want kept and marked used now", err, time.Since(st.ModTime()))
	}
}

// TestSnapshotCachePruneLoaded: a server that loaded its snapshot more
// than CacheMaxAge ago and ran since restarts: the snapshot it is
// about to load is in use, not stale, and must not be deleted first.
func TestSnapshotCachePruneLoaded(t *testing.T) {
	dir := t.TempDir()
	open := func() seam.Snapshot { return startReactor(t, dir) }
	if first := open(); !first.On || first.Cached {
		t.Fatalf("first start: %+v; want a snapshot taken", first)
	}
	used, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.wasm"))
	long := time.Now().Add(-seam.DefaultCacheMaxAge - time.Hour)
	os.Chtimes(used[0], long, long)
	if second := open(); !second.On || !second.Cached {
		t.Fatalf("restart after %s up: %+v; want the snapshot loaded from the cache", seam.DefaultCacheMaxAge, second)
	}
}

// startReactor is a start of an engine over the cache folder dir that
// prepares reactor.wasm: whether its snapshot was taken or loaded.
func startReactor(t *testing.T, dir string) seam.Snapshot {
	t.Helper()
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	return reactorProgram(t, e, Config{}).Snapshot()
}
