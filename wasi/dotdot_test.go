package wasi

import (
	"context"

	"github.com/wasigate/wasigate/host/seam"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// dotdotSite lays out, on the host, three volumes and what lies around
// them: secret files beside and above the volumes' folders, and symbolic
// links inside the volumes, one to a file inside, two out of them. It
// returns fs.wasm prepared with the volumes, and the volumes.
func dotdotSite(t *testing.T) (*Program, []seam.Mount) {
	t.Helper()
	top := t.TempDir()
	files := map[string]string{
		"secret.txt":                "SECRET above the volumes",
		"outside/secret.txt":        "SECRET outside",
		"cgi/f.txt":                 "cgi f",
		"cgi/sub/g.txt":             "cgi sub g",
		"data/f.txt":                "data f",
		"data/x":                    "data x",
		"a/x":                       "a x",
		"a/bbbbbbbb/y":              "a bbbbbbbb y",
		"a/bbbbbbbb/c/z":            "HIDDEN under the nested volume's mount point",
		"nested/z":                  "nested z",
		"nested/bbbbbbbbbbbbbbbb.t": "nested long",
	}
	for name, body := range files {
		p := filepath.Join(top, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{
		"cgi/link_in":  "f.txt",
		"cgi/link_out": "../secret.txt",
		"cgi/link_abs": filepath.Join(top, "outside", "secret.txt"),
		"data/up":      "..",
	} {
		if err := os.Symlink(to, filepath.Join(top, link)); err != nil {
			t.Fatal(err)
		}
	}
	vols := []seam.Mount{
		{Guest: "/cgi-bin", Host: filepath.Join(top, "cgi")},
		{Guest: "/data", Host: filepath.Join(top, "data"), Writable: true},
		{Guest: "/a", Host: filepath.Join(top, "a")},
		{Guest: "/a/bbbbbbbb/c", Host: filepath.Join(top, "nested")},
	}
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	m, err := e.CompileFile(ctx, filepath.Join("..", "testdata", "guests", "fs.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Prepare(Config{Volumes: vols})
	if err != nil {
		t.Fatal(err)
	}
	return p, vols
}

// probe runs fs.wasm over paths; its lines, one a path.
func probe(t *testing.T, p *Program, paths []string) []string {
	t.Helper()
	var out strings.Builder
	if err := p.Run(context.Background(), &Call{Args: append([]string{"fs.wasm"}, paths...), Stdout: &out}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "read ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(paths) {
		t.Fatalf("guest: got %d lines; want %d:\n%s", len(lines), len(paths), out.String())
	}
	return lines
}

// TestDotDot: a path that climbs above a volume with ".." is resolved
// against the guest's absolute path, as in a container holding only the
// volumes: outside every volume it is absent (ENOENT, not EPERM), inside
// another volume it reaches that volume's file, and a symbolic link out
// of a volume stays refused.
func TestDotDot(t *testing.T) {
	p, _ := dotdotSite(t)
	cases := []struct{ path, want string }{
		{"/cgi-bin/f.txt", "ok cgi f"},
		{"/cgi-bin/../etc/passwd", "denied (No such file or directory)"},
		{"/cgi-bin/../../x", "denied (No such file or directory)"},
		{"/../../secret.txt", "denied (No such file or directory)"},
		{"../secret.txt", "denied (No such file or directory)"},
		{"/cgi-bin/../data/f.txt", "ok data f"},
		{"/data/../cgi-bin/sub/../f.txt", "ok cgi f"},
		{"/cgi-bin/sub/../../data/x", "ok data x"},
		{"/a/bbbbbbbb/c/../y", "ok a bbbbbbbb y"},
		{"/a/bbbbbbbb/c/../../x", "ok a x"},
		{"/a/bbbbbbbb/c/z", "ok nested z"},
		{"/a/x/../bbbbbbbb/c/z", "ok nested z"},
		{"/x/../data/f.txt", "ok data f"},
		{"/cgi-bin/../a/bbbbbbbb/c/z", "ok nested z"},
		{"/a/bbbbbbbb/c/../c/bbbbbbbbbbbbbbbb.t", "ok nested long"},
		{"/cgi-bin/link_in", "ok cgi f"},
		{"/cgi-bin/../cgi-bin/link_in", "ok cgi f"},
		{"/data/../cgi-bin/link_out", "denied"},
		{"/data/../cgi-bin/link_abs", "denied"},
		{"/cgi-bin/link_out", "denied"},
		{"/data/up/secret.txt", "denied"},
		{"/data/../data/up/outside/secret.txt", "denied"},
	}
	paths := make([]string, len(cases))
	for i, c := range cases {
		paths[i] = c.path
	}
	for i, got := range probe(t, p, paths) {
		c := cases[i]
		want := "read " + c.path + ": " + c.want
		if got != want && !(c.want == "denied" && strings.HasPrefix(got, want+" (")) {
			t.Errorf("got %q; want %q", got, want)
		}
		if strings.Contains(got, "SECRET") || strings.Contains(got, "HIDDEN") {
			t.Errorf("got %q: a host file outside the volumes or under a mount point", got)
		}
	}
}

// TestDotDotFuzz: hostile paths, many ".." and links among the volumes'
// names, read through a real guest. Whatever it reads is what the host
// holds at the path resolved lexically in the guest's namespace, inside
// the volume that holds it; nothing outside a volume is ever read, and a
// path outside every volume is absent.
func TestDotDotFuzz(t *testing.T) {
	p, vols := dotdotSite(t)
	parts := []string{"..", "..", "..", ".", "", "cgi-bin", "data", "a", "bbbbbbbb", "c", "sub",
		"f.txt", "x", "y", "z", "link_in", "link_out", "link_abs", "up", "outside", "secret.txt", "bbbbbbbbbbbbbbbb.t"}
	targets := []string{"cgi-bin/f.txt", "cgi-bin/sub/g.txt", "data/x", "data/f.txt", "a/x", "a/bbbbbbbb/y", "a/bbbbbbbb/c/z",
		"a/bbbbbbbb/c/bbbbbbbbbbbbbbbb.t", "cgi-bin/link_in", "cgi-bin/link_out", "cgi-bin/link_abs", "data/up/secret.txt", "secret.txt"}
	r := rand.New(rand.NewPCG(24, 76))
	const rounds, perRound = 8, 120
	var read, absent int // climbing paths read, and found absent
	for range rounds {
		paths := make([]string, perRound)
		for i := range paths {
			n := 1 + r.IntN(9)
			ps := make([]string, n)
			for k := range ps {
				ps[k] = parts[r.IntN(len(parts))]
			}
			paths[i] = strings.Join(ps, "/")
			if r.IntN(2) == 0 {
				// From somewhere, up some levels, to a name that exists.
				paths[i] += strings.Repeat("/..", r.IntN(5)) + "/" + targets[r.IntN(len(targets))]
			}
			if r.IntN(3) > 0 {
				paths[i] = "/" + paths[i]
			}
		}
		for i, got := range probe(t, p, paths) {
			if strings.Contains(got, "SECRET") || strings.Contains(got, "HIDDEN") {
				t.Fatalf("%q: read a host file outside the volumes or under a mount point", got)
			}
			want, sure := expectRead(vols, paths[i])
			prefix := "read " + paths[i] + ": "
			if climbing := strings.Contains("/"+paths[i]+"/", "/../"); climbing && got == prefix+want && sure {
				if strings.HasPrefix(want, "ok ") {
					read++
				} else {
					absent++
				}
			}
			if sure && got != prefix+want {
				t.Errorf("got %q; want %q", got, prefix+want)
			}
			if strings.HasPrefix(got, prefix+"ok ") && got != prefix+want {
				t.Errorf("got %q; want %q (the host's file at the resolved path)", got, prefix+want)
			}
			if sure && (strings.Contains(got, "Operation not permitted") || strings.Contains(got, "Capabilities insufficient")) {
				t.Errorf("got %q; want ENOENT or the file: a climbing path is not refused", got)
			}
		}
	}
	t.Logf("%d paths with \"..\": %d files read, %d absent, as expected", rounds*perRound, read, absent)
	if read == 0 || absent == 0 {
		t.Errorf("paths with \"..\" read %d files and found %d absent; want some of each", read, absent)
	}
}

// expectRead is what fs.wasm should print for p: the first line of the
// host file at p resolved lexically from the guest's "/", in the volume
// holding it (the longest guest prefix), when that file lies inside the
// volume's folder once the host's links are followed. sure: the answer is
// certain (a file, or nothing at all outside every volume); otherwise only
// "ok" answers are compared.
func expectRead(vols []seam.Mount, p string) (want string, sure bool) {
	abs := path.Clean("/" + p)
	best := -1
	for i, v := range vols {
		if (abs == v.Guest || strings.HasPrefix(abs, v.Guest+"/")) && (best < 0 || len(v.Guest) > len(vols[best].Guest)) {
			best = i
		}
	}
	if best < 0 {
		if abs == "/" {
			return "", false // the empty root folder
		}
		return "denied (No such file or directory)", true
	}
	v := vols[best]
	host := filepath.Join(v.Host, strings.TrimPrefix(abs, v.Guest))
	real, err := filepath.EvalSymlinks(host)
	if err != nil {
		if os.IsNotExist(err) {
			if _, lerr := os.Lstat(host); os.IsNotExist(lerr) && noLinkOnWay(v.Host, host) {
				return "denied (No such file or directory)", true
			}
		}
		return "", false
	}
	top, _ := filepath.EvalSymlinks(v.Host)
	if real != top && !strings.HasPrefix(real, top+string(filepath.Separator)) {
		return "", false // refused, however: compared as "not ok"
	}
	st, err := os.Stat(real)
	if err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	b, err := os.ReadFile(real)
	if err != nil {
		return "", false
	}
	return "ok " + strings.TrimSuffix(string(b), "\n"), host == real
}

// noLinkOnWay reports whether no folder between top and p is a link.
func noLinkOnWay(top, p string) bool {
	for d := filepath.Dir(p); len(d) > len(top); d = filepath.Dir(d) {
		if st, err := os.Lstat(d); err == nil && st.Mode()&os.ModeSymlink != 0 {
			return false
		}
	}
	return true
}

// TestDotDotWrite: a file created through a path that climbs out of one
// volume into a writable one lands there, and one created outside every
// volume is refused, with nothing written on the host beside the volumes.
func TestDotDotWrite(t *testing.T) {
	p, vols := dotdotSite(t)
	top := filepath.Dir(vols[0].Host)
	for _, c := range []struct{ path, want string }{
		{"/cgi-bin/../data/new.txt", "write /cgi-bin/../data/new.txt: ok"},
		{"/data/../../new.txt", "write /data/../../new.txt: denied"},
		{"/data/../cgi-bin/new.txt", "write /data/../cgi-bin/new.txt: denied"},
	} {
		var out strings.Builder
		if err := p.Run(context.Background(), &Call{Args: []string{"fs.wasm", "/data/f.txt"}, Env: []string{"WRITE_PATH=" + c.path}, Stdout: &out}); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("%s: got %q; want a line %q", c.path, out.String(), c.want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(vols[1].Host, "new.txt")); err != nil || string(b) != "written by fs.wasm\n" {
		t.Errorf("data volume's new.txt: got %q, %v; want what the guest wrote", b, err)
	}
	for _, p := range []string{filepath.Join(top, "new.txt"), filepath.Join(vols[0].Host, "new.txt")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists: a write outside the writable volume", p)
		}
	}
}

func TestFreeSpan(t *testing.T) {
	cases := []struct {
		size, n, own uint64
		busy         []span
		want         uint32
		ok           bool
	}{
		{65536, 10, 100, nil, 100, true},
		{65536, 10, 100, []span{{105, 4}}, 0, true},
		{65536, 10, 100, []span{{105, 4}, {0, 8}}, 65526, true},
		{65536, 10, 65530, nil, 0, true},
		{16, 10, 2, []span{{4, 8}}, 0, false},
		{8, 10, 0, nil, 0, false},
	}
	for _, c := range cases {
		got, ok := freeSpan(c.size, c.n, c.own, c.busy)
		if got != c.want || ok != c.ok {
			t.Errorf("freeSpan(%d, %d, %d, %v): got %d %v; want %d %v", c.size, c.n, c.own, c.busy, got, ok, c.want, c.ok)
		}
	}
}
