package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Learned preloads against a hand-written list and native CGI. Each
// framework's CGI script, as its users write it, is served three ways at
// once: by an interpreter with no preload line (learning; measured after
// its first request and a warm-up of at most learnWarmup requests), by
// one with a hand-written preload list, and by fork+exec of the host's
// python3 through net/http/cgi. The rounds interleave the three so that a
// shared machine's changing load falls on all of them alike: the ratios of
// one run are what to read. Ruby's hello.rb (require "cgi") is served with
// learning, with preload = ["cgi"], and by booting ruby.wasm in a new
// instance for each request (snapshot = false, reuse = false).
//
//	go test -run '^$' -bench BenchmarkLearnedPreload -benchtime 20x -timeout 30m ./router/e2e/
const learnWarmup = 50

// cherrypyCGI is a CherryPy application run as a CGI script through
// wsgiref, the way the bottle_app.py sample runs Bottle. The "embedded"
// environment keeps CherryPy's engine, its threads and its screen log
// (which would land in the page) off.
const cherrypyCGI = `from wsgiref.handlers import CGIHandler

import cherrypy


class Root:
    @cherrypy.expose
    def default(self, name="world"):
        cherrypy.response.headers["Content-Type"] = "text/plain; charset=utf-8"
        return "hello, %s, from CherryPy %s\n" % (name, cherrypy.__version__)


cherrypy.config.update({"environment": "embedded"})
app = cherrypy.Application(Root(), script_name=None)

if __name__ == "__main__":
    CGIHandler().run(app)
`

// learnBenchApp is one framework's script and its hand-written list.
type learnBenchApp struct {
	name, dir, script, want string
	module, deb             string // what native python3 imports, and its Debian package
	preload                 []string
}

// learnedWay is what warming a learning interpreter took.
type learnedWay struct {
	first             time.Duration
	retakes, failures int
	names             int
}

