package main

import (
	"context"
	"fmt"
	"io"
	"net/http/cgi"
	"os"
	"path/filepath"
)

// rubyWasm is what `npm install --prefix samples/ruby` installs.
func rubyWasm(repo string) string {
	return filepath.Join(repo, "samples", "ruby", "node_modules", "@ruby", "3.4-wasm-wasi", "dist", "ruby+stdlib.wasm")
}

// rubySite serves the scripts in dir with ruby.wasm at /s/* (from the
// snapshot, preload cgi, as the sample site) and at /n/* (snapshot =
// false: Ruby boots in every request).
func rubySite(repo, dir string) string {
	return fmt.Sprintf(`
[[interpreter]]
ext = ".rb"
module = %q
preload = ["cgi"]

# The samples folder also holds Python scripts: optional, so that the
# site starts without CPython.
[[interpreter]]
ext = ".py"
module = %[3]q
optional = true

[[route]]
path = "/s/*"
scripts = %[2]q
concurrency = 128
queue_timeout = "60s"
timeout = "120s"

[[route]]
path = "/n/*"
scripts = %[2]q
snapshot = false
concurrency = 128
queue_timeout = "60s"
timeout = "120s"
`, rubyWasm(repo), dir, filepath.Join(pythonDist(repo), "python.wasm"))
}

// snapshotBench is -snapshot: the Ruby CGI sample from the
// snapshot and booting Ruby per request, against fork+exec of native
// python3 serving the Python hello (the figure a shared host's user knows),
// then the RSS of 64 Ruby instances in flight.
func snapshotBench(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	if _, err := os.Stat(rubyWasm(repo)); err != nil {
		return false, fmt.Errorf("ruby.wasm not installed (npm install --prefix samples/ruby): %w", err)
	}
	native, err := nativePython3()
	if err != nil {
		return false, err
	}
	scripts := filepath.Join(repo, "samples", "scripts")
	_, wg, done, err := serveSite(ctx, repo, o, rubySite(repo, scripts))
	if err != nil {
		return false, err
	}
	defer done()
	py, err := serve(&cgi.Handler{Path: native, Args: []string{filepath.Join(scripts, "hello.py")}, Root: "/"})
	if err != nil {
		return false, err
	}
	defer py.close()
	targets := []target{
		{name: "wasigate hello.rb (snapshot)", url: wg.url + "/s/hello.rb", want: "from Ruby"},
		{name: "wasigate hello.rb, snapshot = false", url: wg.url + "/n/hello.rb", want: "from Ruby"},
		{name: "net/http/cgi fork+exec python3 hello.py", url: py.url, want: "hello from Python"},
	}
	results, err := loadTargets(ctx, o, w, "Snapshots", targets)
	if err != nil {
		return false, err
	}
	ratio := func(a, b int) float64 { return roundRatio(results, a, b) }
	goals := []goal{
		{"S1. Ruby snapshot / snapshot = false (req/s)", ratio(0, 1), ">= 20", ratio(0, 1) >= 20},
		{"S2. Ruby snapshot / native python3 CGI hello (req/s)", ratio(0, 2), "> 1", ratio(0, 2) > 1},
	}
	ok := printGoals(w, goals)
	rssOK, err := interpreterRSS(ctx, repo, o, w, "Ruby", func(dir string) string { return rubySite(repo, dir) }, "sleep.rb", rubySleep)
	return ok && rssOK, err
}

// rubySleep requires cgi, prints 1 KB and sleeps for the query's
// milliseconds (interpreterRSS).
const rubySleep = "require 'cgi'\nc = CGI.new\nprint c.header('text/plain')\nputs 'x' * 1024\n$stdout.flush\nsleep(ENV['QUERY_STRING'].to_i / 1000.0)\nputs 'slept'\n"
