package main

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi/toolchain"
)

// needClang skips (loudly; fails under WASIGATE_REQUIRE_TOOLCHAINS) when
// C scripts cannot be built here.
func needClang(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("clang")
	if err == nil {
		if _, err = os.Stat("/usr/lib/wasm32-wasi"); err != nil {
			_, err = os.Stat("/usr/share/wasi-sysroot")
		}
	}
	if err != nil {
		if os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
			t.Fatalf("C toolchain missing: %v", err)
		}
		t.Skipf("SKIPPED: C toolchain for wasm32-wasi missing (%v); Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32", err)
	}
}

// buildSettings is the [server] part that lets scripts build here: a
// sandbox when there is one, trusted builds otherwise.
func buildSettings() string {
	if toolchain.DetectSandbox().Available() {
		return "[server]\n"
	}
	return "[server]\ntrusted_builds = true\n"
}

// procStatus reads a field of /proc/self/status in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("SKIPPED: no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// largestFile returns the largest file under dir and its size.
func largestFile(t *testing.T, dir string) (string, int64) {
	t.Helper()
	var name string
	var size int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil && info.Size() > size {
				name, size = p, info.Size()
			}
		}
		return nil
	})
	return name, size
}

// TestOversizedBuildRefused: a 3-line C script whose module is 257 MB is
// refused from the build output's size: a 500 with the reason "too
// large" in the request's one log event, the module never read (the
// server's peak memory does not grow by it, and goes back down), nothing
// of it kept in cache_dir, and the route's other scripts still served.
func TestOversizedBuildRefused(t *testing.T) {
	needClang(t)
	s := startServe(t, buildSettings()+`
[[route]]
path = "/s/*"
scripts = "scripts"
timeout = "90s"
`, map[string]string{
		"scripts/ok.c": "#include <stdio.h>\nint main(void) { printf(\"Content-Type: text/plain\\n\\nok\\n\"); return 0; }\n",
	})
	// Dropped in after the start, so that the request's build is the one
	// measured rather than the start's prebuild.
	big := "#include <stdio.h>\nchar big[256<<20] = {1};\nint main(void) { printf(\"Content-Type: text/plain\\n\\n%d\\n\", big[0]); return 0; }\n"
	if err := os.WriteFile(filepath.Join(s.dir, "scripts", "big.c"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	rssBefore := procStatus(t, "VmRSS")
	// Resets VmHWM, the peak, to the current size (proc(5), clear_refs).
	peakReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil

	client := &http.Client{Timeout: 120 * time.Second}
	res, err := client.Get(s.url + "/s/big.c")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "max_module_size") {
		t.Fatalf("status %d, body %q; want 500 naming max_module_size\n%s", res.StatusCode, body, s.logs)
	}
	id := res.Header.Get("X-Request-Id")
	var events []string
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, "big.c") {
			events = append(events, line)
		}
	}
	if len(events) != 1 {
		t.Errorf("%d log events about big.c; want 1:\n%s", len(events), strings.Join(events, "\n"))
	}
	for _, want := range []string{`"reason":"too large"`, `"request_id":"` + id + `"`, `"route":"/s/*"`, `"module":"scripts/big.c"`, "max_module_size"} {
		if len(events) > 0 && !strings.Contains(events[0], want) {
			t.Errorf("log event %s; want it to contain %s", events[0], want)
		}
	}

	if peakReset {
		peak := procStatus(t, "VmHWM")
		t.Logf("RSS before %d MiB, peak during the refused build %d MiB", rssBefore>>20, peak>>20)
		if peak-rssBefore > 100<<20 {
			t.Errorf("peak RSS grew by %d MiB during the refused build; want under 100 MiB (the 257 MB module must not be read)", (peak-rssBefore)>>20)
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	if after := procStatus(t, "VmRSS"); after-rssBefore > 64<<20 {
		t.Errorf("RSS %d MiB after the refusal, %d MiB before; want it back within 64 MiB", after>>20, rssBefore>>20)
	}
	if name, size := largestFile(t, filepath.Join(s.dir, "cache")); size > 16<<20 {
		t.Errorf("cache_dir keeps %s of %d MiB; want nothing of the refused build", name, size>>20)
	}
	if code, body := s.get(t, s.url+"/s/ok.c"); code != 200 || body != "ok\n" {
		t.Errorf("another script after the refusal: %d %q; want 200 \"ok\\n\"", code, body)
	}
}

// TestCacheBoundedAfterEdits: ten edits of a script with 640 KiB of data
// leave about one version in cache_dir, not ten: each edit's superseded
// build and compiled code are deleted once no request runs them.
func TestCacheBoundedAfterEdits(t *testing.T) {
	needClang(t)
	s := startServe(t, buildSettings()+`
[[route]]
path = "/s/*"
scripts = "scripts"
timeout = "60s"
`, map[string]string{"scripts/other.c": "int main(void) { return 0; }\n"})
	script := filepath.Join(s.dir, "scripts", "blob.c")
	cache := filepath.Join(s.dir, "cache")
	client := &http.Client{Timeout: 90 * time.Second}
	var first int64
	const edits = 10
	for n := 1; n <= edits; n++ {
		src := fmt.Sprintf("#include <stdio.h>\nchar blob[640<<10] = {%d};\nint main(void) { printf(\"Content-Type: text/plain\\n\\n%%d\\n\", blob[0]); return 0; }\n", n)
		if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := client.Get(s.url + "/s/blob.c")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := fmt.Sprintf("%d\n", n); res.StatusCode != 200 || string(body) != want {
			t.Fatalf("edit %d: %d %q; want 200 %q\n%s", n, res.StatusCode, body, want, s.logs)
		}
		if n == 1 {
			first = diskUsage(t, cache)
		}
	}
	last := diskUsage(t, cache)
	t.Logf("cache_dir (without Go's build cache and the key): %d KiB after the first version, %d KiB after %d edits", first>>10, last>>10, edits)
	if last > first+first/2 {
		t.Errorf("cache_dir %d KiB after %d edits, %d KiB after the first; want about one version kept", last>>10, edits, first>>10)
	}
	// The current version's build and other.c's.
	builds, _ := filepath.Glob(filepath.Join(cache, toolchain.BuildsFolder, "*.wasm"))
	if len(builds) != 2 {
		t.Errorf("%d builds kept after %d edits; want 2 (blob.c's last, other.c's): %v", len(builds), edits, builds)
	}
}

// diskUsage is the space of cache_dir's files but Go's build cache and
// the key.
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == "go-build" {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() != "hmac.key" {
			if info, err := d.Info(); err == nil {
				total += info.Sys().(*syscall.Stat_t).Blocks * 512
			}
		}
		return nil
	})
	return total
}

