package hostlock

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// sqlite's lock bytes (os.h): what the tests lock, as sqlite would.
const (
	pendingByte  = 0x40000000
	reservedByte = pendingByte + 1
	sharedFirst  = pendingByte + 2
	sharedSize   = 510
)

func volume(t *testing.T, writable bool) (string, Mount) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.db"), []byte("db"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, Mount{Guest: "/data", Root: root, Writable: writable}
}

// TestTwoInstances: two tables (two instances of one process) exclude
// each other as two processes would, and Close releases what one held.
func TestTwoInstances(t *testing.T) {
	_, m := volume(t, true)
	a, b := New([]Mount{m}, 8), New([]Mount{m}, 8)
	defer b.Close()
	steps := []struct {
		name  string
		tab   *Table
		typ   Type
		start int64
		len   int64
		want  Errno
	}{
		{"a shared", a, Read, sharedFirst, sharedSize, OK},
		{"b shared too", b, Read, sharedFirst, sharedSize, OK},
		{"a reserved", a, Write, reservedByte, 1, OK},
		{"b reserved is busy", b, Write, reservedByte, 1, EAGAIN},
		{"b drops shared", b, Unlock, sharedFirst, sharedSize, OK},
		{"a exclusive", a, Write, sharedFirst, sharedSize, OK},
		{"b shared is busy", b, Read, sharedFirst, sharedSize, EAGAIN},
		{"a's own range again", a, Write, sharedFirst, sharedSize, OK},
	}
	for _, s := range steps {
		if got := s.tab.Set("/data/app.db", s.typ, s.start, s.len); got != s.want {
			t.Fatalf("%s: got errno %d; want %d", s.name, got, s.want)
		}
	}
	if typ, e := b.Get("/data/app.db", Write, reservedByte, 1); e != OK || typ != Write {
		t.Fatalf("b's F_GETLK on the reserved byte: got %d, errno %d; want Write, 0", typ, e)
	}
	if typ, e := a.Get("/data/app.db", Write, reservedByte, 1); e != OK || typ != Unlock {
		t.Fatalf("a's F_GETLK on its own reserved byte: got %d, errno %d; want Unlock, 0", typ, e)
	}
	if n := a.Files(); n != 1 {
		t.Errorf("a holds %d host files; want 1", n)
	}
	a.Close() // the instance ended without unlocking: a trap, a deadline
	if got := b.Set("/data/app.db", Write, sharedFirst, sharedSize); got != OK {
		t.Fatalf("b exclusive after a closed: got errno %d; want 0", got)
	}
	if got := a.Set("/data/app.db", Read, sharedFirst, sharedSize); got != ENOLCK {
		t.Errorf("a lock after Close: got errno %d; want ENOLCK (%d)", got, ENOLCK)
	}
}

// TestNativeLock: a classic fcntl lock (what native sqlite3 and any other
// process set) and the table's locks exclude each other.
func TestNativeLock(t *testing.T) {
	dir, m := volume(t, true)
	f, err := os.OpenFile(filepath.Join(dir, "app.db"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: reservedByte, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	tab := New([]Mount{m}, 8)
	defer tab.Close()
	if got := tab.Set("/data/app.db", Write, reservedByte, 1); got != EAGAIN {
		t.Fatalf("reserved under a native writer: got errno %d; want EAGAIN", got)
	}
	if got := tab.Set("/data/app.db", Read, sharedFirst, sharedSize); got != OK {
		t.Fatalf("shared beside a native reserved: got errno %d; want 0", got)
	}
	lk = unix.Flock_t{Type: unix.F_WRLCK, Start: sharedFirst, Len: sharedSize}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err == nil {
		t.Fatal("native exclusive over the table's shared lock succeeded; want EAGAIN")
	}
}

// TestRefused: what a guest may not lock, and why.
func TestRefused(t *testing.T) {
	dir, rw := volume(t, true)
	_, ro := volume(t, false)
	ro.Guest = "/ro"
	outside := filepath.Join(t.TempDir(), "secret.db")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		typ        Type
		start, len int64
		want       Errno
	}{
		{"write lock on a read-only volume", "/ro/app.db", Write, reservedByte, 1, EBADF},
		{"read lock on a read-only volume", "/ro/app.db", Read, sharedFirst, sharedSize, OK},
		{"outside every volume", "/etc/passwd", Read, 0, 1, ENOENT},
		{"dot-dot out of the volume", "/data/../etc/passwd", Read, 0, 1, ENOENT},
		{"a link out of the volume", "/data/link.db", Read, 0, 1, EPERM},
		{"relative path", "data/app.db", Read, 0, 1, EINVAL},
		{"missing file", "/data/none.db", Read, 0, 1, ENOENT},
		{"a folder", "/data/sub", Read, 0, 1, EINVAL},
		{"a fifo (must not wait for a writer)", "/data/fifo", Read, 0, 1, EINVAL},
		{"negative start", "/data/app.db", Read, -1, 1, EINVAL},
		{"negative length", "/data/app.db", Read, 0, -1, EINVAL},
		{"overflowing range", "/data/app.db", Read, 1 << 62, 1 << 62, EINVAL},
		{"unknown type", "/data/app.db", 7, 0, 1, EINVAL},
		{"unlock of a file never locked", "/data/none.db", Unlock, 0, 0, OK},
	}
	tab := New([]Mount{rw, ro}, 8)
	defer tab.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tab.Set(tt.path, tt.typ, tt.start, tt.len); got != tt.want {
				t.Fatalf("Set(%q): got errno %d; want %d", tt.path, got, tt.want)
			}
		})
	}
}

// TestCap: a table holds at most max host files and paths, and two paths
// of one file share one descriptor.
func TestCap(t *testing.T) {
	dir, m := volume(t, true)
	for _, n := range []string{"b.db", "c.db"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "app.db"), filepath.Join(dir, "alias.db")); err != nil {
		t.Fatal(err)
	}
	tab := New([]Mount{m}, 3)
	defer tab.Close()
	for _, p := range []string{"/data/app.db", "/data/alias.db", "/data/b.db"} {
		if got := tab.Set(p, Read, 0, 1); got != OK {
			t.Fatalf("Set(%s): got errno %d; want 0", p, got)
		}
	}
	if n := tab.Files(); n != 2 {
		t.Errorf("%d host files for app.db, its hard link and b.db; want 2", n)
	}
	if got := tab.Set("/data/c.db", Read, 0, 1); got != EMFILE {
		t.Errorf("a fourth path over a cap of 3: got errno %d; want EMFILE", got)
	}
}
