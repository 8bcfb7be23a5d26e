//go:build unix

package snap

import "golang.org/x/sys/unix"

// reserve maps size bytes of anonymous memory without reserving swap for
// it: pages cost nothing until the guest touches them.
func reserve(size uint64) ([]byte, error) {
	return unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
}

// release drops the pages of b; the next read of them sees zeros.
func release(b []byte) error {
	return unix.Madvise(b, unix.MADV_DONTNEED)
}

func unreserve(b []byte) { _ = unix.Munmap(b) }
