package router

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
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
// fake loader (fakeloader_test.go), logging to w. edit, if not nil, adjusts the
// build options (hooks).
func buildSite(t testing.TB, dir, config string, w io.Writer, edit func(*Options)) (*Config, *Site) {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(repoRoot, "testdata", "guests")
	}
	cfg, err := ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	opts := Options{Loader: &fakeLoader{}, Log: zerolog.New(w)}
	if edit != nil {
		edit(&opts)
	}
	site, err := Build(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return cfg, site
}

// serveSite builds the configuration like buildSite and serves it over
// real HTTP on loopback, with the server settings wasigate serve uses.
func serveSite(t testing.TB, dir, config string, w io.Writer, edit func(*Options)) (*httptest.Server, *Site) {
	t.Helper()
	cfg, site := buildSite(t, dir, config, w, edit)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = NewServer(cfg.Server, site.Handler)
	srv.Listener = FramingListener(srv.Listener, srv.Config.MaxHeaderBytes) // as wasigate serve does
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
