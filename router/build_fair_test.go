package router

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// selfIncludingC is a C file that includes itself twice at each of 40
// levels: clang never finishes it, with little memory, so only
// build_timeout ends its build.
func selfIncludingC(name string) string {
	return fmt.Sprintf("#if __INCLUDE_LEVEL__ < 40\n#include %q\n#include %q\n#endif\n#if __INCLUDE_LEVEL__ == 0\nint main(void) { return 0; }\n#endif\n", name, name)
}

// TestBuildsFairAcrossTenants: tenant a's three self-including C files
// build until build_timeout, one after the other in its one build slot;
// meanwhile tenant b's trivial script builds in b's own slot and answers
// at once, not with 503 "still building". Then each of a's builds is
// stopped by build_timeout (a 500 naming it in the log) and no compiler
// is left running.
func TestBuildsFairAcrossTenants(t *testing.T) {
	needSandbox(t)
	const buildTimeout = 8 * time.Second
	dir := t.TempDir()
	for i := range 3 {
		name := fmt.Sprintf("s%d.c", i)
		writeFile(t, filepath.Join(dir, "a", name), selfIncludingC(name))
	}
	writeFile(t, filepath.Join(dir, "b", "hello.c"), "#include <stdio.h>\nint main(void) { printf(\"Content-Type: text/plain\\n\\nhello b\\n\"); return 0; }\n")
	srv, logs := sandboxSite(t, dir, fmt.Sprintf(`
[server]
build_timeout = "%s"

[[tenant]]
name = "a"
hosts = ["a.test"]

[[tenant.route]]
path = "/s/*"
scripts = "a"
timeout = "1s"

[[tenant]]
name = "b"
hosts = ["b.test"]

[[tenant.route]]
path = "/s/*"
scripts = "b"
timeout = "30s"
`, buildTimeout))
	// a's storm: every build requested at once; the requests give up
	// after a's 1 s timeout, the builds go on.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, body := getHost(t, srv, "a.test", fmt.Sprintf("/s/s%d.c", i)); res.StatusCode != 503 {
				t.Errorf("a's s%d.c: status %d %q; want 503 while it builds", i, res.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	if n := countCompilers(); n == 0 {
		t.Fatalf("no compiler of a's runs; want a's builds under way")
	}

	start := time.Now()
	res, body := getHost(t, srv, "b.test", "/s/hello.c")
	wait := time.Since(start)
	skipMissing(t, res.StatusCode, body)
	t.Logf("tenant b's first request during a's builds: %d in %v", res.StatusCode, wait.Round(time.Millisecond))
	if res.StatusCode != 200 || !strings.Contains(body, "hello b") {
		t.Errorf("b's hello.c during a's builds: status %d %q; want 200 hello b", res.StatusCode, body)
	}
	if wait >= buildTimeout {
		t.Errorf("b's hello.c took %v; want it built beside a's builds, well under build_timeout %v", wait, buildTimeout)
	}

	// a's builds end at build_timeout each (one slot: one after the
	// other), as build errors.
	deadline := time.Now().Add(3*buildTimeout + 30*time.Second)
	for i := range 3 {
		path := fmt.Sprintf("/s/s%d.c", i)
		status := 503
		for status == 503 && time.Now().Before(deadline) {
			res, _ := getHost(t, srv, "a.test", path)
			status = res.StatusCode
		}
		if status != 500 {
			t.Errorf("a's %s: status %d; want 500 once build_timeout stopped it", path, status)
		}
	}
	if n := strings.Count(logs.String(), "build ran past build_timeout"); n < 3 {
		t.Errorf("log names build_timeout %d times; want one for each of a's 3 builds:\n%s", n, logs)
	}
	// Nothing of a's builds is left running.
	for end := time.Now().Add(5 * time.Second); countCompilers() > 0 && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	if n := countCompilers(); n > 0 {
		t.Errorf("%d compilers still run after every build ended; want none", n)
	}
}

// countCompilers is how many clang drivers descending from this process
// run now (watchCompilers' count, sampled once).
func countCompilers() int {
	stop := make(chan struct{})
	got := make(chan int)
	go func() { got <- watchCompilers(stop) }()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	return <-got
}

// TestBuildConcurrencyConfig: build_concurrency is the server's default
// for each tenant, [tenant.limits] overrides it for one, and neither a
// route nor [defaults] may set it (the slots are the tenant's). Every
// scripts route of a tenant gets the same slots, and no other tenant
// gets them.
func TestBuildConcurrencyConfig(t *testing.T) {
	const site = "[[route]]\npath = \"/s/*\"\nscripts = \"s\"\n\n" +
		"[[tenant]]\nname = \"a\"\nhosts = [\"a.test\"]\n%s\n[[tenant.route]]\npath = \"/s/*\"\nscripts = \"s\"\n[[tenant.route]]\npath = \"/t/*\"\nscripts = \"s\"\n\n" +
		"[[tenant]]\nname = \"b\"\nhosts = [\"b.test\"]\n\n[[tenant.route]]\npath = \"/s/*\"\nscripts = \"s\"\n"
	tests := []struct {
		name, toml string
		def, a, b  int    // the slots of the default site, tenant a and tenant b
		err        string // "": valid
	}{
		{"defaults", fmt.Sprintf(site, ""), 1, 1, 1, ""},
		{"server", "[server]\nbuild_concurrency = 2\n" + fmt.Sprintf(site, ""), 2, 2, 2, ""},
		{"tenant override", "[server]\nbuild_concurrency = 2\n" + fmt.Sprintf(site, "limits = { build_concurrency = 3 }"), 2, 3, 2, ""},
		{"negative", fmt.Sprintf(site, "limits = { build_concurrency = -1 }"), 0, 0, 0,
			`/site/wasigate.toml: tenant #1 "a": limits: build_concurrency must be positive`},
		{"on a route", "[[route]]\npath = \"/x\"\nscripts = \"s\"\nbuild_concurrency = 2\n", 0, 0, 0, "unknown keys: route.build_concurrency"},
		{"in defaults", "[defaults]\nbuild_concurrency = 2\n", 0, 0, 0, "unknown keys: defaults.build_concurrency"},
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "s", "x.wat"), "(module)\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(tt.toml), filepath.Join(dir, "wasigate.toml"))
			if tt.err != "" {
				if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir, "/site"), tt.err) {
					t.Fatalf("got %v; want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := &slotsLoader{}
			site, err := Build(context.Background(), cfg, Options{Loader: l, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer site.Close(context.Background())
			// The scripts routes in order: the default site's, a's two, b's.
			if len(l.slots) != 4 {
				t.Fatalf("%d scripts routes; want 4", len(l.slots))
			}
			for i, c := range []struct {
				who  string
				want int
			}{{"default site", tt.def}, {"tenant a /s", tt.a}, {"tenant a /t", tt.a}, {"tenant b", tt.b}} {
				if got := cap(l.slots[i]); got != c.want {
					t.Errorf("%s: %d build slots; want %d", c.who, got, c.want)
				}
			}
			if l.slots[1] != l.slots[2] || l.slots[0] == l.slots[1] || l.slots[1] == l.slots[3] || l.slots[0] == l.slots[3] {
				t.Errorf("a's two routes share slots: %v, with b's or the default site's: %v; want a's routes only",
					l.slots[1] == l.slots[2], l.slots[1] == l.slots[3] || l.slots[0] == l.slots[1])
			}
		})
	}
}

// slotsLoader is a fakeLoader that records each scripts route's build
// slots.
type slotsLoader struct {
	fakeLoader
	slots []chan struct{}
}

func (l *slotsLoader) Scripts(c seam.RunConfig, name func(string) string, built func(string, bool, time.Duration, seam.Snapshot)) seam.Scripts {
	l.slots = append(l.slots, c.BuildSlots)
	return l.fakeLoader.Scripts(c, name, built)
}

// TestPrebuildTenantsSideBySide: at start, tenant b's scripts are built
// while tenant a's self-including C file still builds toward its
// build_timeout, not after it.
func TestPrebuildTenantsSideBySide(t *testing.T) {
	needSandbox(t)
	const buildTimeout = 8 * time.Second
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a", "s.c"), selfIncludingC("s.c"))
	writeFile(t, filepath.Join(dir, "b", "hello.wat"), "(module (func (export \"_start\")))\n")
	cfg, err := ParseConfig(strings.NewReader(fmt.Sprintf(`
[server]
build_timeout = "%s"

[[tenant]]
name = "a"
hosts = ["a.test"]
[[tenant.route]]
path = "/s/*"
scripts = "a"

[[tenant]]
name = "b"
hosts = ["b.test"]
[[tenant.route]]
path = "/s/*"
scripts = "b"
`, buildTimeout)), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	b := &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(t.TempDir(), "builds"), GoCache: testGoCache(), Limits: testBuildLimits(cfg.Server.Or(DefaultServer))}
	site, err := Build(context.Background(), cfg, Options{Loader: &cgi.Loader{Engine: scriptsEngine(t), Builder: b}, Log: zerolog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close(context.Background())
	start := time.Now()
	done := make(chan struct{})
	go func() { site.Prebuild(context.Background()); close(done) }()
	for !strings.Contains(logs.String(), `"module":"b/hello.wat","cached":false`) {
		if time.Since(start) > buildTimeout {
			t.Fatalf("b's hello.wat not built after %v, while a's s.c builds; want it built beside:\n%s", time.Since(start), logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("b's hello.wat prebuilt %v after the start", time.Since(start).Round(time.Millisecond))
	select {
	case <-done:
		t.Errorf("prebuild ended after %v; want a's s.c still building toward build_timeout %v", time.Since(start), buildTimeout)
	default:
	}
	select {
	case <-done:
	case <-time.After(buildTimeout + 30*time.Second):
		t.Fatal("prebuild still runs past a's build_timeout")
	}
	if !strings.Contains(logs.String(), "build ran past build_timeout") {
		t.Errorf("a's s.c: log names no build_timeout:\n%s", logs)
	}
}
