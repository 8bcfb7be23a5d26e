package wasi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/wptrack"
)

// writtenProgram is testdata/reuse/written.wat with reuse on and /v/a a
// file of 8 KiB.
func writtenProgram(t *testing.T, e *Engine) *Program {
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "a"), bytes.Repeat([]byte("kernel"), 0x2000/6+1), 0o644); err != nil {
		t.Fatal(err)
	}
	p := reuseProgram(t, e, filepath.Join("testdata", "reuse", "written.wat"), Config{Volumes: []seam.Mount{{Guest: "/v", Host: vol}}})
	if on, why := p.Reuse(); !on {
		t.Fatalf("reuse off: %s", why)
	}
	return p
}

// trackedResets adds up the tracked resets of p's idle instances.
func trackedResets(p *Program) int {
	p.warm.mu.Lock()
	defer p.warm.mu.Unlock()
	n := 0
	for _, inst := range p.warm.idle {
		n += inst.memory.resets
	}
	return n
}

// TestResetTrackedWrites: whatever wrote a page of a reused instance's
// memory (the guest's stores, memory.fill and memory.copy, the host's copy
// of stdin, the kernel's copy of a file in read(), a write undone before
// the end, a grown memory), the next request sees the fresh instance's
// memory: every request prints the hash of its whole memory first. The
// sequences make a page be written in one request and not the next, so
// that a page left unprotected after a reset is caught too.
func TestResetTrackedWrites(t *testing.T) {
	for _, every := range []int{1, 3, 64} {
		t.Run(fmt.Sprintf("reprotectEvery=%d", every), func(t *testing.T) {
			defer func(old int) { reprotectEvery = old }(reprotectEvery)
			reprotectEvery = every
			testResetTrackedWrites(t, true)
		})
	}
	// The fallback where the kernel cannot track: every page compared.
	t.Run("compare", func(t *testing.T) {
		defer func(old bool) { resetTracking = old }(resetTracking)
		resetTracking = false
		testResetTrackedWrites(t, false)
	})
}

func testResetTrackedWrites(t *testing.T, track bool) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p := writtenProgram(t, e)
	fresh, err := runStdin(p, "n")
	if err != nil || len(fresh) != 17 {
		t.Fatalf("first request: got %q, %v", fresh, err)
	}
	for _, seq := range []string{"fn", "cn", "wWn", "Wnw", "rn", "sdatasdatan", "fcwWrs", "nWnWWnn", "Gn", "fnfnf"} {
		for i, a := range seq {
			out, err := runStdin(p, string(a)+strings.Repeat("x", 3000))
			if err != nil || out != fresh {
				t.Fatalf("sequence %q, request %d (after %q): got %q, %v; want %q", seq, i, seq[:i], out, err, fresh)
			}
		}
	}
	if out, err := runStdin(p, "n"); out != fresh || err != nil {
		t.Fatalf("last request: got %q, %v; want %q", out, err, fresh)
	}
	if n := trackedResets(p); track && wptrack.Available() == nil && n == 0 {
		t.Error("no reset used write-protect tracking, which this kernel has")
	} else if !track && n != 0 {
		t.Errorf("tracked resets with tracking off: %d", n)
	}
	// An instance closed (its memory grew) gives its region back to the
	// pool unregistered.
	if track && wptrack.Available() == nil {
		if p.Idle() != 1 || trackedRanges(t) != 1 {
			t.Fatalf("idle instances %d, ranges registered %d; want 1, 1", p.Idle(), trackedRanges(t))
		}
		if out, err := runStdin(p, "G"); out != fresh || err != nil || p.Idle() != 0 {
			t.Fatalf("grow: got %q, %v, %d idle; want %q, none idle", out, err, p.Idle(), fresh)
		}
		if n := trackedRanges(t); n != 0 {
			t.Errorf("memory ranges registered for write-protect after the instance closed: got %d; want 0", n)
		}
	}
}

// trackedRanges counts the process's mappings registered for
// write-protect faults ("uw" in /proc/self/smaps).
func trackedRanges(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmFlags:") && slices.Contains(strings.Fields(line), "uw") {
			n++
		}
	}
	return n
}

