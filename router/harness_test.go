package router

import (
	"context"
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
	"github.com/wasigate/wasigate/wasi/build"
)

// repoRoot is the repository's root folder.
var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
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

// testSite builds the configuration text (TOML; relative paths resolve
// against dir, or testdata/guests when dir is "") and serves it over real
// HTTP on loopback.
func testSite(t testing.TB, dir, config string) (*httptest.Server, *logBuffer) {
	t.Helper()
	h, logs := testHandler(t, dir, config)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, logs
}

// testHandler builds the configuration text like testSite and returns the
// site's handler, for tests that serve it on their own listener (TLS, IPv6).
func testHandler(t testing.TB, dir, config string) (http.Handler, *logBuffer) {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(repoRoot, "testdata", "guests")
	}
	cfg, err := ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	eng, cache := sharedEngine(t)
	logs := &logBuffer{}
	site, err := Build(context.Background(), cfg, Options{
		Engine:  eng,
		Builder: &build.Builder{Dir: cache},
		Log:     zerolog.New(logs),
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
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
