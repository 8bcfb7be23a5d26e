package guestfs

import (
	"path"
	"strings"
	"testing"
)

// The preopens of a Python route: the stdlib, site-packages inside it, the
// scripts folder, a data volume, then the empty root.
var pyPreopens = Preopens([]Mount{
	{Guest: "/usr/local/lib/python3.11"}, {Guest: "/usr/local/lib/python3.11/dist-packages"},
	{Guest: "/cgi-bin"}, {Guest: "/data"},
})

func TestPreopens(t *testing.T) {
	want := "/usr/local/lib/python3.11 /usr/local/lib/python3.11/dist-packages /cgi-bin /data /"
	if got := strings.Join(pyPreopens, " "); got != want {
		t.Errorf("Preopens: got %q; want %q", got, want)
	}
	if got := Preopens(nil); got != nil {
		t.Errorf("Preopens(nil): got %q; want nil (nothing preopened)", got)
	}
	if got := Preopens([]Mount{{Guest: "/"}}); len(got) != 1 || got[0] != "/" {
		t.Errorf("Preopens of a volume at /: got %q; want [/]", got)
	}
}

func TestResolve(t *testing.T) {
	const stdlib, site, cgi, data, root = 0, 1, 2, 3, 4
	cases := []struct {
		from    int
		p       string
		wantOK  bool
		wantJ   int
		wantRel string
	}{
		{cgi, "../etc/passwd", true, root, "etc/passwd"},
		{cgi, "..", true, root, "."},
		{cgi, "../", true, root, "."},
		{cgi, "../../../x", true, root, "x"},
		{cgi, "../data/f", true, data, "f"},
		{cgi, "../data", true, data, "."},
		{cgi, "../data/sub/", true, data, "sub/"},
		{data, "./../cgi-bin/./a/../f", true, cgi, "f"},
		{site, "../os.py", true, stdlib, "os.py"},
		{site, "../dist-packages/bottle.py", true, site, "bottle.py"},
		{site, "../../x", true, root, "usr/local/lib/x"},
		{root, "../x", true, root, "x"},
		{root, "../cgi-bin/f", true, cgi, "f"},
		// ".." that leads into another preopen, or under a nested one.
		{root, "x/../data/f", true, data, "f"},
		{root, "usr/../usr/local/lib/python3.11/os.py", true, stdlib, "os.py"},
		{stdlib, "x/../dist-packages/bottle.py", true, site, "bottle.py"},
		// Paths that stay inside their folder are wazero's to resolve.
		{cgi, "f", false, 0, ""},
		{cgi, "a/../f", false, 0, ""},
		{root, "x/../y", false, 0, ""},
		{stdlib, "x/../os.py", false, 0, ""},
		{cgi, "..f", false, 0, ""},
		{cgi, "/etc/passwd", false, 0, ""},
		{cgi, ".", false, 0, ""},
		// Not a preopen: a folder the guest opened, whose path is not known.
		{7, "../x", false, 0, ""},
		{-1, "../x", false, 0, ""},
	}
	for _, c := range cases {
		j, rel, ok := Resolve(pyPreopens, c.from, c.p)
		if ok != c.wantOK || j != c.wantJ || rel != c.wantRel {
			t.Errorf("Resolve(%s, %q): got %d %q %v; want %d %q %v", pyPreopens[max(0, min(c.from, 4))], c.p, j, rel, ok, c.wantJ, c.wantRel, c.wantOK)
		}
	}
	// Without the empty root (no volume at "/"), a path outside every
	// volume is left as it was.
	if _, _, ok := Resolve([]string{"/a", "/b"}, 0, "../c"); ok {
		t.Errorf("Resolve outside every preopen: got ok; want not ok")
	}
	if j, rel, ok := Resolve([]string{"/a", "/b"}, 0, "../b/f"); !ok || j != 1 || rel != "f" {
		t.Errorf("Resolve(/a, ../b/f): got %d %q %v; want 1 \"f\" true", j, rel, ok)
	}
}

// FuzzResolve: whatever the path, Resolve's answer is a path free of ".."
// inside the preopen it names, and that preopen with it is the path the
// guest meant, resolved lexically.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"../x", "..", "../../data/f", "../cgi-bin/../data/./f/", "a/../../b", "../dist-packages/x"} {
		f.Add(2, s)
		f.Add(1, s)
	}
	f.Fuzz(func(t *testing.T, i int, p string) {
		j, rel, ok := Resolve(pyPreopens, i, p)
		if !ok {
			if i >= 0 && i < len(pyPreopens) && climbs(p) {
				t.Fatalf("Resolve(%d, %q): not ok for a climbing path with an empty root", i, p)
			}
			// Left as it was: wazero's own cleaning finds the same file.
			if i >= 0 && i < len(pyPreopens) && !strings.HasPrefix(p, "/") {
				for _, pre := range pyPreopens {
					if len(pre) > len(pyPreopens[i]) && within(path.Join(pyPreopens[i], p), pre) && hasDotDot(p) {
						t.Fatalf("Resolve(%d, %q): left alone, but preopen %s holds it", i, p, pre)
					}
				}
			}
			return
		}
		if j < 0 || j >= len(pyPreopens) {
			t.Fatalf("Resolve(%d, %q): preopen %d out of range", i, p, j)
		}
		if c := path.Clean(rel); c == ".." || strings.HasPrefix(c, "../") || strings.HasPrefix(c, "/") || strings.Contains("/"+c+"/", "/../") {
			t.Fatalf("Resolve(%d, %q): relative path %q leaves preopen %s", i, p, rel, pyPreopens[j])
		}
		if got, want := path.Join(pyPreopens[j], rel), path.Join(pyPreopens[i], p); got != want {
			t.Fatalf("Resolve(%d, %q): %s + %q is %s; want %s", i, p, pyPreopens[j], rel, got, want)
		}
		// wasi-libc's choice: no longer preopen holds the path.
		for k, pre := range pyPreopens {
			if len(pre) > len(pyPreopens[j]) && within(path.Join(pyPreopens[i], p), pre) {
				t.Fatalf("Resolve(%d, %q): chose %s; %d (%s) is longer", i, p, pyPreopens[j], k, pre)
			}
		}
	})
}

// TestPreopensMountedTwice: mounts at one guest path are one preopen, as
// wazero's FSConfig makes them, so the descriptors Resolve names are
// wazero's; a volume at "/." is the root, not replaced by the empty one.
func TestPreopensMountedTwice(t *testing.T) {
	for _, c := range []struct {
		mounts []string
		want   string
	}{
		{[]string{"/cgi-bin", "/data", "/cgi-bin"}, "/cgi-bin /data /"},
		{[]string{"/data", "/data/", "/x"}, "/data /x /"},
		{[]string{"/a", "/./a//"}, "/a /"},
		{[]string{"/.", "/a"}, "/ /a"},
		{[]string{"//", "/a"}, "/ /a"},
	} {
		var mounts []Mount
		for _, g := range c.mounts {
			mounts = append(mounts, Mount{Guest: g})
		}
		if got := strings.Join(Preopens(mounts), " "); got != c.want {
			t.Errorf("Preopens(%q): got %q; want %q", c.mounts, got, c.want)
		}
		if got, want := len(withRoot(mounts)), len(mounts)+1; strings.HasSuffix(c.want, " /") && got != want {
			t.Errorf("withRoot(%q): got %d mounts; want %d (the empty root)", c.mounts, got, want)
		}
	}
}
