package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/cmd/internal/wire"
	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi"
	wcgi "github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// server is one http.Server on a loopback port.
type server struct {
	url string
	hs  *http.Server
}

// serve starts h on 127.0.0.1 with the server settings `wasigate serve`
// uses.
func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := router.DefaultServer
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: time.Duration(srv.ReadHeaderTimeout),
		IdleTimeout:       time.Duration(srv.IdleTimeout),
		MaxHeaderBytes:    int(srv.MaxHeaderBytes),
	}
	go hs.Serve(ln)
	return &server{url: "http://" + ln.Addr().String(), hs: hs}, nil
}

func (s *server) close() { s.hs.Close() }

// nativeHello is the baseline in-process handler: the same bytes as
// samples/c/hello.c, written by Go.
func nativeHello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Hello from C, compiled to WASI\nQUERY_STRING="+r.URL.RawQuery+"\n")
}

// buildNative compiles samples/c/hello.c with gcc, and
// samples/scripts/hello-go.go and the samples/scripts/app module folder
// with go, for the host, into dir.
func buildNative(ctx context.Context, repo, dir string) (cBin, goBin, appBin string, err error) {
	cBin = filepath.Join(dir, "hello-c")
	goBin = filepath.Join(dir, "hello-go")
	appBin = filepath.Join(dir, "app")
	app := exec.CommandContext(ctx, "go", "build", "-o", appBin, ".")
	app.Dir = filepath.Join(repo, "samples", "scripts", "app")
	steps := []*exec.Cmd{
		exec.CommandContext(ctx, "gcc", "-O2", "-o", cBin, filepath.Join(repo, "samples", "c", "hello.c")),
		exec.CommandContext(ctx, "go", "build", "-o", goBin, filepath.Join(repo, "samples", "scripts", "hello-go.go")),
		app,
	}
	for _, cmd := range steps {
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return "", "", "", fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(out.String()))
		}
	}
	return cBin, goBin, appBin, nil
}

// cgiHandler serves a native program through Go's net/http/cgi: a fork
// and exec per request.
func cgiHandler(bin string) http.Handler {
	return &cgi.Handler{Path: bin, Root: "/"}
}

// cgiHandlerAt is cgiHandler for a program mounted at root (its
// SCRIPT_NAME), as the app is on wasigate's /app/* route.
func cgiHandlerAt(bin, root string) http.Handler {
	return &cgi.Handler{Path: bin, Root: root}
}

// niceAfter is -nice-after: the engine's priority guard threshold (0: the
// default, as wasigate serve; negative: off).
var niceAfter time.Duration

// newEngine creates the engine and builder on the benchmark's cache
// through wire.New, as wasigate serve does.
func newEngine(ctx context.Context, cacheDir string) (*wasi.Engine, *toolchain.Builder, error) {
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, nil, err
	}
	p, err := wire.New(ctx, wire.Settings{CacheDir: cacheDir, Server: router.DefaultServer, NiceAfter: niceAfter, Log: zerolog.Nop()})
	if err != nil {
		return nil, nil, err
	}
	return p.Engine, p.Builder, nil
}

// buildSite parses a configuration's text (paths relative to dir) and
// builds it as `wasigate serve` does, with the access log written to
// nowhere (but still formatted).
func buildSite(ctx context.Context, e *wasi.Engine, b *toolchain.Builder, dir, config string) (*router.Site, error) {
	return buildSiteWith(ctx, dir, config, router.Options{Loader: &wcgi.Loader{Engine: e, Builder: b}, Log: zerolog.New(io.Discard)})
}

// buildSiteWith is buildSite with the options given.
func buildSiteWith(ctx context.Context, dir, config string, opts router.Options) (*router.Site, error) {
	cfg, err := router.ParseConfig(strings.NewReader(config), filepath.Join(dir, "bench.toml"))
	if err != nil {
		return nil, err
	}
	return router.Build(ctx, cfg, opts)
}

// accessLog is the throughput sites' access log: formatted into io.Discard
// by default; with -log FILE, JSON lines with a timestamp appended to the
// file, one write(2) per request as `wasigate serve` does to a
// non-terminal stderr.
func accessLog(path string) (zerolog.Logger, func(), error) {
	if path == "" {
		return zerolog.New(io.Discard), func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return zerolog.Logger{}, nil, err
	}
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
	return zerolog.New(f).With().Timestamp().Logger(), func() { f.Close() }, nil
}

// check fetches url once and wants a 200 whose body holds want.
func check(url, want string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: got %d %q; want 200 with %q", url, res.StatusCode, body, want)
	}
	return nil
}

// findRepo returns the repository's root: the working folder or one of
// its parents that holds samples/c/hello.c.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "samples", "c", "hello.c")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from the wasigate repository (no samples/c/hello.c above the working folder)")
		}
		dir = parent
	}
}
