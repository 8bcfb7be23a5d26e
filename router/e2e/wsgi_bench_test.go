package e2e_test

import (
	"io"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWSGI: one request at a time over loopback, each sample
// application as a .wsgi application from its own snapshot (with and
// without a warm-up request in it) and as the same app run as a CGI
// script from the interpreter's snapshot.
//
//	go test -run '^$' -bench WSGI -benchtime 50x ./router/
func BenchmarkWSGI(b *testing.B) {
	base := wsgiBenchSite(b)
	for _, c := range []struct{ name, path string }{
		{"hello.wsgi", "/s/hello.wsgi/x"},
		{"hello.wsgi+warmup", "/w/hello.wsgi/x"},
		{"wsgi.py-CGI", "/s/wsgi.py/x"},
		{"flask.wsgi", "/s/flask.wsgi/x"},
		{"flask.wsgi+warmup", "/w/flask.wsgi/x"},
		{"flask_app.py-CGI", "/s/flask_app.py/x"},
	} {
		b.Run(c.name, func(b *testing.B) {
			url := base + c.path
			for deadline := 0; deadline < 600; deadline++ {
				res, err := http.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			b.ResetTimer()
			cpu := benchProcessCPU()
			for range b.N {
				res, err := http.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("%s: %d", url, res.StatusCode)
				}
			}
			// CPU time is what a loaded machine does not distort.
			b.ReportMetric(float64((benchProcessCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// processCPU is this process's user and system CPU time so far.
func benchProcessCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wsgiBenchSite serves samples/scripts at /s/* and again with a warm-up
// at /w/*.
func wsgiBenchSite(b *testing.B) string {
	b.Helper()
	scripts := filepath.Join(repoRoot, "samples", "scripts")
	// The folder also holds hello.rb: Ruby, optional, so that a site
	// without ruby.wasm still starts.
	srv, _ := scriptsSite(b, b.TempDir(), pythonInterpreter(`preload = ["cgi", "wsgiref.handlers", "web", "flask", "bottle"]`)+`
[[interpreter]]
ext = ".rb"
module = "`+rubyWasm+`"
optional = true

[[route]]
path = "/s/*"
scripts = "`+scripts+`"
timeout = "120s"

[[route]]
path = "/w/*"
scripts = "`+scripts+`"
timeout = "120s"
warmup = ["/x"]
`)
	return srv.URL
}