// TestResetTrackedConcurrent: many instances at once, each request a
// random action; every one starts from the fresh memory.
func TestResetTrackedConcurrent(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p := writtenProgram(t, e)
	fresh, err := runStdin(p, "n")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	// Each worker's first request reads stdin only once all eight run, so
	// that eight instances exist at once.
	var arrived sync.WaitGroup
	arrived.Add(8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 40 {
				a := "nfcwWrsG"[rng.IntN(8)]
				var in io.Reader = strings.NewReader(string(a))
				if i == 0 {
					in = &barrierReader{r: in, wg: &arrived}
				}
				var out bytes.Buffer
				err := p.Run(ctx, &Call{Stdin: in, Stdout: &out, Stderr: &out})
				if out := out.String(); err != nil || out != fresh {
					errs <- fmt.Errorf("worker %d request %d (%c): got %q, %v; want %q", g, i, a, out, err, fresh)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reused, _ := e.Reuses(); reused < 100 {
		t.Errorf("requests in a reused instance: got %d of 320; want most", reused)
	}
	if wptrack.Available() == nil && trackedResets(p) == 0 {
		t.Error("no reset used write-protect tracking, which this kernel has")
	}
}

// barrierReader waits for the group before its first read.
type barrierReader struct {
	r    io.Reader
	wg   *sync.WaitGroup
	done bool
}

func (b *barrierReader) Read(p []byte) (int, error) {
	if !b.done {
		b.done = true
		b.wg.Done()
		all := make(chan struct{})
		go func() { b.wg.Wait(); close(all) }()
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			return 0, errors.New("the other requests did not start")
		}
	}
	return b.r.Read(p)
}

// TestResetTrackedMapped: a memory mapped copy-on-write from a memfd, as
// a snapshot's is, written by Go, by the kernel's read() and in a page
// written then restored, is the image after each reset, through tracked
// resets.
func TestResetTrackedMapped(t *testing.T) {
	for _, every := range []int{1, 3, 64} {
		t.Run(fmt.Sprintf("reprotectEvery=%d", every), func(t *testing.T) {
			defer func(old int) { reprotectEvery = old }(reprotectEvery)
			reprotectEvery = every
			testResetTrackedMapped(t)
		})
	}
}

func testResetTrackedMapped(t *testing.T) {
	if err := wptrack.Available(); err != nil {
		t.Skipf("tracking unavailable: %v", err)
	}
	const size = 64 * osPage
	image := make([]byte, size)
	for i := range image {
		image[i] = byte(i * 7 / osPage)
	}
	fd, err := unix.MemfdCreate("reset-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, image, 0); err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	r := &memoryReset{image: image, mapped: true}
	r.canTrack = true
	defer r.untrack()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	writes := []func(){
		func() { mem[3*osPage+1]++ },
		func() { mem[5*osPage] = 0xff; mem[5*osPage] = image[5*osPage] },
		func() {
			if _, err := pw.Write(bytes.Repeat([]byte{0xee}, 2*osPage)); err != nil {
				t.Fatal(err)
			}
			if n, err := pr.Read(mem[10*osPage-100 : 12*osPage-100]); n != 2*osPage || err != nil {
				t.Fatalf("read: %d, %v", n, err)
			}
		},
		func() {},
		func() { copy(mem[40*osPage:], bytes.Repeat([]byte{1}, 3*osPage)) },
		func() { mem[3*osPage+1]++ },
		func() {},
		func() { mem[size-1]++ },
	}
	if err := r.reset(mem); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for i, w := range writes {
			w()
			if err := r.reset(mem); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mem, image) {
				t.Fatalf("round %d write %d: the memory differs from the image after the reset", round, i)
			}
		}
	}
	if r.resets == 0 {
		t.Error("no reset was tracked")
	}
	if want := uint64(9 * osPage); r.owned != want {
		t.Errorf("owned: got %d; want %d (pages 3, 5, 9-11, 40-42, 63)", r.owned, want)
	}
}
