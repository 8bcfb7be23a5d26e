package guestfs

import (
	"os"
	"path/filepath"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// TestRootFSConfined drives the writable volume's file system directly:
// every way out of the folder is refused, and the host folder beside it
// is left as it was.
func TestRootFSConfined(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "vol")
	for _, d := range []string{vol, filepath.Join(dir, "outside")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "outside", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside", filepath.Join(vol, "out")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(vol)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	r := &rootFS{root: root}
	create := experimentalsys.O_CREAT | experimentalsys.O_WRONLY | experimentalsys.O_TRUNC

	open := func(p string) experimentalsys.Errno {
		f, e := r.OpenFile(p, create, 0o644)
		if e == 0 {
			f.Close()
		}
		return e
	}
	for _, tc := range []struct {
		name string
		op   func() experimentalsys.Errno
		want experimentalsys.Errno
	}{
		{"create inside", func() experimentalsys.Errno { return open("/new.txt") }, 0},
		// ".." stops at the volume's root, as in a chroot: this names
		// vol/outside/new, whose folder does not exist.
		{"create through dot-dot", func() experimentalsys.Errno { return open("../outside/new") }, experimentalsys.ENOENT},
		{"create through a link out", func() experimentalsys.Errno { return open("out/new") }, experimentalsys.EPERM},
		{"mkdir through a link out", func() experimentalsys.Errno { return r.Mkdir("out/d", 0o755) }, experimentalsys.EPERM},
		{"rename through dot-dot", func() experimentalsys.Errno { return r.Rename("new.txt", "../outside/moved") }, experimentalsys.ENOENT},
		{"rename through a link out", func() experimentalsys.Errno { return r.Rename("new.txt", "out/moved") }, experimentalsys.EPERM},
		{"unlink through a link out", func() experimentalsys.Errno { return r.Unlink("out/f") }, experimentalsys.EPERM},
		{"symlink to an absolute path", func() experimentalsys.Errno { return r.Symlink("/etc", "etc") }, experimentalsys.EPERM},
		{"symlink leaving the folder", func() experimentalsys.Errno { return r.Symlink("../outside", "out2") }, experimentalsys.EPERM},
		// No link at all, since its text does not tell where it
		// will lead.
		{"symlink inside refused", func() experimentalsys.Errno { return r.Symlink("new.txt", "alias") }, experimentalsys.EPERM},
		{"symlink to dot refused", func() experimentalsys.Errno { return r.Symlink(".", "A") }, experimentalsys.EPERM},
		{"mkdir inside", func() experimentalsys.Errno { return r.Mkdir("d", 0o755) }, 0},
		{"rmdir a file", func() experimentalsys.Errno { return r.Rmdir("new.txt") }, experimentalsys.ENOTDIR},
		{"unlink a folder", func() experimentalsys.Errno { return r.Unlink("d") }, experimentalsys.EISDIR},
		{"rmdir inside", func() experimentalsys.Errno { return r.Rmdir("d") }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.op(); got != tc.want {
				t.Errorf("errno %v; want %v", got, tc.want)
			}
		})
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "outside"))
	if len(ents) != 1 {
		t.Errorf("outside holds %d entries; want only the original f", len(ents))
	}
}

// TestRoots: opening a folder again gives the same os.Root; a folder
// replaced at the same path gets a root of its own, which sees the new
// folder; Close closes them all.
func TestRoots(t *testing.T) {
	var roots Roots
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first, err := roots.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := roots.Open(dir); err != nil || again != first {
		t.Fatalf("Open again: got %p, %v; want the first root %p", again, err, first)
	}
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "new.txt"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := roots.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatal("a folder replaced at the same path kept its old root")
	}
	if _, err := second.Stat("new.txt"); err != nil {
		t.Errorf("the new root does not see the new folder: %v", err)
	}
	roots.Close()
	if _, err := second.Stat("new.txt"); err == nil {
		t.Error("Close left a root open")
	}
}
