package wasi

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// watchedHelper returns the files CPython's init reads in a scripts folder
// to import helper.py from it (the module, a package of that name and the
// byte code, both absent), as a source watching /cgi-bin lists them.
func watchedHelper(t testing.TB) (dir string, files []watchFile) {
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "helper.py"), []byte("VALUE = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	src := &snapSrc{watch: []string{"/cgi-bin"}, watchRoots: map[string]*os.Root{"/cgi-bin": root}}
	var deps []snap.Dep
	for _, p := range []string{".", "helper", "helper.py", "__pycache__/helper.cpython-311.pyc"} {
		deps = append(deps, snap.Dep{Dir: "/cgi-bin", Path: p, Sig: snap.Fingerprint(root, p)})
	}
	deps = append(deps, snap.Dep{Dir: "/usr/lib", Path: "json.py", Sig: "absent"}) // not watched
	return dir, src.watchList(deps)
}

// TestEditChanged: the folder itself and unwatched volumes are left out;
// an edit that keeps the size and the modification time is a change, as
// is the appearance of a path the init found absent.
func TestEditChanged(t *testing.T) {
	dir, files := watchedHelper(t)
	var got []string
	for _, f := range files {
		got = append(got, f.guest)
	}
	if want := []string{"/cgi-bin/helper", "/cgi-bin/helper.py", "/cgi-bin/__pycache__/helper.cpython-311.pyc"}; !slices.Equal(got, want) {
		t.Fatalf("watched %q; want %q", got, want)
	}
	if c := changed(files); len(c) != 0 {
		t.Fatalf("changed %q before any edit; want none", c)
	}
	// Another file of the folder: the folder changes, not a watched file.
	if err := os.WriteFile(filepath.Join(dir, "other.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if c := changed(files); len(c) != 0 {
		t.Fatalf("changed %q after a new file the init did not read; want none", c)
	}
	p := filepath.Join(dir, "helper.py")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a change time of its own
	if err := os.WriteFile(p, []byte("VALUE = 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if c := changed(files); !slices.Equal(c, []string{"/cgi-bin/helper.py"}) {
		t.Fatalf("changed %q after a same-size edit, modification time put back; want [/cgi-bin/helper.py]", c)
	}
	files = now(files)
	if err := os.Mkdir(filepath.Join(dir, "helper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if c := changed(files); !slices.Equal(c, []string{"/cgi-bin/helper"}) {
		t.Fatalf("changed %q after a package appeared; want [/cgi-bin/helper]", c)
	}
}

// BenchmarkEditCheck is what a request to a watched interpreter adds: a
// stat of each file its init read in the scripts folder.
func BenchmarkEditCheck(b *testing.B) {
	_, files := watchedHelper(b)
	for b.Loop() {
		if len(changed(files)) != 0 {
			b.Fatal("changed")
		}
	}
}
