package router

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestAppSigHostileEdits: edits that reach a Python file of the folder
// other than through its folder's entries, or after its folder was
// replaced, or among more events than the kernel's queue holds, change
// the signature at the next call, as the walk on every request did.
func TestAppSigHostileEdits(t *testing.T) {
	outside := t.TempDir()
	for _, watch := range []bool{true, false} {
		t.Run(fmt.Sprintf("watch=%v", watch), func(t *testing.T) {
			s := appFolder(t, 8)
			s.wsgi.watch.off = !watch
			write := func(p, text string) {
				t.Helper()
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			link := filepath.Join(outside, fmt.Sprintf("link%v.py", watch))
			must(os.Link(filepath.Join(s.dir, "m0.py"), link))
			edits := []struct {
				name   string
				edit   func()
				change bool
			}{
				{"a hard link made from another folder", func() {}, false},
				{"written through that link", func() { write(link, "x = 99\n") }, true},
				{"a folder removed", func() { must(os.RemoveAll(filepath.Join(s.dir, "pkg1"))) }, true},
				{"and made again", func() { write(filepath.Join(s.dir, "pkg1", "m1.py"), "x = 5\n") }, true},
				{"then edited in it", func() { write(filepath.Join(s.dir, "pkg1", "m1.py"), "x = 6\n") }, true},
				{"a folder renamed in the tree", func() {
					must(os.Rename(filepath.Join(s.dir, "pkg2"), filepath.Join(s.dir, "pkg7")))
				}, true},
				{"then edited in it", func() { write(filepath.Join(s.dir, "pkg7", "m2.py"), "x = 7\n") }, true},
				{"more events than the queue holds, then an edit", func() {
					// Two names in turn: the kernel merges only an event
					// identical to the last one queued.
					a, b := filepath.Join(s.dir, "pkg3", "a.txt"), filepath.Join(s.dir, "pkg3", "b.txt")
					write(a, "")
					write(b, "")
					for range 17000 {
						must(os.Chtimes(a, time.Time{}, time.Now()))
						must(os.Chtimes(b, time.Time{}, time.Now()))
					}
					write(filepath.Join(s.dir, "pkg3", "m3.py"), "x = 8\n")
				}, true},
			}
			prev, err := s.appSig()
			must(err)
			for _, e := range edits {
				e.edit()
				got, err := s.appSig()
				must(err)
				if changed := got != prev; changed != e.change {
					t.Errorf("%s: signature changed %v; want %v", e.name, changed, e.change)
				}
				prev = got
			}
		})
	}
}

// inotifyWatches counts the watches of the inotify descriptor fd.
func inotifyWatches(t *testing.T, fd int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		t.Skipf("no fdinfo: %v", err)
	}
	return strings.Count(string(b), "inotify wd:")
}

// TestAppSigWatchBounded: a guest with a writable volume under the scripts
// folder makes folders at will. The watches one application holds must
// stay bounded (the limit is the user's, shared with every route and the
// configuration's watch): past the bound the route walks, logs why, and
// still notices edits.
func TestAppSigWatchBounded(t *testing.T) {
	s := appFolder(t, 4)
	var logged strings.Builder
	s.log = zerolog.New(&logged)
	for i := range maxWatchedDirs + 50 {
		if err := os.MkdirAll(filepath.Join(s.dir, "upload", fmt.Sprintf("d%d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.appSig(); err != nil {
		t.Fatal(err)
	}
	a := &s.wsgi.watch
	if a.w != nil {
		if n := inotifyWatches(t, a.w.fd); n > maxWatchedDirs+4 {
			t.Errorf("one application holds %d watches; want at most %d", n, maxWatchedDirs+4)
		}
	} else if !strings.Contains(logged.String(), "cannot be watched") {
		t.Errorf("watching stopped without a log line; got %q", logged.String())
	}
	before, err := s.appSig()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "m0.py"), []byte("x = 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if after, err := s.appSig(); err != nil || after == before {
		t.Errorf("an edit past the bound: signature %q then %q, %v; want a change", before, after, err)
	}
}

// TestAppSigConcurrentRetire: requests noticing edits while files change
// and the route is retired under them: no race (go test -race), no
// descriptor left, and every call still answers.
func TestAppSigConcurrentRetire(t *testing.T) {
	s := appFolder(t, 8)
	before := openFDs(t)
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if _, err := s.appSig(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 200 {
		if err := os.WriteFile(filepath.Join(s.dir, "m0.py"), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if i == 100 {
			s.closeApps()
		}
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("a call while retiring: %v", err)
		}
	}
	if got := openFDs(t); got != before {
		t.Errorf("open descriptors after retiring: got %d; want %d", got, before)
	}
}
