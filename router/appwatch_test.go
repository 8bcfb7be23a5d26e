package router

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// appFolder makes a scripts folder of n Python files in a few subfolders,
// as an application with its own package has, and a handler over it.
func appFolder(tb testing.TB, n int) *scriptsHandler {
	tb.Helper()
	dir := tb.TempDir()
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("pkg%d", i%4))
		if i%4 == 0 {
			sub = dir
		}
		if err := os.MkdirAll(sub, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("m%d.py", i)), []byte("x = 1\n"), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	root, err := openScriptsRoot(dir)
	if err != nil {
		tb.Fatal(err)
	}
	s := &scriptsHandler{dir: dir, root: root, log: zerolog.Nop(), wsgi: wsgiApps{apps: map[string]*wsgiApp{}}}
	tb.Cleanup(func() { s.closeApps(); root.Close() })
	return s
}

// BenchmarkAppSig is what each WSGI request pays to notice an edit, for a
// folder of 40 Python files: with the folder watched (an empty read of the
// event queue) and without (the walk, where watching fails).
func BenchmarkAppSig(b *testing.B) {
	for _, watch := range []bool{true, false} {
		b.Run(map[bool]string{true: "watch", false: "walk"}[watch], func(b *testing.B) {
			s := appFolder(b, 40)
			s.wsgi.watch.off = !watch
			for b.Loop() {
				if _, err := s.appSig(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAppSigNoticesEdits: every kind of edit to a Python file of the
// folder changes the signature at the next call, with no wait between:
// the watch must be exact, as the walk on every request was.
func TestAppSigNoticesEdits(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(fmt.Sprintf("watch=%v", watch), func(t *testing.T) {
			s := appFolder(t, 8)
			if !watch {
				s.wsgi.watch.off = true // as where watching failed
			}
			write := func(rel, text string) {
				p := filepath.Join(s.dir, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			edits := []struct {
				name   string
				edit   func()
				change bool
			}{
				{"nothing", func() {}, false},
				{"same size in place", func() { write("m0.py", "x = 2\n") }, true},
				{"in a subfolder", func() { write("pkg1/m1.py", "x = 3\n") }, true},
				{"a new file", func() { write("pkg2/new.py", "y = 1\n") }, true},
				{"a new subfolder's file", func() { write("pkg9/deep/n.py", "z = 1\n") }, true},
				{"then in that subfolder", func() { write("pkg9/deep/n.py", "z = 2\n") }, true},
				{"touched", func() {
					later := time.Now().Add(time.Hour)
					if err := os.Chtimes(filepath.Join(s.dir, "pkg3", "m3.py"), later, later); err != nil {
						t.Fatal(err)
					}
				}, true},
				{"renamed over", func() {
					write("tmp.txt", "x = 44\n")
					if err := os.Rename(filepath.Join(s.dir, "tmp.txt"), filepath.Join(s.dir, "m4.py")); err != nil {
						t.Fatal(err)
					}
				}, true},
				{"removed", func() {
					if err := os.Remove(filepath.Join(s.dir, "pkg1", "m5.py")); err != nil {
						t.Fatal(err)
					}
				}, true},
				{"a text file", func() { write("notes.txt", "hello\n") }, false},
				{"a hidden folder's file", func() { write(".git/x.py", "hidden\n") }, false},
				{"nothing again", func() {}, false},
			}
			prev, err := s.appSig()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range edits {
				e.edit()
				got, err := s.appSig()
				if err != nil {
					t.Fatal(err)
				}
				if changed := got != prev; changed != e.change {
					t.Errorf("%s: signature changed %v; want %v", e.name, changed, e.change)
				}
				prev = got
			}
			if watch && (s.wsgi.watch.w == nil || s.wsgi.watch.off) {
				t.Errorf("watching stopped (off %v); want it on for a local folder", s.wsgi.watch.off)
			}
		})
	}
}

// TestAppSigWatchClosed: a retired route's watch gives back its
// descriptor, and a late call still answers by walking.
func TestAppSigWatchClosed(t *testing.T) {
	s := appFolder(t, 4)
	before := openFDs(t)
	if _, err := s.appSig(); err != nil {
		t.Fatal(err)
	}
	s.closeApps()
	if got := openFDs(t); got != before {
		t.Errorf("open descriptors after close: got %d; want %d, as before the watch", got, before)
	}
	sig, err := s.appSig()
	if err != nil || sig == "" {
		t.Errorf("after close: got %q, %v; want a signature by walking", sig, err)
	}
}
