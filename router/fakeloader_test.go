package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// fakeLoader is a Loader without wazero, so that routing, tenant, limiter,
// reload and scripts tests run without compiling anything. A module is
// either a fake guest, whose behaviour its file's text says
// (fakeguest_test.go), or a Go function chosen by its file's name, written
// to answer as the test guest of that name does (then the file must exist,
// its bytes are not read). End-to-end tests keep the real loader.
type fakeLoader struct {
	open   atomic.Int64 // modules loaded and not closed
	builds atomic.Int64 // scripts builds started
}

// fakePrograms are the guests fakeLoader knows, by file name.
var fakePrograms = map[string]func(ctx context.Context, rc seam.RunConfig, inv *host.Invocation) error{
	"hello.wasm": func(_ context.Context, _ seam.RunConfig, inv *host.Invocation) error {
		_, err := io.WriteString(inv.Stdout, "Content-Type: text/plain\n\nhello\n")
		return err
	},
	// As env.c: env-KEY=value lines, then argv-N=word lines.
	"env.wasm": func(_ context.Context, _ seam.RunConfig, inv *host.Invocation) error {
		w := bufio.NewWriter(inv.Stdout)
		fmt.Fprint(w, "Content-Type: text/plain\n\n")
		for _, kv := range inv.Env {
			fmt.Fprintf(w, "env-%s\n", kv)
		}
		for i, a := range inv.Args {
			fmt.Fprintf(w, "argv-%d=%s\n", i, a)
		}
		return w.Flush()
	},
	// As fs.c for reads: each argv word is a guest path, read through the
	// route's volumes ("read P: ok FIRST-LINE" or "read P: denied").
	"fs.wasm": func(_ context.Context, rc seam.RunConfig, inv *host.Invocation) error {
		w := bufio.NewWriter(inv.Stdout)
		fmt.Fprint(w, "Content-Type: text/plain\n\n")
		for _, p := range inv.Args[1:] {
			if line, err := fakeRead(rc.Volumes, p); err != nil {
				fmt.Fprintf(w, "read %s: denied (%v)\n", p, err)
			} else {
				fmt.Fprintf(w, "read %s: ok %s\n", p, line)
			}
		}
		return w.Flush()
	},
	// As sleep.c: sleeps SLEEP_MS milliseconds (default 5000), stopped
	// when the run's context ends.
	"sleep.wasm": func(ctx context.Context, _ seam.RunConfig, inv *host.Invocation) error {
		ms := 5000
		for _, kv := range inv.Env {
			if v, ok := strings.CutPrefix(kv, "SLEEP_MS="); ok {
				ms, _ = strconv.Atoi(v)
			}
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("fake sleep stopped: %w", context.Cause(ctx))
		}
		_, err := io.WriteString(inv.Stdout, "Content-Type: text/plain\n\nslept\n")
		return err
	}, // As status.c: the CGI answer QUERY_STRING names (the cases the
	// router's tests use), else a plain "ok".
	"status.wasm": func(_ context.Context, _ seam.RunConfig, inv *host.Invocation) error {
		out := map[string]string{
			"teapot":   "Status: 418 I'm a teapot\nContent-Type: text/plain\n\nteapot\n",
			"nostatus": "X-Foo: bar\n\nbody",
			"local":    "Location: /hello\n\n",
		}[fakeEnv(inv, "QUERY_STRING")]
		if out == "" {
			out = "Content-Type: text/plain\n\nok\n"
		}
		_, err := io.WriteString(inv.Stdout, out)
		return err
	},
	// As memhog.c: allocates 1 MiB chunks until the route's memory cap
	// (the program's own MiB below it) and tells how many it got.
	"memhog.wasm": func(_ context.Context, rc seam.RunConfig, inv *host.Invocation) error {
		_, err := fmt.Fprintf(inv.Stdout, "Content-Type: text/plain\n\nallocated %d MiB\n", rc.MemoryLimit>>20-1)
		return err
	},
	"routes.wasm":      fakeWrite("Content-Type: text/plain\n\nstart\n"),
	"routes_last.wasm": fakeWrite("Content-Type: text/plain\n\nstart\n"),
	// As loop.wat: never ends until its run's context does.
	"loop.wasm": func(ctx context.Context, _ seam.RunConfig, _ *host.Invocation) error {
		<-ctx.Done()
		return fmt.Errorf("fake loop stopped: %w", context.Cause(ctx))
	},
	// As slowbody.c: a header block, then "line 1".."line 5", 200 ms apart.
	"slowbody.wasm": func(ctx context.Context, _ seam.RunConfig, inv *host.Invocation) error {
		if _, err := io.WriteString(inv.Stdout, "Content-Type: text/plain\n\n"); err != nil {
			return err
		}
		for i := 1; i <= 5; i++ {
			if i > 1 {
				select {
				case <-time.After(200 * time.Millisecond):
				case <-ctx.Done():
					return fmt.Errorf("fake slowbody stopped: %w", context.Cause(ctx))
				}
			}
			if _, err := fmt.Fprintf(inv.Stdout, "line %d\n", i); err != nil {
				return err
			}
		}
		return nil
	},
	// As tpl.c: copies the file argv[1] (a guest path, read through the
	// route's volumes) to stdout, with ${NAME} replaced by the environment
	// variable NAME and ${N} by argv[N].
	"tpl.wasm": func(_ context.Context, rc seam.RunConfig, inv *host.Invocation) error {
		if len(inv.Args) < 2 {
			return errors.New("fake tpl: no script")
		}
		b, err := fakeReadFile(rc.Volumes, inv.Args[1])
		if err != nil {
			return fmt.Errorf("fake tpl: %w", err)
		}
		out := fakeVar.ReplaceAllStringFunc(string(b), func(m string) string {
			name := m[2 : len(m)-1]
			if n, err := strconv.Atoi(name); err == nil {
				if n < len(inv.Args) {
					return inv.Args[n]
				}
				return ""
			}
			return fakeEnv(inv, name)
		})
		_, err = io.WriteString(inv.Stdout, out)
		return err
	},
}

