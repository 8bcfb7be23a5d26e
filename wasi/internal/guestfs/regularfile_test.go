package guestfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// TestVolumesRefuseFIFOs drives each guest file system (read-only volume,
// writable volume, scratch folder) directly: opening a FIFO for reading or
// writing gets EACCES at once instead of waiting in open(2) for the other
// end, stat still sees it as a FIFO, and regular files and folders open
// as before. Each open runs against its own deadline, so that a file
// system that blocks fails the test instead of hanging it.
func TestVolumesRefuseFIFOs(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok.txt"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("pipe", filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	// Let any open stuck on the FIFO go when the test ends.
	defer func() {
		if f, err := os.OpenFile(filepath.Join(dir, "pipe"), os.O_RDWR, 0); err == nil {
			f.Close()
		}
	}()
	systems := map[string]experimentalsys.FS{
		"read-only": newReadOnlyFS(root),
		"writable":  &rootFS{root: root},
		"scratch":   &quotaFS{FS: &rootFS{root: root}, q: &quota{max: 1 << 20}},
	}
	open := func(fsys experimentalsys.FS, p string, flag experimentalsys.Oflag) experimentalsys.Errno {
		done := make(chan experimentalsys.Errno, 1)
		go func() {
			f, e := fsys.OpenFile(p, flag, 0o644)
			if e == 0 {
				f.Close()
			}
			done <- e
		}()
		select {
		case e := <-done:
			return e
		case <-time.After(2 * time.Second):
			t.Fatalf("open %s (flags %v) still blocked after 2s", p, flag)
			return 0
		}
	}
	for name, fsys := range systems {
		t.Run(name, func(t *testing.T) {
			flags := []experimentalsys.Oflag{experimentalsys.O_RDONLY}
			if name != "read-only" {
				flags = append(flags, experimentalsys.O_WRONLY, experimentalsys.O_WRONLY|experimentalsys.O_CREAT|experimentalsys.O_TRUNC)
			}
			for _, p := range []string{"pipe", "link.txt"} {
				for _, fl := range flags {
					if e := open(fsys, p, fl); e != experimentalsys.EACCES {
						t.Errorf("open %s (flags %v): got errno %v; want EACCES", p, fl, e)
					}
				}
			}
			for _, p := range []string{"ok.txt", "."} {
				if e := open(fsys, p, experimentalsys.O_RDONLY); e != 0 {
					t.Errorf("open %s: got errno %v; want 0", p, e)
				}
			}
			st, e := fsys.Stat("pipe")
			if e != 0 || st.Mode&os.ModeNamedPipe == 0 {
				t.Errorf("stat pipe: got mode %v errno %v; want a named pipe", st.Mode, e)
			}
		})
	}
}
