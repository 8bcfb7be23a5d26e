package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// restartPreload is the framework the Python restart's interpreter
// preloads: Django's request handling and templates, what a Django site's
// list holds (its init is the longest of the samples').
var restartPreload = []string{"django.core.handlers.wsgi", "django.template.backends.django", "django.urls", "django.http"}

// restartPythonScript is the script the restarted server answers.
const restartPythonScript = `import django
print("Content-Type: text/plain\n")
print("django %s" % django.get_version())
`

// restartPythonSite is one Python interpreter, its snapshot stored in the
// cache by the warm-up, and one scripts route on dir. Debian's pytz, which
// Django imports, reads the time zone database at import.
func restartPythonSite(repo, dir string) string {
	d := pythonDist(repo)
	list := `"` + strings.Join(restartPreload, `", "`) + `"`
	return fmt.Sprintf(`
[[interpreter]]
ext = ".py"
module = %q
volumes = { "/usr/local/lib/python3.11" = %q, "/usr/local/lib/python3.11/dist-packages" = %q, "/usr/share/zoneinfo" = %q }
env = { PYTHONDONTWRITEBYTECODE = "1" }
preload = [%s]

[[route]]
path = "/s/*"
scripts = %q
`, filepath.Join(d, "python.wasm"), filepath.Join(d, "lib", "python3.11"), filepath.Join(d, "site-packages"), filepath.Join(d, "zoneinfo"), list, dir)
}

// restartPython is the second half of -restart: a site with one Python
// interpreter preloading Django, built once to store its snapshot, then a
// fresh process timed from exec to ready, as for the Go guests. Skipped
// when Python is not installed.
func restartPython(ctx context.Context, repo string, o options, w io.Writer) ([]goal, error) {
	if _, err := os.Stat(filepath.Join(pythonDist(repo), "python.wasm")); err != nil {
		fmt.Fprintf(w, "Restart, Python: skipped (bash samples/python/install.sh): %v\n\n", err)
		return nil, nil
	}
	dir := filepath.Join(o.cacheDir, "restart-python")
	scripts := filepath.Join(dir, "scripts")
	if err := os.MkdirAll(scripts, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(scripts, "hello.py"), []byte(restartPythonScript), 0o644); err != nil {
		return nil, err
	}
	text := restartPythonSite(repo, scripts)
	config := filepath.Join(dir, "restart.toml")
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "Restart, Python: one interpreter preloading %s, its snapshot stored by a first start...\n", strings.Join(restartPreload, ", "))
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	_, err = buildSite(ctx, e, b, dir, text)
	e.Close(ctx)
	if err != nil {
		return nil, err
	}
	cold := time.Since(start)
	fmt.Fprintf(w, "  first start (snapshot taken) took %s\n", cold.Round(time.Millisecond))
	times, err := timeChildren(ctx, o.rounds, "-restart-python-child", config, "-cache", o.cacheDir)
	if err != nil {
		return nil, err
	}
	t := medianOf(times)
	fmt.Fprintf(w, "  exec to ready, %d rounds: %v s\n\n", o.rounds, times)
	return []goal{{"5b. restart, Python with Django preloaded ready (s)", t, "< 2", t < 2}}, nil
}

// timeChildren runs this command with args rounds times and returns the
// seconds from exec to its line "ready"; each run must end with "ok".
func timeChildren(ctx context.Context, rounds int, args ...string) ([]float64, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var times []float64
	for range rounds {
		cmd := exec.CommandContext(ctx, self, args...)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(out)
		var ready time.Duration
		var lines []string
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready = time.Since(start)
			}
			lines = append(lines, sc.Text())
		}
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("restarted server: %w: %s", err, strings.Join(lines, "\n"))
		}
		if ready == 0 || lines[len(lines)-1] != "ok" {
			return nil, fmt.Errorf("restarted server: %s", strings.Join(lines, "\n"))
		}
		times = append(times, ready.Seconds())
	}
	return times, nil
}

// restartPythonChild is the restarted Python server: it builds the site
// from the warm cache, says "ready", then checks one request and says "ok".
func restartPythonChild(ctx context.Context, config, cacheDir string, w io.Writer) error {
	text, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	e, b, err := newEngine(ctx, cacheDir)
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	site, err := buildSite(ctx, e, b, filepath.Dir(config), string(text))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "ready")
	rec := httptest.NewRecorder()
	site.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/s/hello.py", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "django ") {
		return fmt.Errorf("/s/hello.py: got %d %q; want 200 with the Django version", rec.Code, rec.Body.String())
	}
	fmt.Fprintln(w, "ok")
	return nil
}
