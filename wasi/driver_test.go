package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// driverProgram prepares testdata/guests/reactor_driver.wasm with a
// read-only /lib (data.txt) and a writable /data (secret.txt), the init's
// command line and environment env.
func driverProgram(t *testing.T, e *Engine, env []string, noSnapshot bool) *Program {
	t.Helper()
	m := compileFile(t, e, filepath.Join("..", "testdata", "guests", "reactor_driver.wasm"))
	lib, data := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(lib, "data.txt"), []byte("from the lib\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "secret.txt"), []byte("a request's data"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := m.Prepare(Config{
		Volumes:     []seam.Mount{{Guest: "/lib", Host: lib}, {Guest: "/data", Host: data, Writable: true}},
		MemoryLimit: 16 << 20, InitArgs: []string{"drv", "-o"}, InitEnv: env, NoSnapshot: noSnapshot,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Entrypoint() != "wasigate_run" {
		t.Fatalf("entrypoint %q; want wasigate_run", p.Entrypoint())
	}
	return p
}

func runDriver(t *testing.T, p *Program, args []string, env []string) (map[string]string, error) {
	t.Helper()
	var out, stderr bytes.Buffer
	err := p.Run(context.Background(), &Call{Args: args, Env: env, Stdout: &out, Stderr: &stderr})
	return bodyLines(out.String()), err
}

// TestDriverSnapshot: a driver's init runs once with the interpreter's
// command line and environment and the read-only volumes (never a
// writable one's files); every request then sees its own argv,
// environment and randomness and a fresh counter.
func TestDriverSnapshot(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	for _, tt := range []struct {
		name     string
		snapshot bool
		initArgs string // what wasigate_init saw
		data     string
	}{
		// From the snapshot the init saw the configured command line and
		// an empty folder for /data; without it, the request's own.
		{"snapshot", true, "drv -o ", "empty"},
		{"no snapshot", false, "drv -o /cgi-bin/s.py a1 ", "seen"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := driverProgram(t, e, []string{"INIT_VAR=cfg"}, !tt.snapshot)
			if got := p.Snapshot(); got.On != tt.snapshot {
				t.Fatalf("Snapshot() = %+v; want On %v", got, tt.snapshot)
			}
			randoms := map[string]bool{}
			for i, x := range []string{"one", "two", "three"} {
				args := []string{"drv", "-o", "/cgi-bin/s.py", "a" + string(rune('1'+i))}
				env := []string{"HTTP_X=" + x, "INIT_VAR=cfg"}
				got, err := runDriver(t, p, args, env)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				initArgs := tt.initArgs
				if !tt.snapshot {
					initArgs = strings.Join(args, " ") + " "
				}
				want := map[string]string{"counter": "1", "init-args": initArgs, "init-var": "cfg", "lib": "from the lib",
					"data": tt.data, "args": strings.Join(args, " ") + " ", "x": x}
				for k, w := range want {
					if got[k] != w {
						t.Errorf("request %d: %s=%q; want %q", i, k, got[k], w)
					}
				}
				if randoms[got["random"]] {
					t.Errorf("request %d: random %s seen before", i, got["random"])
				}
				randoms[got["random"]] = true
			}
		})
	}
}

// TestDriverSnapshotRefused: an init that fails or leaves a file open is
// not snapshotted (one reason, for the log); requests then run the init
// themselves and fail or succeed as it does.
func TestDriverSnapshotRefused(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	for _, tt := range []struct {
		env    string
		reason string
		runErr bool
	}{
		{"INIT_FAIL=1", "wasigate_init returned 3", true},
		{"INIT_LEAK=1", "the init left 1 file(s) open", false},
		{"INIT_LEAK_DIR=1", "the init left 1 file(s) open", false},
	} {
		t.Run(tt.env, func(t *testing.T) {
			p := driverProgram(t, e, []string{tt.env}, false)
			if got := p.Snapshot(); got.On || !strings.Contains(got.Reason, tt.reason) {
				t.Fatalf("Snapshot() = %+v; want off because %q", got, tt.reason)
			}
			got, err := runDriver(t, p, []string{"drv", "/cgi-bin/s.py"}, []string{tt.env})
			if (err != nil) != tt.runErr || (err == nil && got["counter"] != "1") {
				t.Fatalf("run: %v, counter %q; want an error %v", err, got["counter"], tt.runErr)
			}
		})
	}
}