func BenchmarkLearnedPreload(b *testing.B) {
	needPython(b)
	native := hostPython3(b)
	dir := b.TempDir()
	scripts := filepath.Join(dir, "scripts")
	if err := os.MkdirAll(scripts, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, src := range map[string]string{"cherrypy_app.py": cherrypyCGI} {
		if err := os.WriteFile(filepath.Join(scripts, name), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, name := range []string{"bottle_app.py", "hello.rb"} {
		src, err := os.ReadFile(filepath.Join(repoRoot, "samples", "scripts", name))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(scripts, name), src, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		b.Fatal(err)
	}
	apps := []learnBenchApp{
		{name: "Bottle", dir: scripts, script: "bottle_app.py", want: "from Bottle", module: "bottle", deb: "python3-bottle",
			preload: []string{"wsgiref.handlers", "bottle"}},
		{name: "CherryPy", dir: scripts, script: "cherrypy_app.py", want: "from CherryPy", module: "cherrypy", deb: "python3-cherrypy3",
			preload: []string{"wsgiref.handlers", "cherrypy"}},
		{name: "Django", dir: filepath.Join(repoRoot, "samples", "django"), script: "django_cgi.py", want: "from Django", module: "django", deb: "python3-django",
			preload: []string{"wsgiref.handlers", "django.core.wsgi", "django.core.handlers.wsgi", "django.urls", "django.shortcuts",
				"django.template.backends.django", "django.template.defaulttags", "django.template.loader_tags", "django.db.backends.sqlite3.base"}},
	}
	// A folder no earlier run mounted keys the learning interpreters'
	// inits, so that they start with an empty list, not one a previous run
	// kept in the cache folder (Ruby's init key leaves env out, and holds
	// a volume's guest path only: the path is this run's own).
	fresh := b.TempDir()
	for _, a := range apps {
		target := "/s/" + a.script + "/x"
		var urls [3]string // learned, explicit, native
		var lw learnedWay
		var logs *logBuffer
		b.Run(a.name, func(lb *testing.B) {
			if urls[0] == "" { // the first of the leaf's runs sets up
				tb := onParent{lb, b}
				urls[0], logs = learnBenchSite(tb, a.dir, data, "", "", fresh)
				urls[1], _ = learnBenchSite(tb, a.dir, data, "preload = "+tomlList(a.preload), "", "")
				urls[2] = nativeCGI(tb, native, a, data)
				urls[0], urls[1], urls[2] = urls[0]+target, urls[1]+target, urls[2]+"/x"
				lw = warmLearned(lb, urls[0], a.want, logs)
				// The explicit list's and native's first requests are not
				// measured: they take a snapshot or fill the page cache.
				benchGet(lb, urls[1], a.want, nil)
				benchGet(lb, urls[2], a.want, nil)
				lb.ResetTimer()
			}
			var sum [3]time.Duration
			cpu := benchCPU()
			for range lb.N {
				for i, u := range urls {
					sum[i] += benchGet(lb, u, a.want, logs)
				}
			}
			lb.ReportMetric(float64((benchCPU()-cpu).Microseconds())/1000/float64(lb.N), "cpu-ms/round")
			reportLearned(lb, lw, sum[0], sum[1], sum[2], "explicit", "native")
		})
	}

	var rb [3]string // learned, explicit, booting
	var lw learnedWay
	var logs *logBuffer
	b.Run("Ruby", func(lb *testing.B) {
		if rb[0] == "" {
			if _, err := os.Stat(rubyWasm); err != nil {
				if requireToolchains() {
					lb.Fatalf("ruby.wasm missing (%s); WASIGATE_REQUIRE_TOOLCHAINS is set", rubyInstall)
				}
				fmt.Fprintf(os.Stderr, "SKIPPING BenchmarkLearnedPreload/Ruby: ruby.wasm missing: install it with `%s`\n", rubyInstall)
				lb.Skip("ruby.wasm missing")
			}
			tb := onParent{lb, b}
			rb[0], logs = learnBenchSite(tb, scripts, data, "", "", fresh)
			rb[1], _ = learnBenchSite(tb, scripts, data, "", `preload = ["cgi"]`, "")
			// Booting is a new instance per request that runs ruby-init:
			// no snapshot and no instance kept from an earlier request.
			rb[2], _ = learnBenchSite(tb, scripts, data, "", "snapshot = false\n\n[defaults]\nreuse = false", "")
			for i := range rb {
				rb[i] += "/s/hello.rb"
			}
			lw = warmLearned(lb, rb[0], "from Ruby", logs)
			benchGet(lb, rb[1], "from Ruby", nil)
			benchGet(lb, rb[2], "from Ruby", nil)
			lb.ResetTimer()
		}
		var sum [3]time.Duration
		for range lb.N {
			for i, u := range rb {
				sum[i] += benchGet(lb, u, "from Ruby", logs)
			}
		}
		reportLearned(lb, lw, sum[0], sum[1], sum[2], "explicit", "boot")
	})
}

// onParent is a sub-benchmark whose sites outlive its run: the
// benchmark runs a leaf once with b.N = 1 and again with the asked
// count, and cleans up after each.
type onParent struct {
	*testing.B
	parent *testing.B
}

func (p onParent) Cleanup(f func()) { p.parent.Cleanup(f) }
func (p onParent) TempDir() string  { return p.parent.TempDir() }

// reportLearned reports per-request times in ms and the ratios of the
// learned way to the others (an empty name leaves that way out).
func reportLearned(b *testing.B, lw learnedWay, learned, explicit, other time.Duration, explicitName, otherName string) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(learned), "learned-ms/op")
	b.ReportMetric(float64(lw.first.Microseconds())/1000, "first-ms")
	b.ReportMetric(float64(lw.retakes), "retakes")
	b.ReportMetric(float64(lw.names), "names")
	if explicitName != "" {
		b.ReportMetric(ms(explicit), explicitName+"-ms/op")
		b.ReportMetric(float64(learned)/float64(explicit), "learned/"+explicitName)
	}
	b.ReportMetric(ms(other), otherName+"-ms/op")
	if otherName == "boot" {
		b.ReportMetric(float64(other)/float64(learned), "boot/learned")
	} else {
		b.ReportMetric(float64(learned)/float64(other), "learned/"+otherName)
	}
	if lw.failures > 0 {
		b.Logf("%d retakes failed; see the log", lw.failures)
	}
}

// warmLearned sends the first request and the warm-up to a learning
// interpreter, then waits for the retakes they started: until the log
// has shown no new one for longer than the last one took, bounded.
func warmLearned(b *testing.B, url, want string, logs *logBuffer) learnedWay {
	b.Helper()
	var lw learnedWay
	lw.first = benchGet(b, url, want, logs)
	for i := 1; i < learnWarmup; i++ {
		benchGet(b, url, want, logs)
	}
	deadline := time.Now().Add(3 * time.Minute)
	seen, since := -1, time.Now()
	for {
		evs, failures := retakeEvents(logs)
		if len(evs)+failures != seen {
			seen, since = len(evs)+failures, time.Now()
		}
		lw.retakes, lw.failures = len(evs), failures
		quiet := 3 * time.Second
		if len(evs) > 0 {
			last := evs[len(evs)-1]
			init, _ := last["init"].(float64)
			quiet += 2 * time.Duration(init*float64(time.Millisecond))
			learned, _ := last["learned"].(float64)
			lw.names = int(learned)
		}
		if len(evs) > 0 && time.Since(since) > quiet {
			for _, ev := range evs {
				b.Logf("retake: %d added, %v learned, dropped %v, image %v, init %v ms",
					len(strs(ev["added"])), ev["learned"], strs(ev["dropped"]), ev["image"], ev["init"])
			}
			return lw
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: no learned retake settled within 3 minutes of %d requests (%d retakes, %d failed)\nlog: %s",
				url, learnWarmup, len(evs), failures, logs)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// retakeEvents are the log's retakes with learned names, and the count
// of retakes that failed.
func retakeEvents(logs *logBuffer) ([]map[string]any, int) {
	failures := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && strings.HasPrefix(fmt.Sprint(ev["message"]), "interpreter snapshot retake failed") {
			failures++
		}
	}
	return learnedEvents(logs), failures
}

// learnBenchSite serves folder at /s/* with CPython (its stdlib,
// Debian's packages and the time zone data Django's pytz reads) and
// ruby.wasm, with extra keys for each; fresh, when set, is an empty
// folder both interpreters mount at a guest path named after it, which
// keys their inits apart from any other run's.
func learnBenchSite(b testing.TB, folder, data, pyExtra, rbExtra, fresh string) (string, *logBuffer) {
	b.Helper()
	vol, rubyVol := "", ""
	if fresh != "" {
		sum := sha256.Sum256([]byte(fresh))
		guest := "/wasigate-bench-run-" + hex.EncodeToString(sum[:6])
		vol = fmt.Sprintf(`, %q = %q`, guest, fresh)
		rubyVol = fmt.Sprintf(`volumes = { %q = %q }`, guest, fresh)
	}
	srv, logs := scriptsSite(b, b.TempDir(), fmt.Sprintf(`
[[interpreter]]
ext = ".py"
module = %q
volumes = { "/usr/local/lib/python3.11" = %q, "/usr/local/lib/python3.11/dist-packages" = %q, "/usr/share/zoneinfo" = %q%s }
env = { PYTHONDONTWRITEBYTECODE = "1" }
%s

[[interpreter]]
ext = ".rb"
module = %q
optional = true
%s
%s

[[route]]
path = "/s/*"
scripts = %q
volumes = { "/data" = { path = %q, writable = true } }
timeout = "120s"
`, filepath.Join(pythonDist, "python.wasm"), filepath.Join(pythonDist, "lib", "python3.11"),
		filepath.Join(pythonDist, "site-packages"), filepath.Join(pythonDist, "zoneinfo"), vol, pyExtra,
		rubyWasm, rubyVol, rbExtra, folder, data))
	return srv.URL, logs
}

// nativeCGI serves a's script by fork+exec of the host's python3 with
// Debian's package for a.module; where the host lacks it, with the same
// package as install.sh extracted it for the guest (said on stderr).
func nativeCGI(b testing.TB, python string, a learnBenchApp, data string) string {
	b.Helper()
	env := []string{"PYTHONDONTWRITEBYTECODE=1", "DJSITE_DB=" + filepath.Join(data, "native.sqlite3")}
	if err := exec.Command(python, "-c", "import "+a.module).Run(); err != nil {
		fmt.Fprintf(os.Stderr, "NOTE: the host's %s cannot import %s (apt-get install %s): native CGI runs the package of samples/python/dist/site-packages\n",
			python, a.module, a.deb)
		env = append(env, "PYTHONPATH="+filepath.Join(pythonDist, "site-packages"))
	}
	srv := httptest.NewServer(&cgi.Handler{Path: python, Args: []string{filepath.Join(a.dir, a.script)}, Dir: a.dir, Root: "/", Env: env})
	b.Cleanup(srv.Close)
	return srv.URL
}

// hostPython3 is Debian's python3, or a loud skip.
func hostPython3(b *testing.B) string {
	p, err := filepath.EvalSymlinks("/usr/bin/python3")
	if err != nil {
		fmt.Fprintf(os.Stderr, "SKIPPING BenchmarkLearnedPreload: no /usr/bin/python3 for native CGI (apt-get install python3): %v\n", err)
		b.Skipf("SKIP: no /usr/bin/python3: %v", err)
	}
	return p
}

// benchGet GETs url, checks a 200 holding want, and returns how long the
// whole response took.
func benchGet(b *testing.B, url, want string, logs *logBuffer) time.Duration {
	b.Helper()
	start := time.Now()
	res, err := http.Get(url)
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	d := time.Since(start)
	if err != nil || res.StatusCode != 200 || !strings.Contains(string(body), want) {
		log := ""
		if logs != nil {
			log = logs.String()
		}
		b.Fatalf("GET %s: got %d %q (%v); want 200 with %q\nlog: %s", url, res.StatusCode, body, err, want, log)
	}
	return d
}

// benchCPU is the CPU time of this process and its waited-for children
// (native CGI's python3) so far.
func benchCPU() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
}

func tomlList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
