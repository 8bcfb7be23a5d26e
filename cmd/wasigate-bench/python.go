package main

import (
	"context"
	"fmt"
	"io"
	"net/http/cgi"
	"os"
	"path/filepath"
)

// pythonDist is what `bash samples/python/install.sh` builds.
func pythonDist(repo string) string { return filepath.Join(repo, "samples", "python", "dist") }

// pythonSite is the sample site's [[interpreter]] for .py with a scripts
// route at /s/* on dir, and the same at /n/* with snapshot = false (the
// interpreter starts in every request).
func pythonSite(repo, dir string) string {
	d := pythonDist(repo)
	return fmt.Sprintf(`
[[interpreter]]
ext = ".py"
module = %q
volumes = { "/usr/local/lib/python3.11" = %q, "/usr/local/lib/python3.11/dist-packages" = %q }
env = { PYTHONDONTWRITEBYTECODE = "1" }
preload = ["cgi", "wsgiref.handlers", "web", "flask", "bottle"]

# The samples folder also holds Ruby scripts: optional, so that the site
# starts without ruby.wasm.
[[interpreter]]
ext = ".rb"
module = %[5]q
optional = true

[[route]]
path = "/s/*"
scripts = %[4]q
concurrency = 128
queue_timeout = "60s"
timeout = "120s"

[[route]]
path = "/n/*"
scripts = %[4]q
snapshot = false
concurrency = 128
queue_timeout = "60s"
timeout = "120s"
`, filepath.Join(d, "python.wasm"), filepath.Join(d, "lib", "python3.11"), filepath.Join(d, "site-packages"), dir, rubyWasm(repo))
}

// pythonBench is -python: the Python samples in wasigate
// against fork+exec of the machine's native python3 running the same files
// through net/http/cgi, then the RSS of 64 Python instances in flight.
func pythonBench(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	if _, err := os.Stat(filepath.Join(pythonDist(repo), "python.wasm")); err != nil {
		return false, fmt.Errorf("python not installed (bash samples/python/install.sh): %w", err)
	}
	native, err := nativePython3()
	if err != nil {
		return false, err
	}
	scripts := filepath.Join(repo, "samples", "scripts")
	_, wg, done, err := serveSite(ctx, repo, o, pythonSite(repo, scripts))
	if err != nil {
		return false, err
	}
	defer done()
	nativeCGI := func(script string) (*server, error) {
		return serve(&cgi.Handler{Path: native, Args: []string{filepath.Join(scripts, script)}, Root: "/",
			Env: []string{"PYTHONPATH=" + filepath.Join(pythonDist(repo), "site-packages"), "PYTHONDONTWRITEBYTECODE=1"}})
	}
	var targets []target
	for _, s := range []struct{ script, path, want string }{
		{"hello.py", "", "hello from Python"},
		{"wsgi.py", "/x", "from WSGI"},
		{"webpy_app.py", "/x", "from web.py"},
		{"flask_app.py", "/x", "from Flask"},
	} {
		n, err := nativeCGI(s.script)
		if err != nil {
			return false, err
		}
		defer n.close()
		targets = append(targets,
			target{name: "wasigate " + s.script, url: wg.url + "/s/" + s.script + s.path, want: s.want},
			target{name: "  snapshot = false", url: wg.url + "/n/" + s.script + s.path, want: s.want},
			target{name: "  net/http/cgi fork+exec python3", url: n.url + s.path, want: s.want})
	}
	results, err := loadTargets(ctx, o, w, "Python", targets)
	if err != nil {
		return false, err
	}
	// A script's req/s from the snapshot against native CGI's.
	ratio := func(script int) float64 { return roundRatio(results, 3*script, 3*script+2) }
	goals := []goal{
		{"P1. hello.py / native CGI (first step)", ratio(0), ">= 2", ratio(0) >= 2},
		{"P1'. hello.py / native CGI (with snapshots)", ratio(0), ">= 5", ratio(0) >= 5},
		{"P2. WSGI app / native CGI (with snapshots)", ratio(1), ">= 5", ratio(1) >= 5},
		{"P3. web.py app / native CGI (with snapshots)", ratio(2), ">= 10", ratio(2) >= 10},
		{"P4. Flask app / native CGI", ratio(3), "(reported)", true},
	}
	ok := printGoals(w, goals)
	rssOK, err := interpreterRSS(ctx, repo, o, w, "Python", func(dir string) string { return pythonSite(repo, dir) }, "sleep.py", pythonSleep)
	return ok && rssOK, err
}

// pythonSleep sleeps for the query's milliseconds (interpreterRSS).
const pythonSleep = "import os, time\ntime.sleep(int(os.environ['QUERY_STRING']) / 1000)\nprint('Content-Type: text/plain\\n\\nslept')\n"
