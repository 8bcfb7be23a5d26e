package wasi

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wasigate/wasigate/wasi/internal/wptrack"
)

// TestResetTrackedFallback: when the kernel refuses to track a memory
// (another userfaultfd holds it) or stops tracking it between two resets
// (its range unregistered by a Region that no longer owns it, as an
// instance discarded after its memory went back to the pool does), the
// reset compares instead and the memory is the image after every reset.
func TestResetTrackedFallback(t *testing.T) {
	if err := wptrack.Available(); err != nil {
		t.Skipf("tracking unavailable: %v", err)
	}
	const size = 32 * osPage
	image := make([]byte, size)
	for i := range image {
		image[i] = byte(i / osPage)
	}
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, mem []byte, r *memoryReset)
		track bool // the reset is still tracked after the break
	}{
		{"tracked", func(*testing.T, []byte, *memoryReset) {}, true},
		{"registration refused", func(t *testing.T, mem []byte, r *memoryReset) {
			// Undo the registration, then let another userfaultfd take the range.
			r.untrack()
			fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|1, 0, 0)
			if errno != 0 {
				t.Skipf("userfaultfd: %v", errno)
			}
			t.Cleanup(func() { unix.Close(int(fd)) })
			api := [3]uint64{0xaa, 0, 0}
			if _, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, 0xc018aa3f, uintptr(unsafe.Pointer(&api))); errno != 0 {
				t.Fatal(errno)
			}
			reg := [4]uint64{uint64(uintptr(unsafe.Pointer(&mem[0]))), size, 1 << 1, 0}
			if _, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, 0xc020aa00, uintptr(unsafe.Pointer(&reg))); errno != 0 {
				t.Fatal(errno)
			}
		}, false},
		{"unregistered behind its back", func(t *testing.T, mem []byte, _ *memoryReset) {
			stale, err := wptrack.Register(mem)
			if err != nil {
				t.Fatal(err)
			}
			stale.Close()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Munmap(mem)
			copy(mem, image)
			r := &memoryReset{image: image}
			r.canTrack = true
			defer r.untrack()
			if err := r.reset(mem); err != nil || r.track == nil {
				t.Fatalf("first reset: %v, tracked %v", err, r.track != nil)
			}
			tc.spoil(t, mem, r)
			for i := range 6 {
				mem[(i*5%32)*osPage+7]++
				mem[size-1-i]++
				if err := r.reset(mem); err != nil {
					t.Fatalf("reset %d: %v", i, err)
				}
				if !bytes.Equal(mem, image) {
					t.Fatalf("reset %d: the memory differs from the image", i)
				}
			}
			if got := r.track != nil; got != tc.track {
				t.Errorf("tracked after the resets: got %v; want %v", got, tc.track)
			}
		})
	}
}
