package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wasigate/wasigate/router"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// cmdRun runs one request against a module and prints the response in
// HTTP/1.1 wire format, streaming the body as the script writes it.
func cmdRun(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	method := fs.String("X", "", "request `method` (default GET, or POST when stdin has data)")
	var headers headerFlags
	fs.Var(&headers, "H", "request `header` 'Name: value' (repeatable)")
	configPath := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		fmt.Fprintln(stderr, "usage: wasigate run [-c FILE] [-X METHOD] [-H 'K: V'] MODULE|SCRIPT [TARGET]")
		return 2
	}
	module, target := fs.Arg(0), "/"
	if fs.NArg() == 2 {
		target = fs.Arg(1)
	}
	if !strings.HasPrefix(target, "/") {
		fmt.Fprintf(stderr, "wasigate: target %q must start with /\n", target)
		return 2
	}

	var body []byte
	if f, ok := stdin.(*os.File); !ok || !isTerminal(f) {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintln(stderr, "wasigate: reading stdin:", err)
			return 1
		}
		body = b
	}
	if *method == "" {
		*method = http.MethodGet
		if len(body) > 0 {
			*method = http.MethodPost
		}
	}

	abs, err := filepath.Abs(module)
	if err != nil {
		fmt.Fprintln(stderr, "wasigate:", err)
		return 1
	}
	cfg := &router.Config{
		File:   filepath.Join(filepath.Dir(abs), "(command line)"),
		Routes: []router.Route{{Path: "/*", Module: abs, Index: 1}},
	}
	if c, err := scriptConfig(*configPath, abs); err != nil {
		printErrors(stderr, err)
		return 1
	} else if c != nil {
		// A script its configuration's interpreter runs: served from
		// its folder as a scripts route, SCRIPT_NAME /NAME.EXT.
		cfg = c
		p, q, hasQ := strings.Cut(target, "?")
		target = "/" + filepath.Base(abs) + strings.TrimSuffix(p, "/")
		if p != "/" && strings.HasSuffix(p, "/") {
			target += "/"
		}
		if hasQ {
			target += "?" + q
		}
	}
	ctx := context.Background()
	s, err := newSetupFor(ctx, cfg, stderr)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	defer s.engine.Close(ctx)
	opts := s.options(stderr)
	opts.Progress = nil
	site, err := router.Build(ctx, cfg, opts)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}

	req := httptest.NewRequest(*method, target, bytes.NewReader(body))
	req.RemoteAddr = "127.0.0.1:0"
	req.Host = "localhost"
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			fmt.Fprintf(stderr, "wasigate: header %q: want 'Name: value'\n", h)
			return 2
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	w := &wireWriter{out: stdout, header: http.Header{}}
	aborted := serveOnce(site.Handler, w, req)
	w.WriteHeader(http.StatusOK) // no-op if written
	if aborted {
		fmt.Fprintln(stderr, "\nwasigate: response aborted (the script failed after its body started)")
		return 1
	}
	if w.status >= 500 {
		return 1
	}
	return 0
}

func serveOnce(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if rec := recover(); rec != nil {
			if rec != http.ErrAbortHandler {
				panic(rec)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(w, r)
	return false
}

// wireWriter prints a response as HTTP/1.1 wire format as it is written.
type wireWriter struct {
	out    io.Writer
	header http.Header
	status int
}

func (w *wireWriter) Header() http.Header { return w.header }

func (w *wireWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	fmt.Fprintf(w.out, "HTTP/1.1 %d %s\r\n", code, http.StatusText(code))
	keys := make([]string, 0, len(w.header))
	for k := range w.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range w.header[k] {
			fmt.Fprintf(w.out, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprint(w.out, "\r\n")
}

func (w *wireWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.out.Write(p)
}

// Flush implements http.Flusher so the host streams to the terminal.
func (w *wireWriter) Flush() {
	if f, ok := w.out.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
}

// scriptConfig returns the configuration that runs script with the
// interpreter of the configuration (named, or found as serve finds it)
// for its extension, serving the script's folder at /; nil when the file
// is a module (no interpreter has its extension) and no -c was given.
func scriptConfig(named, script string) (*router.Config, error) {
	ext := filepath.Ext(script)
	if ext == ".wasm" || ext == ".wat" {
		return nil, nil
	}
	path, err := findConfig(named)
	if err != nil {
		if named == "" {
			return nil, nil
		}
		return nil, err
	}
	cfg, err := router.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	found := false
	for _, in := range cfg.Interpreters {
		found = found || in.Ext == ext
	}
	if !found {
		if named == "" {
			return nil, nil // a source the server builds (.go, .c)
		}
		return nil, fmt.Errorf("%s: no [[interpreter]] with ext = %q to run %s", path, ext, script)
	}
	cfg.Routes = []router.Route{{Path: "/*", Scripts: filepath.Dir(script), Index: 1, OneScript: true}}
	cfg.Tenants, cfg.Errors = nil, nil
	return cfg, nil
}
