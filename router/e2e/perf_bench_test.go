package e2e_test

// Benchmarks of the server's own share of a request
// (cmd/wasigate/DECISIONS.md#the-per-request-path-is-kept-small): the
// site's handler called directly, without the network and net/http's
// connection handling, so that allocs/op counts only what wasigate
// allocates around a fresh instance of samples/c/hello.wasm. BenchmarkHTTP
// has the whole request over loopback. Run with
//
//	go test ./router -run '^$' -bench 'Handler' -benchmem -count 5

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// discardWriter is a reusable http.ResponseWriter that keeps the status
// and drops the body, so the benchmark allocates nothing of its own.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
func (w *discardWriter) Flush() {}

func (w *discardWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// wrkRequest is a request as wrk sends it: GET, a Host header, nothing else.
func wrkRequest(b *testing.B, path string) *http.Request {
	r, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	r.RequestURI = path
	r.RemoteAddr = "127.0.0.1:54321"
	return r
}

// browserRequest adds the dozen headers a browser sends, each of which
// becomes an HTTP_ variable.
func browserRequest(b *testing.B, path string) *http.Request {
	r := wrkRequest(b, path)
	for k, v := range map[string]string{
		"User-Agent":                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Accept-Language":           "en-GB,en;q=0.5",
		"Accept-Encoding":           "gzip, deflate, br, zstd",
		"Connection":                "keep-alive",
		"Upgrade-Insecure-Requests": "1",
		"Sec-Fetch-Dest":            "document",
		"Sec-Fetch-Mode":            "navigate",
		"Sec-Fetch-Site":            "none",
		"Sec-Fetch-User":            "?1",
		"Priority":                  "u=0, i",
		"Cookie":                    "session=abc123; theme=dark",
	} {
		r.Header.Set(k, v)
	}
	return r
}

// BenchmarkHandler is the site's handler serving samples/c/hello.wasm (the
// guest of the throughput goals) with the access log formatted into
// io.Discard, for a request like wrk's and for one with a browser's
// headers.
func BenchmarkHandler(b *testing.B) {
	cfg, err := router.ParseConfig(strings.NewReader(`
[[route]]
path = "/c"
module = "samples/c/hello.wasm"
`), filepath.Join(repoRoot, "bench.toml"))
	if err != nil {
		b.Fatal(err)
	}
	eng, cache := sharedEngine(b)
	site, err := router.Build(b.Context(), cfg, router.Options{Loader: &cgi.Loader{Engine: eng, Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: cache}}, Log: zerolog.New(io.Discard)})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  func(*testing.B, string) *http.Request
	}{{"wrk", wrkRequest}, {"browser", browserRequest}} {
		b.Run(tc.name, func(b *testing.B) {
			r := tc.req(b, "/c")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				site.Handler.ServeHTTP(w, r)
				if w.status != http.StatusOK || w.n == 0 {
					b.Fatalf("got status %d, %d body bytes; want 200 with a body", w.status, w.n)
				}
			}
		})
	}
}