// TestCheckSizes: check refuses a bad max_module_size or cache_max_size
// naming the file and the key, and a configured module over
// max_module_size naming the route and the key.
func TestCheckSizes(t *testing.T) {
	for _, c := range []struct{ server, want string }{
		{`max_module_size = "1KiB"`, "max_module_size"},
		{`cache_max_size = "lots"`, "cache_max_size"},
		{`cache_max_size = "100MiB"`, "cache_max_size"},
		{`memory_limit = "1MiB"`, "memory_limit"},
	} {
		cfg := writeConfig(t, "wasigate.toml", "[server]\n"+c.server+"\n[[route]]\npath = \"/hello\"\nmodule = \"{guests}/hello.wasm\"\n")
		code, _, stderr := wasigate(t, "", "check", "-c", cfg)
		if code != 1 || !strings.Contains(stderr, cfg) || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 naming %s and %s", c.server, code, stderr, cfg, c.want)
		}
	}

	cfg := writeConfig(t, "wasigate.toml", "[server]\nmax_module_size = \"64KiB\"\n[[route]]\npath = \"/big\"\nmodule = \"big.wasm\"\n")
	f, err := os.Create(filepath.Join(filepath.Dir(cfg), "big.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(65 << 10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, _, stderr := wasigate(t, "", "check", "-c", cfg)
	if code != 1 || !strings.Contains(stderr, "/big") || !strings.Contains(stderr, "over max_module_size (65536 bytes)") {
		t.Errorf("a module over max_module_size: exit %d, stderr %q; want 1 naming the route and the bound", code, stderr)
	}
}
