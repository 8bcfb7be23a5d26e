// The end-to-end tests of wasigate: the router with the real module side
// behind it (wasi/cgi over one wazero engine), real guests from
// testdata/guests and the samples, served over loopback. What the router
// does on its own is tested in package router, on a fake loader.
package e2e_test

import (
	"context"
	"github.com/wasigate/wasigate/router"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// repoRoot is the repository's root folder.
var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}()

// guest returns the path of a test guest in testdata/guests.
func guest(name string) string {
	return filepath.Join(repoRoot, "testdata", "guests", name)
}

var (
	engineOnce sync.Once
	testEngine *wasi.Engine
	testCache  string
)

// sharedEngine is one engine for the package's tests, as in a server: one
// runtime per process. Its cache lives in a temporary folder.
func sharedEngine(t testing.TB) (*wasi.Engine, string) {
	engineOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wasigate-test-cache")
		if err != nil {
			panic(err)
		}
		testCache = dir
		testEngine, err = wasi.NewEngine(context.Background(), wasi.Options{CacheDir: dir, Tune: true})
		if err != nil {
			panic(err)
		}
	})
	return testEngine, testCache
}

// logBuffer collects log events for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// buildSite parses the configuration text (TOML; relative paths resolve
// against dir, or testdata/guests when dir is "") and builds it with the
// package's shared engine, logging to w. edit, if not nil, adjusts the
// build options (hooks).
func buildSite(t testing.TB, dir, config string, w io.Writer, edit func(*router.Options)) (*router.Config, *router.Site) {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(repoRoot, "testdata", "guests")
	}
	cfg, err := router.ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	eng, cache := sharedEngine(t)
	opts := router.Options{Loader: &cgi.Loader{Engine: eng, Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: cache}}, Log: zerolog.New(w)}
	if edit != nil {
		edit(&opts)
	}
	site, err := router.Build(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return cfg, site
}

// serveSite builds the configuration like buildSite and serves it over
// real HTTP on loopback, with the server settings wasigate serve uses.
func serveSite(t testing.TB, dir, config string, w io.Writer, edit func(*router.Options)) (*httptest.Server, *router.Site) {
	t.Helper()
	cfg, site := buildSite(t, dir, config, w, edit)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = router.NewServer(cfg.Server, site.Handler)
	srv.Listener = router.FramingListener(srv.Listener, srv.Config.MaxHeaderBytes) // as wasigate serve does
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, site
}

// testSite serves the configuration and returns its log.
func testSite(t testing.TB, dir, config string) (*httptest.Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	srv, _ := serveSite(t, dir, config, logs, nil)
	return srv, logs
}

// testHandler builds the configuration like testSite and returns the
// site's handler, for tests that serve it on their own listener (TLS, IPv6).
func testHandler(t testing.TB, dir, config string) (http.Handler, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	_, site := buildSite(t, dir, config, logs, nil)
	return site.Handler, logs
}

// get fetches url and returns the response and its whole body.
func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return res, string(b)
}

// trustedTestBuilds says whether the tests' builders build unsandboxed: on
// a machine without a build sandbox (bubblewrap), unless the run requires
// every toolchain (WASIGATE_REQUIRE_TOOLCHAINS=1, as in CI), so that `go
// test ./...` works with only Go installed. The sources are the
// repository's own; the sandbox's own tests (needSandbox) skip there.
func trustedTestBuilds() bool {
	return !requireToolchains() && !toolchain.DetectSandbox().Available()
}
