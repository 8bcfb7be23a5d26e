package wasi

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkGoSnapshot: one request of a Go guest, instantiate + run +
// close, as
//
//   - start: built with _start by go build, as a command (no reactor, no
//     snapshot: cmd/wasigate/DECISIONS.md#go-programs-are-built-as-reactors);
//   - boot: built by wasigate as a driver, snapshot = false: _initialize
//     boots the runtime in every request, then wasigate_run;
//   - snapshot: the same module from the snapshot of its init.
//
// hello is samples/scripts/hello-go.go; app is samples/scripts/app
// (net/http + chi over net/http/cgi) answering GET /app/hello/x.
//
//	go test ./wasi -run '^$' -bench BenchmarkGoSnapshot -benchmem -count 5
func BenchmarkGoSnapshot(b *testing.B) {
	e := benchEngine(b, true)
	appEnv := slicesReplace(perfEnv(), map[string]string{
		"SCRIPT_NAME": "/app", "REQUEST_URI": "/app/hello/x", "PATH_INFO": "/hello/x", "QUERY_STRING": ""})
	for _, w := range []struct {
		kind, src, want string
		env             []string
	}{
		{"go", filepath.Join(repoDir, "samples", "scripts", "hello-go.go"), "Hello from Go", perfEnv()},
		{"goapp", filepath.Join(repoDir, "samples", "scripts", "app"), "Hello, x!", appEnv},
	} {
		for _, mode := range []string{"start", "boot", "snapshot"} {
			b.Run(w.kind+"/"+mode, func(b *testing.B) {
				path := perfGuest(b, w.kind)
				if mode == "start" {
					path = goStartBuild(b, w.src)
				}
				m, err := e.CompileFile(context.Background(), path)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close(context.Background())
				p, err := m.Prepare(Config{MemoryLimit: 128 << 20, NoSnapshot: mode != "snapshot"})
				if err != nil {
					b.Fatal(err)
				}
				if on := p.Snapshot().On; on != (mode == "snapshot") {
					b.Fatalf("snapshot %+v; want on %v", p.Snapshot(), mode == "snapshot")
				}
				var out bytes.Buffer
				if err := p.Run(context.Background(), &Call{Args: []string{"/hello"}, Env: w.env, Stdout: &out}); err != nil || !strings.Contains(out.String(), w.want) {
					b.Fatalf("run: %v, %q; want %q", err, out.String(), w.want)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					runOnce(b, p, w.env)
				}
			})
		}
	}
}

// goStartBuild builds src with go build for wasip1 as a command (_start),
// as wasigate did before it took snapshots, into the benchmarks' cache folder.
func goStartBuild(b *testing.B, src string) string {
	b.Helper()
	out := filepath.Join(perfCacheDir, "start-"+filepath.Base(src)+".wasm")
	if st, err := os.Stat(out); err == nil && time.Since(st.ModTime()) < time.Hour {
		return out
	}
	target := filepath.Base(src)
	dir := filepath.Dir(src)
	if st, err := os.Stat(src); err == nil && st.IsDir() {
		dir, target = src, "."
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, target)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Skipf("go build %s: %v: %s", src, err, msg)
	}
	return out
}

// slicesReplace sets the variables of env named in set.
func slicesReplace(env []string, set map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := set[k]; ok {
			kv = k + "=" + v
		}
		out = append(out, kv)
	}
	return out
}
