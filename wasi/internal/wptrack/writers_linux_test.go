package wptrack

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// trackedMemories maps size bytes twice, as a pooled memory is: anonymous,
// and copy-on-write from a memfd (a snapshot's image).
func trackedMemories(t *testing.T, size int) map[string][]byte {
	t.Helper()
	anon, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(anon) })
	fd, err := unix.MemfdCreate("wptrack-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Pwrite(fd, []byte("image"), 0); err != nil {
		t.Fatal(err)
	}
	mapped, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(mapped) })
	return map[string][]byte{"anonymous": anon, "memfd": mapped}
}

func listed(rs []Range, off uint64) bool {
	for _, r := range rs {
		if off >= r.Start && off < r.End {
			return true
		}
	}
	return false
}

// TestWritersListed: every way the host process can write a page of a
// guest's memory clears its protect bit, the kernel's too (copies to user
// memory, pinning the page for a write as O_DIRECT and
// process_vm_writev do, /proc/self/mem's forced write), and a write from
// another thread that wrote the page before it was protected again (a
// stale TLB entry would let that one through). Each page is tried
// untouched and already mapped for reading.
func TestWritersListed(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("tracking unavailable: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, make([]byte, 2*pageSize), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	direct, directErr := unix.Open(file, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if directErr == nil {
		defer unix.Close(direct)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	self, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	thread := make(chan []byte)
	wrote := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		for b := range thread {
			b[1]++
			wrote <- struct{}{}
		}
	}()
	defer close(thread)

	writers := []struct {
		name  string
		write func(b []byte) error
	}{
		{"store", func(b []byte) error { b[7]++; return nil }},
		{"store of the same byte", func(b []byte) error { v := b[7]; b[7] = v + 1; b[7] = v; return nil }},
		{"pipe read", func(b []byte) error {
			if _, err := pw.Write([]byte("zz")); err != nil {
				return err
			}
			_, err := pr.Read(b[:2])
			return err
		}},
		{"pread", func(b []byte) error { _, err := f.ReadAt(b[:5], pageSize); return err }},
		{"O_DIRECT read", func(b []byte) error {
			if directErr != nil {
				b[0]++ // the file system refuses O_DIRECT
				return nil
			}
			_, err := unix.Pread(direct, b[:pageSize], 0)
			return err
		}},
		{"getrandom", func(b []byte) error { _, err := unix.Getrandom(b[:16], 0); return err }},
		{"readlink", func(b []byte) error { _, err := unix.Readlink("/proc/self/exe", b[:64]); return err }},
		{"recv", func(b []byte) error {
			if _, err := unix.Write(sp[0], []byte("sock")); err != nil {
				return err
			}
			_, err := unix.Read(sp[1], b[:4])
			return err
		}},
		{"process_vm_writev", func(b []byte) error {
			src := []byte("remote")
			_, err := unix.ProcessVMWritev(os.Getpid(), []unix.Iovec{{Base: &src[0], Len: uint64(len(src))}},
				[]unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(&b[0])), Len: len(src)}}, 0)
			return err
		}},
		{"/proc/self/mem", func(b []byte) error {
			_, err := self.WriteAt([]byte("pm"), int64(uintptr(unsafe.Pointer(&b[0]))))
			return err
		}},
		{"another thread", func(b []byte) error { thread <- b; <-wrote; return nil }},
	}
	const size = 64 * pageSize
	for kind, mem := range trackedMemories(t, size) {
		r, err := Register(mem)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		for i, w := range writers {
			for _, read := range []bool{false, true} {
				off := uint64(2*i+1) * pageSize
				if read {
					off += 32 * pageSize
					_ = mem[off+100]
				}
				for round := range 3 {
					if _, err := r.Written(nil, true); err != nil {
						t.Fatal(err)
					}
					if err := w.write(mem[off:]); err != nil {
						t.Fatalf("%s, %s: %v", kind, w.name, err)
					}
					got, err := r.Written(nil, false)
					if err != nil {
						t.Fatal(err)
					}
					if !listed(got, off) {
						t.Errorf("%s, %s (read first %v, round %d): listed %v; want page %d among them",
							kind, w.name, read, round, got, off/pageSize)
					}
				}
			}
		}
		r.Close()
	}
}

