package wasi

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// goSnapBuild builds src with a Builder as a scripts route would (issue
// 12: as a reactor with the generated entry); skips without Go unless the
// run requires every toolchain.
func goSnapBuild(t testing.TB, src string) toolchain.Result {
	t.Helper()
	res, err := (&toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(os.TempDir(), "wasigate-gosnap-test-builds")}).Build(context.Background(), src)
	if errors.Is(err, toolchain.ErrToolchain) && os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// goSnapProgram compiles the built module and prepares it with a volume
// at /data holding file.txt.
func goSnapProgram(t testing.TB, e *Engine, res toolchain.Result, c Config) *Program {
	t.Helper()
	m := compileFile(t, e, res.Path)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "file.txt"), []byte("from the volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Volumes = append(c.Volumes, seam.Mount{Guest: "/data", Host: data})
	if c.MemoryLimit == 0 {
		c.MemoryLimit = 64 << 20
	}
	p, err := m.Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// goLines runs one request and returns iso.go's lines by key.
func goLines(t *testing.T, p *Program, args, env []string) (map[string]string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := p.Run(context.Background(), &Call{Args: args, Env: env, Stdout: &out, Stderr: &errOut})
	_, body, _ := strings.Cut(out.String(), "\n\n")
	lines := map[string]string{"stderr": errOut.String()}
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		k, v, _ := strings.Cut(l, "=")
		lines[k] = v
	}
	return lines, err
}

// TestGoSnapshotIsolation: a Go script built by wasigate is a driver
// served from a snapshot of the runtime's init, and each
// request still sees its own state: the package counter at 1, its own
// math/rand, math/rand/v2, crypto/rand and map order (the runtime's
// random state is reseeded), its own time, argv and environment
// (os.Getenv and os.Environ), the volume's files; a goroutine sleeping
// works; os.Exit and a panic end with their statuses. With snapshot =
// false the same module boots the runtime per request and sees the same.
func TestGoSnapshotIsolation(t *testing.T) {
	res := goSnapBuild(t, filepath.Join("testdata", "gosnap", "iso.go"))
	if res.Fallback != "" {
		t.Fatalf("built with _start: %s", res.Fallback)
	}
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	for _, off := range []bool{false, true} {
		t.Run("snapshot="+strconv.FormatBool(!off), func(t *testing.T) {
			p := goSnapProgram(t, e, res, Config{NoSnapshot: off})
			if p.Entrypoint() != toolchain.GoRunExport {
				t.Fatalf("entrypoint %q; want %q", p.Entrypoint(), toolchain.GoRunExport)
			}
			if s := p.Snapshot(); s.On == off {
				t.Fatalf("Snapshot() = %+v; want On = %v", s, !off)
			}
			t.Logf("snapshot: %+v", p.Snapshot())
			var runs []map[string]string
			for i := range 4 {
				w := "w" + strconv.Itoa(i)
				l, err := goLines(t, p, []string{"/s/iso.go", w, "a b"}, []string{"X=" + w + "=\"'\\", "ONLY_" + w + "=1"})
				if err != nil {
					t.Fatalf("request %d: %v (stderr %s)", i, err, l["stderr"])
				}
				if l["counter"] != "1" {
					t.Errorf("request %d: counter = %s; want 1", i, l["counter"])
				}
				if want := strconv.Quote("/s/iso.go") + " " + strconv.Quote(w) + ` "a b"`; l["args"] != "["+want+"]" {
					t.Errorf("request %d: os.Args = %s; want [%s]", i, l["args"], want)
				}
				if want := `["ONLY_` + w + `=1" "X=` + w + `=\"'\\"]`; l["env"] != want {
					t.Errorf("request %d: os.Environ() = %s; want %s", i, l["env"], want)
				}
				if want := strconv.Quote(w + "=\"'\\"); l["getenv"] != want {
					t.Errorf("request %d: os.Getenv(X) = %s; want %s", i, l["getenv"], want)
				}
				if l["slept"] != "true" || l["file"] != "from the volume" {
					t.Errorf("request %d: slept %s, file %q; want true, \"from the volume\"", i, l["slept"], l["file"])
				}
				runs = append(runs, l)
			}
			for _, k := range []string{"rand", "randv2", "crypto", "time"} {
				seen := map[string]bool{}
				for _, l := range runs {
					seen[l[k]] = true
				}
				if len(seen) != len(runs) {
					t.Errorf("%s: %d distinct values in %d requests; want each request's own", k, len(seen), len(runs))
				}
			}
			orders := map[string]bool{}
			for _, l := range runs {
				orders[l["order"]] = true
			}
			if len(orders) == 1 {
				t.Errorf("map iteration order %v the same in %d requests; want the runtime's random state reseeded", orders, len(runs))
			}
			if l, err := goLines(t, p, nil, []string{"END=exit"}); !isExit(err, 7) {
				t.Errorf("os.Exit(7): %v; want exit code 7 (stderr %s)", err, l["stderr"])
			}
			if l, err := goLines(t, p, nil, []string{"END=panic"}); !isExit(err, 2) || !strings.Contains(l["stderr"], "panic: boom") {
				t.Errorf("panic: %v, stderr %q; want exit code 2 and the panic on stderr", err, l["stderr"])
			}
		})
	}
}

func isExit(err error, code uint32) bool {
	var ee *ExitError
	return errors.As(err, &ee) && ee.Code == code
}

// TestGoSnapshotFallback: a Go program that does not build as a reactor
// (here it declares a name the generated file uses) is built with _start
// as before and runs; the reason is kept with the build, also when it
// comes from the build cache, and the program's snapshot info says it
// (cmd/wasigate/DECISIONS.md#go-programs-are-built-as-reactors).
func TestGoSnapshotFallback(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "clash.go")
	if err := os.WriteFile(src, []byte(`package main

import "fmt"

func wasigateRun() {}

func main() { fmt.Print("Content-Type: text/plain\n\nplain\n") }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(dir, "builds"), GoCache: filepath.Join(os.TempDir(), "wasigate-gosnap-test-builds", "go-build")}
	for _, want := range []bool{false, true} {
		res, err := b.Build(context.Background(), src)
		if errors.Is(err, toolchain.ErrToolchain) && os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") == "" {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if res.Cached != want || !strings.HasPrefix(res.Fallback, "built with _start, not as a reactor: ") || !strings.Contains(res.Fallback, "wasigateRun") {
			t.Fatalf("build: cached %v, fallback %q; want cached %v and the compiler's reason", res.Cached, res.Fallback, want)
		}
	}
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.Load(ctx, src, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	p, err := m.Prepare(Config{MemoryLimit: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Snapshot(); p.Entrypoint() != "_start" || s.On || !strings.HasPrefix(s.Reason, "built with _start") {
		t.Errorf("entrypoint %q, snapshot %+v; want _start and the build's reason", p.Entrypoint(), s)
	}
	var out bytes.Buffer
	if err := p.Run(ctx, &Call{Stdout: &out}); err != nil || !strings.HasSuffix(out.String(), "\n\nplain\n") {
		t.Errorf("run: %v, %q; want the program's output", err, out.String())
	}
}
