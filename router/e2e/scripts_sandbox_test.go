package e2e_test

import (
	"context"
	"fmt"
	"github.com/wasigate/wasigate/router"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// needSandbox skips a test where bwrap cannot make a sandbox, except under
// WASIGATE_REQUIRE_TOOLCHAINS where that fails it, so that CI cannot pass
// without testing the sandbox.
func needSandbox(t *testing.T) {
	t.Helper()
	if sb := toolchain.DetectSandbox(); !sb.Available() {
		if requireToolchains() {
			t.Fatalf("no build sandbox: %s", sb)
		}
		t.Skipf("no build sandbox: %s", sb)
	}
}

// testGoCache is the Go build cache the tests' builds share, beside the
// scripts engine's cache, so that the standard library is compiled for
// wasip1 once per machine rather than once per test (8-20 s here).
// The first call builds a Go hello into it, outside any request's
// timeout: on a clean machine that takes longer than a route's 10 s.
func testGoCache() string {
	dir := filepath.Join(wasi.DefaultCacheDir(), "test", "go-build")
	warmGoCacheOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "gowarm")
		if err != nil {
			return
		}
		defer os.RemoveAll(tmp)
		src := filepath.Join(tmp, "warm.go")
		if os.WriteFile(src, []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println() }\n"), 0o644) == nil {
			_, _ = (&toolchain.Builder{Trusted: trustedTestBuilds(), Dir: tmp, GoCache: dir}).Build(context.Background(), src)
		}
	})
	return dir
}

var warmGoCacheOnce sync.Once

// sandboxSite serves config (its [server] build keys apply) with a
// builder that has the server's build limits.
func sandboxSite(t *testing.T, dir, config string) (*httptest.Server, *logBuffer) {
	t.Helper()
	cfg, err := router.ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &logBuffer{}
	b := &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(t.TempDir(), "builds"), GoCache: testGoCache(), Limits: testBuildLimits(cfg.Server.Or(router.DefaultServer))}
	site, err := router.Build(context.Background(), cfg, router.Options{Loader: &cgi.Loader{Engine: scriptsEngine(t), Builder: b}, Log: zerolog.New(logs)})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	srv := httptest.NewServer(site.Handler)
	t.Cleanup(srv.Close)
	return srv, logs
}

// TestScriptsSandboxHostileSources: sources that ask the compiler for the
// server's files or environment get a build error and leak nothing, even
// with show_build_errors on
// (cmd/wasigate/DECISIONS.md#builds-run-sandboxed-and-bounded).
func TestScriptsSandboxHostileSources(t *testing.T) {
	needSandbox(t)
	const secret = "CANARY_b7f3e9_SECRET"
	t.Setenv("WASIGATE_TEST_CANARY", secret)
	outside := t.TempDir()
	canary := filepath.Join(outside, "canary.txt")
	writeFile(t, canary, secret+"\n")
	incbin := func(path string) string {
		return fmt.Sprintf(`#include <stdio.h>
extern const char blob[];
__asm__(".section .rodata.blob,\"\",@\n.globl blob\nblob:\n.incbin \"%s\"\n.byte 0\n");
int main(void) { printf("Content-Type: text/plain\n\n%%s\n", blob); return 0; }
`, path)
	}
	rust := func(macro, path string) string {
		return fmt.Sprintf("fn main() { print!(\"Content-Type: text/plain\\n\\n\"); println!(\"{:?}\", %s!(%q)); }\n", macro, path)
	}
	cases := []struct{ name, file, src string }{
		{"c include", "inc.c", fmt.Sprintf("#include %q\nint main(void) { return 0; }\n", canary)},
		{"c incbin file", "bin.c", incbin(canary)},
		{"c incbin environ", "env.c", incbin("/proc/self/environ")},
		{"rust include_bytes environ", "env.rs", rust("include_bytes", "/proc/self/environ")},
		{"rust include_str file", "file.rs", rust("include_str", canary)},
	}
	dir := t.TempDir()
	for _, c := range cases {
		writeFile(t, filepath.Join(dir, "scripts", c.file), c.src)
	}
	// A Go folder that embeds a symbolic link to the canary.
	writeFile(t, filepath.Join(dir, "scripts", "embed", "main.go"), "package main\n\nimport (\n\t_ \"embed\"\n\t\"fmt\"\n)\n\n//go:embed secret.txt\nvar s string\n\nfunc main() { fmt.Print(\"Content-Type: text/plain\\n\\n\" + s) }\n")
	writeFile(t, filepath.Join(dir, "scripts", "embed", "go.mod"), "module embed\n\ngo 1.21\n")
	if err := os.Symlink(canary, filepath.Join(dir, "scripts", "embed", "secret.txt")); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct{ name, file, src string }{"go embed symlink", "embed", ""})
	srv, logs := sandboxSite(t, dir, scriptsConfig("show_build_errors = true"))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := get(t, srv.URL+"/s/"+c.file)
			skipMissing(t, res.StatusCode, body)
			if res.StatusCode != 500 {
				t.Errorf("status %d; want 500 (a build error); body %q", res.StatusCode, body)
			}
			if strings.Contains(body, secret) {
				t.Errorf("body leaks the secret: %q", body)
			}
			ev := accessEvent(t, logs, "/s/"+c.file)
			if ev == nil || ev["reason"] != "build" {
				t.Errorf("access event %v; want reason build", ev)
			}
		})
	}
	if l := logs.String(); strings.Contains(l, secret) {
		t.Errorf("log leaks the secret: %s", l)
	}
}

