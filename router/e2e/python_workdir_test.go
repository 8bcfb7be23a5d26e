package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPythonWorkdir: a script starts in its own folder, as under Apache,
// so a file beside it opens by its relative path; and a path outside every
// volume is absent (FileNotFoundError), not "capabilities insufficient"
// (errno 76, a PermissionError).
func TestPythonWorkdir(t *testing.T) {
	pythonScripts["relative.py"] = `import os
print("Content-Type: text/plain\n")
print("cwd=" + os.getcwd())
with open("data.txt") as f:
    print("data=" + f.read().strip())
`
	pythonScripts["data.txt"] = "beside the script\n"
	pythonScripts["absent.py"] = `print("Content-Type: text/plain\n")
for p in ("/nonexistent/x", "/etc/passwd", "nonexistent.txt"):
    try:
        open(p)
        print(p, "opened")
    except FileNotFoundError:
        print(p, "absent")
`
	t.Cleanup(func() {
		for _, k := range []string{"relative.py", "data.txt", "absent.py", "blog/relative.py", "blog/data.txt"} {
			delete(pythonScripts, k)
		}
	})
	// A script in a subfolder starts in the subfolder.
	pythonScripts["blog/relative.py"] = pythonScripts["relative.py"]
	pythonScripts["blog/data.txt"] = "beside the post\n"
	base, logs := pythonSite(t, "")
	cases := []struct{ script, want string }{
		{"relative.py", "cwd=/cgi-bin\ndata=beside the script\n"},
		{"blog/relative.py/extra", "cwd=/cgi-bin/blog\ndata=beside the post\n"},
		{"absent.py", "/nonexistent/x absent\n/etc/passwd absent\nnonexistent.txt absent\n"},
	}
	for _, c := range cases {
		res, body := pyDo(t, "GET", base+"/s/"+c.script, "", nil)
		if res.StatusCode != http.StatusOK || body != c.want {
			t.Errorf("%s: got %d %q; want 200 %q\nlog: %s", c.script, res.StatusCode, body, c.want, logs)
		}
	}
	if strings.Contains(logs.String(), "PermissionError") {
		t.Errorf("log holds a PermissionError: %s", logs)
	}
}

// TestWSGIWorkdir: a WSGI application loads and serves in its own folder,
// so the file beside it it reads at import and per request by a relative
// path is found (Bottle's views/ are found so).
func TestWSGIWorkdir(t *testing.T) {
	base, scripts, logs := wsgiSite(t, "")
	writeFile(t, filepath.Join(scripts, "greeting.txt"), "hello")
	writeFile(t, filepath.Join(scripts, "rel.wsgi"), `import os
AT_IMPORT = open("greeting.txt").read() + " from " + os.getcwd()
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    with open("greeting.txt") as f:
        return [("%s; %s in %s" % (AT_IMPORT, f.read(), os.getcwd())).encode()]
`)
	wsgiLoaded(t, base+"/s/rel.wsgi")
	want := "hello from /cgi-bin; hello in /cgi-bin"
	for i := 0; i < 2; i++ {
		if code, body := wsgiDo(t, "GET", base+"/s/rel.wsgi", "", nil); code != 200 || body != want {
			t.Errorf("request %d: got %d %q; want 200 %q\nlog: %s", i, code, body, want, logs)
		}
	}
}

// TestRubyWorkdir: a Ruby script from the snapshot starts in its own
// folder too, and a path outside every volume is absent (ENOENT).
func TestRubyWorkdir(t *testing.T) {
	needRuby(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scripts", "blog", "rel.rb"), `print "Content-Type: text/plain\n\n"
puts Dir.pwd, File.read("data.txt")
begin
  File.read("/nonexistent/x")
rescue Errno::ENOENT
  puts "absent"
end
`)
	writeFile(t, filepath.Join(dir, "scripts", "blog", "data.txt"), "beside the post")
	srv, logs := scriptsSite(t, dir, fmt.Sprintf(`
[[interpreter]]
ext = ".rb"
module = %q

[[route]]
path = "/s/*"
scripts = "scripts"
`, rubyWasm))
	res, body := pyDo(t, "GET", srv.URL+"/s/blog/rel.rb", "", nil)
	if want := "/cgi-bin/blog\nbeside the post\nabsent\n"; res.StatusCode != http.StatusOK || body != want {
		t.Errorf("rel.rb: got %d %q; want 200 %q\nlog: %s", res.StatusCode, body, want, logs)
	}
}

// TestPythonDotDot: a path that climbs above a volume with ".." is
// resolved against the script's absolute path, as in a container holding
// only the volumes: open("../x") from the scripts folder is absent
// (FileNotFoundError, not PermissionError), listdir("..") lists the
// guest's "/" (empty: the volumes are mounted beside it, not in it),
// /cgi-bin/../data/f is the data volume's f, and a link out of a volume
// stays refused.
func TestPythonDotDot(t *testing.T) {
	data := t.TempDir()
	writeFile(t, filepath.Join(data, "f.txt"), "in the data volume")
	writeFile(t, filepath.Join(filepath.Dir(data), "secret.txt"), "SECRET beside the volume")
	if err := os.Symlink("../secret.txt", filepath.Join(data, "out")); err != nil {
		t.Fatal(err)
	}
	pythonScripts["dotdot.py"] = `import os
print("Content-Type: text/plain\n")
def show(what, f):
    try:
        print(what, f())
    except FileNotFoundError:
        print(what, "absent")
    except OSError as e:
        print(what, "refused" if e.errno else e)
show("open ../etc/passwd:", lambda: open("../etc/passwd").read())
show("open /cgi-bin/../../x:", lambda: open("/cgi-bin/../../x").read())
show("listdir ..:", lambda: sorted(os.listdir("..")))
show("stat ../nope:", lambda: os.stat("../nope"))
show("open ../data/f.txt:", lambda: open("../data/f.txt").read())
show("open /data/../cgi-bin/dotdot.txt:", lambda: open("/data/../cgi-bin/dotdot.txt").read())
show("open ../data/out:", lambda: open("../data/out").read())
show("exists ../data:", lambda: os.path.isdir("../data"))
`
	pythonScripts["dotdot.txt"] = "beside the script"
	t.Cleanup(func() {
		delete(pythonScripts, "dotdot.py")
		delete(pythonScripts, "dotdot.txt")
	})
	base, logs := pythonSiteRoute(t, "", fmt.Sprintf("volumes = { \"/data\" = %q }\n", data))
	want := `open ../etc/passwd: absent
open /cgi-bin/../../x: absent
listdir ..: []
stat ../nope: absent
open ../data/f.txt: in the data volume
open /data/../cgi-bin/dotdot.txt: beside the script
open ../data/out: refused
exists ../data: True
`
	res, body := pyDo(t, "GET", base+"/s/dotdot.py", "", nil)
	if res.StatusCode != http.StatusOK || body != want {
		t.Errorf("dotdot.py: got %d %q; want 200 %q\nlog: %s", res.StatusCode, body, want, logs)
	}
	if strings.Contains(body, "SECRET") {
		t.Errorf("dotdot.py read a file outside the volumes: %q", body)
	}
}
