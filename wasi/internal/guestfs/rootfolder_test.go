package guestfs

import (
	"io/fs"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// TestWithRoot: the empty root comes after the volumes, and a volume
// mounted at "/" is kept instead.
func TestWithRoot(t *testing.T) {
	vol := Mount{Guest: "/data"}
	got := withRoot([]Mount{vol})
	if len(got) != 2 || got[0].Guest != "/data" || got[1].Guest != "/" {
		t.Fatalf("withRoot: got %+v; want /data then /", got)
	}
	if _, ok := got[1].FS.(emptyRoot); !ok {
		t.Errorf("withRoot: root is %T; want emptyRoot", got[1].FS)
	}
	own := Mount{Guest: "/", Host: "/srv"}
	if got := withRoot([]Mount{vol, own}); len(got) != 2 || got[1].Host != "/srv" {
		t.Errorf("withRoot with a volume at /: got %+v; want it unchanged", got)
	}
}

// TestEmptyRoot: in the empty root everything is absent (ENOENT), "." is
// an empty read-only folder, and nothing can be created.
func TestEmptyRoot(t *testing.T) {
	root := withRoot(nil)[0].FS
	for _, p := range []string{"nonexistent/x", "etc/passwd", "x"} {
		if _, e := root.OpenFile(p, experimentalsys.O_RDONLY, 0); e != experimentalsys.ENOENT {
			t.Errorf("open %s: got %v; want ENOENT", p, e)
		}
		if _, e := root.Stat(p); e != experimentalsys.ENOENT {
			t.Errorf("stat %s: got %v; want ENOENT", p, e)
		}
	}
	if _, e := root.OpenFile("new", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o644); e == 0 {
		t.Errorf("create new: got success; want an error")
	}
	if e := root.Mkdir("d", 0o755); e == 0 {
		t.Errorf("mkdir d: got success; want an error")
	}
	st, e := root.Stat(".")
	if e != 0 || !fs.FileMode(st.Mode).IsDir() {
		t.Fatalf("stat .: got %v mode %v; want a folder", e, st.Mode)
	}
	d, e := root.OpenFile(".", experimentalsys.O_RDONLY, 0)
	if e != 0 {
		t.Fatalf("open .: %v", e)
	}
	defer d.Close()
	entries, e := d.Readdir(-1)
	if e != 0 || len(entries) != 0 {
		t.Errorf("readdir .: got %d entries, %v; want none", len(entries), e)
	}
}
