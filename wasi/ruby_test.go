package wasi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// rubyModulePath is where `npm install --prefix samples/ruby` puts ruby.wasm.
func rubyModulePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "samples", "ruby", "node_modules", "@ruby", "3.4-wasm-wasi", "dist", "ruby+stdlib.wasm")
}

var (
	rubyOnce sync.Once
	rubyEng  *Engine
	rubyMod  *Module
	rubyErr  error
)

// rubyModule compiles ruby.wasm once for the package's tests, through a
// cache under the user's cache folder: compiling takes seconds.
func rubyModule(t testing.TB) *Module {
	t.Helper()
	path := rubyModulePath()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
			t.Fatalf("ruby.wasm missing (%v); run: npm install --prefix samples/ruby", err)
		}
		t.Skipf("ruby.wasm not installed; run: npm install --prefix samples/ruby")
	}
	rubyOnce.Do(func() {
		ctx := context.Background()
		rubyEng, rubyErr = NewEngine(ctx, Options{CacheDir: filepath.Join(DefaultCacheDir(), "test"), CompilationWorkers: runtime.NumCPU()})
		if rubyErr != nil {
			return
		}
		rubyMod, rubyErr = rubyEng.CompileFile(ctx, path)
	})
	if rubyErr != nil {
		t.Fatal(rubyErr)
	}
	return rubyMod
}

func TestRuby(t *testing.T) {
	mod := rubyModule(t)
	if got := mod.Kind(); got != seam.KindRuby {
		t.Fatalf("Kind() = %s; want %s", got, seam.KindRuby)
	}
	dir := t.TempDir()
	scripts := map[string]string{
		"hello.rb": `print "Content-Type: text/plain\n\n"; puts "hi #{ARGV.inspect} #{$0} #{ENV['X']}"; puts $stdin.read`,
		"exit3.rb": `puts "before"; exit 3`,
		"raise.rb": `raise ArgumentError, "boom"`,
		"js.rb":    `require "js"; JS.global`,
		"cgi.rb":   `require "cgi"; c = CGI.new; print c.header("text/plain"); puts c["a"]`,
	}
	for name, src := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		args       []string
		env        []string
		stdin      string
		wantOut    string
		wantStderr string
		wantExit   uint32
		wantErr    string
	}{
		{name: "hello", args: []string{"/s/hello.rb", "/cgi-bin/hello.rb", "w1"}, env: []string{"X=y"}, stdin: "body",
			wantOut: "Content-Type: text/plain\n\nhi [\"w1\"] /cgi-bin/hello.rb y\nbody\n"},
		{name: "exit", args: []string{"x", "/cgi-bin/exit3.rb"}, wantOut: "before\n", wantExit: 3},
		{name: "raise", args: []string{"x", "/cgi-bin/raise.rb"}, wantStderr: "boom (ArgumentError)", wantExit: 1},
		{name: "js", args: []string{"x", "/cgi-bin/js.rb"}, wantErr: "javascript interop"},
		{name: "cgi", args: []string{"x", "/cgi-bin/cgi.rb"}, env: []string{"REQUEST_METHOD=GET", "QUERY_STRING=a=b%20c"},
			wantOut: "Content-Type: text/plain\r\n\r\nb c\n"},
	}
	// Each case from the snapshot and with the init per request: a snapshot
	// must not change what a script prints.
	for _, snap := range []bool{true, false} {
		prog, err := mod.Prepare(Config{Volumes: []seam.Mount{{Guest: "/cgi-bin", Host: dir}}, MemoryLimit: 256 << 20, NoSnapshot: !snap})
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if got := prog.Snapshot(); got.On != snap {
			t.Fatalf("Snapshot() = %+v; want On %v", got, snap)
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/snapshot=%v", tt.name, snap), func(t *testing.T) {
				var out, errOut bytes.Buffer
				err := prog.Run(context.Background(), &Call{Args: tt.args, Env: tt.env, Stdin: strings.NewReader(tt.stdin), Stdout: &out, Stderr: &errOut})
				var exit *ExitError
				switch {
				case tt.wantErr != "":
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Errorf("err = %v; want one containing %q", err, tt.wantErr)
					}
				case tt.wantExit != 0:
					if !errors.As(err, &exit) || exit.Code != tt.wantExit {
						t.Errorf("err = %v; want exit code %d", err, tt.wantExit)
					}
				case err != nil:
					t.Errorf("err = %v; want nil (stderr: %s)", err, errOut.String())
				}
				if tt.wantOut != "" && out.String() != tt.wantOut {
					t.Errorf("stdout = %q; want %q", out.String(), tt.wantOut)
				}
				if !strings.Contains(errOut.String(), tt.wantStderr) {
					t.Errorf("stderr = %q; want it to contain %q", errOut.String(), tt.wantStderr)
				}
			})
		}
	}
}