// TestWrittenManyRanges: more written ranges than one PAGEMAP_SCAN call
// returns are all listed, the scan going on from where it stopped.
func TestWrittenManyRanges(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("tracking unavailable: %v", err)
	}
	const pages = 1200
	for kind, mem := range trackedMemories(t, pages*pageSize) {
		r, err := Register(mem)
		if err != nil {
			t.Fatal(err)
		}
		for _, protect := range []bool{true, false} {
			for p := 0; p < pages; p += 2 {
				mem[p*pageSize+3]++
			}
			got, err := r.Written(nil, protect)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != pages/2 {
				t.Errorf("%s (protect %v): got %d ranges; want %d", kind, protect, len(got), pages/2)
			}
			for p := 0; p < pages; p += 2 {
				if !listed(got, uint64(p)*pageSize) {
					t.Errorf("%s (protect %v): page %d written and not listed", kind, protect, p)
					break
				}
			}
		}
		r.Close()
	}
}

// TestWrittenAfterStaleClose: a memory closed by a Region that no longer
// owns it (an instance discarded after its region went back to the pool
// and to another instance) makes Written fail, so that the caller falls
// back to comparing, rather than list nothing.
func TestWrittenAfterStaleClose(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("tracking unavailable: %v", err)
	}
	for kind, mem := range trackedMemories(t, 16*pageSize) {
		stale, err := Register(mem)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Register(mem)
		if err != nil {
			t.Fatal(err)
		}
		stale.Close()
		mem[3*pageSize]++
		got, err := r.Written(nil, false)
		if err == nil && !listed(got, 3*pageSize) {
			t.Errorf("%s: got %v and no error; want page 3 listed or an error", kind, got)
		}
		r.Close()
	}
}

// TestWrittenHugePages: a memory the kernel backs with transparent huge
// pages (where a host enables them for every mapping) is tracked per 4 KiB
// page: a huge page protected whole is split by the first write, and a
// huge zero page mapped by a read is listed, not lost.
func TestWrittenHugePages(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("tracking unavailable: %v", err)
	}
	const huge = 2 << 20
	raw, err := unix.Mmap(-1, 0, 3*huge, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(raw)
	skip := (huge - int(uintptr(unsafe.Pointer(&raw[0])))%huge) % huge
	mem := raw[skip : skip+2*huge]
	if err := unix.Madvise(mem, unix.MADV_HUGEPAGE); err != nil {
		t.Skipf("no transparent huge pages: %v", err)
	}
	for i := 0; i < huge; i += pageSize {
		mem[i] = 1 // the first huge page written whole
	}
	_ = mem[huge+5] // the second read: the huge zero page
	if !hugeMapped() {
		t.Skip("the kernel gave no huge page")
	}
	r, err := Register(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for round := range 3 {
		if _, err := r.Written(nil, true); err != nil {
			t.Fatal(err)
		}
		off := uint64(round*37+3) * pageSize
		mem[off]++
		mem[huge+off]++
		got, err := r.Written(nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if !listed(got, off) || !listed(got, huge+off) {
			t.Errorf("round %d: listed %v; want pages %d and %d among them", round, got, off/pageSize, (huge+off)/pageSize)
		}
		n := uint64(0)
		for _, g := range got {
			n += g.End - g.Start
		}
		if n != 2*pageSize {
			t.Logf("round %d: %d bytes listed for 2 pages written: %v", round, n, got)
		}
	}
}

// hugeMapped reports whether the process has an anonymous huge page.
func hugeMapped() bool {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "AnonHugePages:" {
			return f[1] != "0"
		}
	}
	return false
}
