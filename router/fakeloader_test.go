package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/wasigate/wasigate/host/seam"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wasigate/wasigate/host"
)

// fakeLoader is a Loader without wazero (issue 11): a module is a Go
// function chosen by its file's name, written to answer as the test guest
// of that name does, so that routing, tenant and limiter tests run
// without compiling anything. The files must exist (Build stats them);
// their bytes are never read. End-to-end tests keep the real loader.
type fakeLoader struct {
	open atomic.Int64 // modules loaded and not closed
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
	},
}

// fakeRead reads the first line of the guest path p through vols; only
// paths inside a volume, without "..", are readable.
func fakeRead(vols []seam.Mount, p string) (string, error) {
	if strings.Contains(p, "..") {
		return "", errors.New("not permitted")
	}
	for _, v := range vols {
		if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(v.Guest, "/")+"/"); ok {
			b, err := os.ReadFile(filepath.Join(v.Host, rel))
			if err != nil {
				return "", err
			}
			line, _, _ := strings.Cut(string(b), "\n")
			return line, nil
		}
	}
	return "", errors.New("no such file")
}

func (l *fakeLoader) Load(_ context.Context, path string) (seam.Module, error) {
	run, ok := fakePrograms[filepath.Base(path)]
	if !ok {
		return nil, fmt.Errorf("fake loader: no program for %s", filepath.Base(path))
	}
	l.open.Add(1)
	return &fakeModule{l: l, run: run}, nil
}

func (l *fakeLoader) Scripts(seam.RunConfig, func(string) string, func(string, bool, time.Duration, seam.Snapshot)) seam.Scripts {
	return fakeScripts{}
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
	run    func(ctx context.Context, rc seam.RunConfig, inv *host.Invocation) error
	closed atomic.Bool
}

func (m *fakeModule) Info() seam.ModuleInfo      { return seam.ModuleInfo{} }
func (m *fakeModule) HasExport(name string) bool { return name == "_start" }
func (m *fakeModule) Kind() seam.Kind            { return seam.KindCommand }

func (m *fakeModule) Bind(rc seam.RunConfig) (seam.Program, error) {
	if rc.Entrypoint != "" && rc.Entrypoint != "_start" {
		return nil, fmt.Errorf("fake module exports no %q", rc.Entrypoint)
	}
	return fakeProgram{m: m, rc: rc}, nil
}

func (m *fakeModule) Close(context.Context) error {
	if m.closed.CompareAndSwap(false, true) {
		m.l.open.Add(-1)
	}
	return nil
}

type fakeProgram struct {
	m  *fakeModule
	rc seam.RunConfig
}

func (p fakeProgram) Run(ctx context.Context, inv *host.Invocation) error {
	return p.m.run(ctx, p.rc, inv)
}
func (p fakeProgram) Entrypoint() string              { return "_start" }
func (p fakeProgram) Snapshot() seam.Snapshot         { return seam.Snapshot{} }
func (p fakeProgram) Close(ctx context.Context) error { return nil }

// fakeScripts builds nothing: scripts routes need the real loader.
type fakeScripts struct{}

func (fakeScripts) Acquire(context.Context, string) (host.Runner, func(), error) {
	return nil, nil, errors.New("fake loader: no scripts")
}
func (fakeScripts) Build(context.Context, string) error { return errors.New("fake loader: no scripts") }
func (fakeScripts) Close()                              {}

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