// slowC is a C source whose preprocessing doubles at each of n levels of
// macros: about 4 s and 500 MB at n=22 here, 0.2 s at n=18, twice
// that per level.
func slowC(n int) string {
	var b strings.Builder
	b.WriteString("#define E0(x) x\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "#define E%d(x) E%d(E%d(x))\n", i, i-1, i-1)
	}
	fmt.Fprintf(&b, "#include <stdio.h>\nint v = E%d(1);\nint main(void) { printf(\"Content-Type: text/plain\\n\\n%%d\\n\", v); return 0; }\n", n)
	return b.String()
}

// TestScriptsBuildLimits: a build past build_timeout and one past
// build_memory are build errors with the reason logged, cached until the
// file changes; requests waiting for them get 503 at their route's timeout,
// and other routes and scripts answer meanwhile.
func TestScriptsBuildLimits(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scripts", "slow.c"), slowC(23))
	// The memory case gets a site of its own whose build_memory is low
	// and whose build_timeout is long, so that which limit it hits never
	// depends on the machine's load (slow.c's clang grows to about 850
	// MB in its 4 s; under 1 GiB and 3 s either limit could come first).
	zdir := t.TempDir()
	writeFile(t, filepath.Join(zdir, "scripts", "zero.c"), "__asm__(\".section .rodata.z,\\\"\\\",@\\n.incbin \\\"/dev/zero\\\"\\n\");\nint main(void) { return 0; }\n")
	copyFile(t, guest("hello.wasm"), filepath.Join(dir, "scripts", "ready.wasm"))
	srv, logs := sandboxSite(t, dir, `
[server]
build_timeout = "3s"
build_memory = "4GiB"
build_concurrency = 2

[[route]]
path = "/hello"
module = "`+guest("hello.wasm")+`"

[[route]]
path = "/s/*"
scripts = "scripts"
timeout = "1s"
`)
	zsrv, zlogs := sandboxSite(t, zdir, `
[server]
build_timeout = "60s"
build_memory = "256MiB"

[[route]]
path = "/s/*"
scripts = "scripts"
timeout = "1s"
`)
	start := time.Now()
	res, body := get(t, srv.URL+"/s/slow.c")
	if res.StatusCode != 503 || !strings.Contains(body, "still building") {
		t.Errorf("slow build: status %d body %q; want 503 saying the script is still building", res.StatusCode, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the request waited %v; want about its 1s timeout", d)
	}
	// Meanwhile, the other route and a script that needs no build answer.
	for _, p := range []string{"/hello", "/s/ready.wasm"} {
		t0 := time.Now()
		if res, _ := get(t, srv.URL+p); res.StatusCode != 200 || time.Since(t0) > time.Second {
			t.Errorf("%s during the build: status %d in %v; want 200 at once", p, res.StatusCode, time.Since(t0))
		}
	}
	for _, c := range []struct {
		name, url, reason string
		logs              *logBuffer
	}{
		{"timeout", srv.URL + "/s/slow.c", "build_timeout", logs},
		{"memory", zsrv.URL + "/s/zero.c", "build_memory", zlogs},
	} {
		t.Run(c.name, func(t *testing.T) {
			var res2 int
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				res, _ := get(t, c.url)
				if res2 = res.StatusCode; res2 != 503 {
					break
				}
			}
			if res2 != 500 {
				t.Fatalf("status %d; want 500 once the build stopped", res2)
			}
			if res, _ := get(t, c.url); res.StatusCode != 500 {
				t.Errorf("again: status %d; want 500 from the failure cache", res.StatusCode)
			}
			if !strings.Contains(c.logs.String(), c.reason) || !strings.Contains(c.logs.String(), `"reason":"build"`) {
				t.Errorf("log lacks the reason %q: %s", c.reason, c.logs)
			}
		})
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestScriptsBuildConcurrency: no more toolchains run at once than
// build_concurrency, across scripts.
func TestScriptsBuildConcurrency(t *testing.T) {
	needSandbox(t)
	for _, n := range []int{1, 2} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			dir := t.TempDir()
			for i := range 3 {
				// Each a different source, so each is its own build; each
				// long enough (about 1.4 s of clang) that builds allowed to
				// overlap are seen overlapping by the 5 ms sampler even on a
				// loaded machine (with 0.35 s builds, CI once saw 1 of 2).
				writeFile(t, filepath.Join(dir, "scripts", fmt.Sprintf("s%d.c", i)), slowC(21)+fmt.Sprintf("int x%d;\n", i))
			}
			srv, _ := sandboxSite(t, dir, fmt.Sprintf("[server]\nbuild_concurrency = %d\n\n[[route]]\npath = \"/s/*\"\nscripts = \"scripts\"\ntimeout = \"30s\"\n", n))
			stop := make(chan struct{})
			peak := make(chan int)
			go func() { peak <- watchCompilers(stop) }()
			var wg sync.WaitGroup
			for i := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if res, body := get(t, srv.URL+fmt.Sprintf("/s/s%d.c", i)); res.StatusCode != 200 {
						t.Errorf("s%d: status %d body %q; want 200", i, res.StatusCode, body)
					}
				}()
			}
			wg.Wait()
			close(stop)
			if got := <-peak; got != n {
				t.Errorf("at most %d compilers ran at once; want %d", got, n)
			}
		})
	}
}

