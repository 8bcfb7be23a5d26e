package guestfs

import (
	"fmt"
	"math"
	"os"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

func newQuotaFS(t *testing.T, dir string, max int64) *quotaFS {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return &quotaFS{FS: &rootFS{root: root}, q: &quota{max: max}}
}

func quotaWrite(t *testing.T, f *quotaFS, name string, n int) experimentalsys.File {
	t.Helper()
	file, e := f.OpenFile(name, experimentalsys.O_RDWR|experimentalsys.O_CREAT, 0o600)
	if e != 0 {
		t.Fatalf("open %s: %v", name, e)
	}
	if _, e := file.Write(make([]byte, n)); e != 0 {
		t.Fatalf("write %s: %v", name, e)
	}
	return file
}

// A rename that the kernel makes a no-op (a name onto itself, or onto
// another name of the same file) must not give anything back.
func TestQuotaRenameNoop(t *testing.T) {
	f := newQuotaFS(t, t.TempDir(), 1<<20)
	quotaWrite(t, f, "a", 100000).Close()
	used := f.q.used
	if e := f.Rename("a", "a"); e != 0 {
		t.Fatal(e)
	}
	if f.q.used != used {
		t.Errorf("rename a a: used %d; want %d (the file is still there)", f.q.used, used)
	}
	if e := f.Link("a", "b"); e != 0 {
		t.Fatal(e)
	}
	used = f.q.used
	if e := f.Rename("a", "b"); e != 0 {
		t.Fatal(e)
	}
	if f.q.used != used {
		t.Errorf("rename onto a hard link of itself: used %d; want %d (both names are still there)", f.q.used, used)
	}
}

// A deleted file a descriptor still holds keeps its bytes on disk: they
// are given back only when the last descriptor closes.
func TestQuotaUnlinkOpen(t *testing.T) {
	f := newQuotaFS(t, t.TempDir(), 1<<20)
	var open []experimentalsys.File
	defer func() {
		for _, o := range open {
			o.Close()
		}
	}()
	n := 0
	for i := 0; i < 8; i++ {
		file, e := f.OpenFile("a", experimentalsys.O_RDWR|experimentalsys.O_CREAT, 0o600)
		if e != 0 {
			t.Fatal(e)
		}
		open = append(open, file)
		if _, e := file.Write(make([]byte, 900<<10)); e != 0 {
			break
		}
		n++
		if e := f.Unlink("a"); e != 0 {
			t.Fatal(e)
		}
	}
	if n > 1 {
		t.Errorf("wrote %d files of 900 KiB, unlinked but open, under a 1 MiB quota", n)
	}
	for _, o := range open {
		o.Close()
	}
	open = nil
	f.Unlink("a") // the last one, whose write failed
	if f.q.used != 0 {
		t.Errorf("all closed and deleted: used %d; want 0", f.q.used)
	}
}

// Sizes near MaxInt64 must not wrap the quota's sum (tmpfs, xfs and btrfs
// take a file that large; ext4 refuses it, so the test needs /dev/shm).
func TestQuotaOverflow(t *testing.T) {
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "quota-")
	if err != nil {
		t.Skip(err)
	}
	defer os.RemoveAll(dir)
	f := newQuotaFS(t, dir, 1<<20)
	file := quotaWrite(t, f, "a", 10)
	defer file.Close()
	if e := file.Truncate(math.MaxInt64); e == 0 {
		t.Errorf("truncate to MaxInt64 allowed; used now %d", f.q.used)
	}
	file2 := quotaWrite(t, f, "b", 0)
	defer file2.Close()
	if _, e := file2.Pwrite([]byte("xxxxxxxx"), math.MaxInt64-4); e == 0 {
		t.Errorf("pwrite at MaxInt64-4 allowed; used now %d", f.q.used)
	}
	if f.q.used < 0 || f.q.used > f.q.max {
		t.Errorf("used %d out of [0, %d]", f.q.used, f.q.max)
	}
	if _, e := quotaWrite(t, f, "c", 0).Write(make([]byte, 2<<20)); e == 0 {
		t.Errorf("a 2 MiB write passed a 1 MiB quota")
	}
}

// A write that fails or writes nothing gives back all it took, even past
// the end of the file.
func TestQuotaFailedWriteRefund(t *testing.T) {
	f := newQuotaFS(t, t.TempDir(), 1<<20)
	file := quotaWrite(t, f, "a", 0)
	file.Close()
	used := f.q.used
	ro, e := f.OpenFile("a", experimentalsys.O_RDONLY, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer ro.Close()
	if _, e := ro.Pwrite([]byte("x"), 500000); e == 0 {
		t.Fatal("pwrite on a read-only file succeeded")
	}
	if f.q.used != used {
		t.Errorf("after a failed pwrite: used %d; want %d", f.q.used, used)
	}
	rw, _ := f.OpenFile("a", experimentalsys.O_RDWR, 0)
	defer rw.Close()
	if _, e := rw.Pwrite(nil, 500000); e != 0 {
		t.Fatal(e)
	}
	if f.q.used != used {
		t.Errorf("after an empty pwrite: used %d; want %d", f.q.used, used)
	}
}

// TestQuotaPerFileCharge: each file created costs quotaEntry even when it
// stays empty, so that a guest cannot fill the host's inodes and folders
// with a million empty files; deleting one gives its block back, and a
// create that fails for another reason takes nothing.
func TestQuotaPerFileCharge(t *testing.T) {
	const files = 10
	f := newQuotaFS(t, t.TempDir(), files*quotaEntry)
	create := experimentalsys.O_RDWR | experimentalsys.O_CREAT | experimentalsys.O_EXCL
	made := 0
	for i := range 3 * files {
		file, e := f.OpenFile(fmt.Sprintf("f%d", i), create, 0o600)
		if e != 0 {
			if e != errQuota {
				t.Fatalf("create f%d: got errno %v; want %v (the quota's)", i, e, errQuota)
			}
			break
		}
		file.Close()
		made++
	}
	if made != files || f.q.used != files*quotaEntry {
		t.Fatalf("created %d empty files, used %d, under a quota of %d files' blocks; want %d and %d",
			made, f.q.used, files, files, files*quotaEntry)
	}
	if e := f.Mkdir("d", 0o700); e != errQuota {
		t.Errorf("mkdir with the quota spent: got errno %v; want %v", e, errQuota)
	}
	// A create that fails (it exists: O_EXCL) takes nothing.
	if e := f.Unlink("f0"); e != 0 {
		t.Fatal(e)
	}
	if f.q.used != (files-1)*quotaEntry {
		t.Fatalf("after deleting one: used %d; want %d", f.q.used, (files-1)*quotaEntry)
	}
	if _, e := f.OpenFile("f1", create, 0o600); e != experimentalsys.EEXIST {
		t.Fatalf("create an existing file with O_EXCL: got errno %v; want EEXIST", e)
	}
	file, e := f.OpenFile("again", create, 0o600)
	if e != 0 {
		t.Fatalf("create after a delete and a failed create: got errno %v; want the freed block used", e)
	}
	file.Close()
	// Opening an existing file creates nothing.
	file, e = f.OpenFile("again", experimentalsys.O_RDWR|experimentalsys.O_CREAT, 0o600)
	if e != 0 {
		t.Fatalf("reopen with the quota spent: got errno %v; want 0", e)
	}
	file.Close()
	if f.q.used != files*quotaEntry {
		t.Errorf("at the end: used %d; want %d", f.q.used, files*quotaEntry)
	}
}