func init() { fakePrograms["hello.wat"] = fakePrograms["hello.wasm"] } // as hello.wasm, its build

// fakeExports are the entrypoints other than _start of the guests that
// have some, by file name.
var fakeExports = map[string]map[string]func(ctx context.Context, rc seam.RunConfig, inv *host.Invocation) error{
	// As routes.wat: _routes lists /a alpha, /b/... beta and /c _start.
	"routes.wasm": {
		"_routes": fakeWrite("/a alpha\n/b/... beta\n/c _start\n"),
		"alpha":   fakeWrite("Content-Type: text/plain\n\nalpha\n"),
		"beta":    fakeWrite("Content-Type: text/plain\n\nbeta\n"),
	},
	// As routes_last.wat: _routes lists /one/two/... beta, then /one/... alpha.
	"routes_last.wasm": {
		"_routes": fakeWrite("/one/two/... beta\n/one/... alpha\n"),
		"alpha":   fakeWrite("Content-Type: text/plain\n\nalpha\n"),
		"beta":    fakeWrite("Content-Type: text/plain\n\nbeta\n"),
	},
}

// fakeWrite is a program that writes out.
func fakeWrite(out string) func(context.Context, seam.RunConfig, *host.Invocation) error {
	return func(_ context.Context, _ seam.RunConfig, inv *host.Invocation) error {
		_, err := io.WriteString(inv.Stdout, out)
		return err
	}
}

// fakeVar is a tpl variable: ${NAME} or ${N}.
var fakeVar = regexp.MustCompile(`\$\{[A-Za-z0-9_]+\}`)

// fakeEnv is the value of the variable name in inv's environment.
func fakeEnv(inv *host.Invocation, name string) string {
	for _, kv := range inv.Env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// fakeRead reads the first line of the guest path p through vols.
func fakeRead(vols []seam.Mount, p string) (string, error) {
	b, err := fakeReadFile(vols, p)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line, nil
}

// fakeReadFile reads the guest path p through vols; only paths inside a
// volume, without "..", are readable.
func fakeReadFile(vols []seam.Mount, p string) ([]byte, error) {
	if strings.Contains(p, "..") {
		return nil, errors.New("not permitted")
	}
	for _, v := range vols {
		if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(v.Guest, "/")+"/"); ok {
			return os.ReadFile(filepath.Join(v.Host, rel))
		}
	}
	return nil, errors.New("no such file")
}

func (l *fakeLoader) Load(_ context.Context, path string) (seam.Module, error) {
	g, err := readFakeGuest(path)
	if err != nil {
		return nil, err
	}
	if g.refuse != "" {
		return nil, fmt.Errorf("fake loader: %s: %s", g.name, g.refuse)
	}
	l.open.Add(1)
	return &fakeModule{l: l, g: g}, nil
}

func (l *fakeLoader) Scripts(rc seam.RunConfig, _ func(string) string, built func(string, bool, time.Duration, seam.Snapshot)) seam.Scripts {
	return &fakeScripts{l: l, rc: rc, built: built, builds: map[string]*fakeBuild{}}
}

func (l *fakeLoader) SourceKind(path string) string {
	switch ext := filepath.Ext(path); ext {
	case ".wasm", ".wat":
		return ext
	}
	return ""
}

type fakeModule struct {
	l      *fakeLoader
	g      *fakeGuest
	closed atomic.Bool
}

func (m *fakeModule) Info() seam.ModuleInfo { return seam.ModuleInfo{} }
func (m *fakeModule) HasExport(name string) bool {
	_, ok := m.g.exports[name]
	return ok || name == "_start"
}
func (m *fakeModule) Kind() seam.Kind { return seam.KindCommand }

func (m *fakeModule) Bind(rc seam.RunConfig) (seam.Program, error) {
	run := m.g.start
	if rc.Entrypoint != "" && rc.Entrypoint != "_start" {
		if run = m.g.exports[rc.Entrypoint]; run == nil {
			return nil, fmt.Errorf("fake module exports no %q", rc.Entrypoint)
		}
	}
	return fakeProgram{rc: rc, run: run, snapshot: m.g.snapshotFor(rc)}, nil
}

func (m *fakeModule) Close(context.Context) error {
	if m.closed.CompareAndSwap(false, true) {
		m.l.open.Add(-1)
	}
	return nil
}

type fakeProgram struct {
	rc       seam.RunConfig
	run      fakeRun
	snapshot seam.Snapshot
}

func (p fakeProgram) Run(ctx context.Context, inv *host.Invocation) error {
	return p.run(ctx, p.rc, inv)
}

func (p fakeProgram) Entrypoint() string {
	if p.rc.Entrypoint == "" {
		return "_start"
	}
	return p.rc.Entrypoint
}

func (p fakeProgram) Snapshot() seam.Snapshot         { return p.snapshot }
func (p fakeProgram) Close(ctx context.Context) error { return nil }

// withFakeLoader is an Options edit that builds the site with a fakeLoader
// (then edit, if not nil).
func withFakeLoader(edit func(*Options)) func(*Options) {
	return func(o *Options) {
		o.Loader = &fakeLoader{}
		if edit != nil {
			edit(o)
		}
	}
}