// watchCompilers counts, until stop, the clang drivers (a clang whose
// parent is not one: the driver runs its compiler as a child clang)
// descending from this process, and returns the most seen at once.
func watchCompilers(stop chan struct{}) int {
	me := os.Getpid()
	most := 0
	for {
		select {
		case <-stop:
			return most
		case <-time.After(5 * time.Millisecond):
		}
		parents := map[int]int{}
		names := map[int]string{}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			s := string(b)
			open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
			if open < 0 || close < 0 || close+2 >= len(s) {
				continue
			}
			names[pid] = s[open+1 : close]
			f := strings.Fields(s[close+2:])
			if len(f) > 1 {
				parents[pid], _ = strconv.Atoi(f[1])
			}
		}
		count := 0
		for pid, name := range names {
			if !strings.HasPrefix(name, "clang") || strings.HasPrefix(names[parents[pid]], "clang") {
				continue
			}
			for p, hops := parents[pid], 0; p > 1 && hops < 16; p, hops = parents[p], hops+1 {
				if p == me {
					count++
					break
				}
			}
		}
		most = max(most, count)
	}
}

// testBuildLimits are the build limits of srv, as cmd/wasigate sets them.
func testBuildLimits(srv router.Server) toolchain.Limits {
	return toolchain.Limits{Timeout: time.Duration(srv.BuildTimeout), Memory: int64(srv.BuildMemory), Concurrency: srv.BuildConcurrency}
}
