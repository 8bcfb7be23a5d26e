package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// hashScript prints what a snapshot froze: the string-hash secret (as the
// hash of one string) and a value the preloaded module computed.
const hashScript = `import freshmod
print("Content-Type: text/plain\n")
print("hash=%d" % hash("x"))
print("mod=%s" % freshmod.VALUE)
print("stamp=%r" % freshmod.STAMP)
`

// freshSite serves hashScript at /s/hash.py with the Python interpreter,
// which preloads freshmod from the read-only volume lib (at /fresh), on an
// engine of its own on cacheDir, the site's files in dir; closing the returned function closes both.
func freshSite(t *testing.T, dir, cacheDir, lib string, maxAge time.Duration) (base string, logs *logBuffer, stop func()) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "scripts", "hash.py"), hashScript)
	eng, err := wasi.NewEngine(context.Background(), wasi.Options{CacheDir: cacheDir, SnapshotMaxAge: maxAge})
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`
[[interpreter]]
ext = ".py"
module = %q
volumes = { "/usr/local/lib/python3.11" = %q, "/usr/local/lib/python3.11/dist-packages" = %q, "/fresh" = %q }
env = { PYTHONDONTWRITEBYTECODE = "1", PYTHONPATH = "/fresh" }
preload = ["json", "freshmod"]

[[route]]
path = "/s/*"
scripts = "scripts"
`, filepath.Join(pythonDist, "python.wasm"), filepath.Join(pythonDist, "lib", "python3.11"),
		filepath.Join(pythonDist, "site-packages"), lib)
	cfg, err := router.ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs = &logBuffer{}
	site, err := router.Build(context.Background(), cfg, router.Options{
		Loader: &cgi.Loader{Engine: eng, Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(dir, "builds"), GoCache: testGoCache()}},
		Log:    zerolog.New(logs),
	})
	if err != nil {
		eng.Close(context.Background())
		t.Fatalf("build: %v", err)
	}
	router.LogSnapshots(zerolog.New(logs), site.Routes)
	srv := httptest.NewServer(site.Handler)
	return srv.URL, logs, func() {
		srv.Close()
		eng.Close(context.Background())
	}
}

// linkedCache is a new cache folder holding, as hard links, the compiled
// code of the scripts tests' cache (scriptsEngine): CPython is compiled
// once, not per start of these tests, and the snapshots start empty.
func linkedCache(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(wasi.DefaultCacheDir(), "test")
	key, err := os.ReadFile(filepath.Join(src, "hmac.key"))
	if err != nil {
		return dir // nothing to share: compiled here
	}
	if err := os.WriteFile(filepath.Join(dir, "hmac.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"wazero", "wazero-sig"} {
		_ = filepath.WalkDir(filepath.Join(src, sub), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			r, _ := filepath.Rel(src, p)
			if os.MkdirAll(filepath.Dir(filepath.Join(dir, r)), 0o700) == nil {
				_ = os.Link(p, filepath.Join(dir, r))
			}
			return nil
		})
	}
	return dir
}

// getHash asks for hash.py and returns its hash= and mod= lines.
func getHash(t *testing.T, base string) (hash, mod string, err error) {
	t.Helper()
	got, err := getFresh(base)
	return got["hash"], got["mod"], err
}

// getFresh asks for hash.py and returns its lines.
func getFresh(base string) (map[string]string, error) {
	res, err := http.Get(base + "/s/hash.py")
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	got := oracle(string(b))
	if res.StatusCode != 200 || got["hash"] == "" {
		return nil, fmt.Errorf("status %d, body %q; want 200 with hash=", res.StatusCode, b)
	}
	return got, nil
}

// writeLib writes freshmod.py, which the interpreter preloads, with value;
// its STAMP is the time the init imported it.
func writeLib(t *testing.T, lib, value string) {
	t.Helper()
	writeFile(t, filepath.Join(lib, "freshmod.py"), fmt.Sprintf("import time\nSTAMP = time.time()\nVALUE = %q\n", value))
}

// TestPythonSnapshotMaxAge: the interpreter's snapshot froze Python's
// string-hash secret; with snapshot_max_age = 4s, every request before
// the age sees one hash("x"), a later one another from a snapshot whose
// init ran after the age (the preloaded module's STAMP), and every request
// during the retake, two at a time, answers 200.
func TestPythonSnapshotMaxAge(t *testing.T) {
	needPython(t)
	const age = 4 * time.Second
	lib := t.TempDir()
	writeLib(t, lib, "one")
	site, cache := t.TempDir(), linkedCache(t)
	// A first start compiles the snapshot's module (its memory's size is
	// in it): the second is ready well within the age.
	_, firstLogs, stop := freshSite(t, site, cache, lib, age)
	stop()
	// The first snapshot's age counts from the start of its init, before
	// the preloaded module records its STAMP: the retake is due at least
	// the age after (STAMP - init), whatever the init's own speed.
	var initTook time.Duration
	if m := regexp.MustCompile(`, init ([0-9.]+(?:µs|ms|s|m))`).FindStringSubmatch(firstLogs.String()); m != nil {
		initTook, _ = time.ParseDuration(m[1])
	}
	base, logs, stop := freshSite(t, site, cache, lib, age)
	defer stop()
	first, err := getFresh(base)
	if err != nil {
		t.Fatalf("first request: %v\nlog: %s", err, logs)
	}
	stamp := func(got map[string]string) time.Time {
		f, err := strconv.ParseFloat(got["stamp"], 64)
		if err != nil {
			t.Fatalf("stamp=%q: %v", got["stamp"], err)
		}
		return time.Unix(0, int64(f*1e9))
	}
	taken := stamp(first)
	// Sent before the age: the snapshot is not retaken before it.
	before := 0
	for time.Until(taken.Add(age)) > 200*time.Millisecond {
		got, err := getFresh(base)
		if err != nil {
			t.Fatalf("request before the age: %v", err)
		}
		if got["hash"] != first["hash"] || got["stamp"] != first["stamp"] {
			t.Fatalf("%s after the init: hash(\"x\") = %s (init at %s); want %s (init at %s) until snapshot_max_age (%s)",
				time.Since(taken), got["hash"], got["stamp"], first["hash"], first["stamp"], age)
		}
		before++
		time.Sleep(50 * time.Millisecond)
	}
	if before == 0 {
		t.Logf("the site was ready %s after the init: no request before the age", time.Since(taken))
	}

	// Past the age: two clients at once until the hash changes.
	deadline := time.Now().Add(90 * time.Second)
	var (
		mu      sync.Mutex
		changed map[string]string
		served  int
		fails   []string
	)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				got, err := getFresh(base)
				mu.Lock()
				served++
				if err != nil {
					fails = append(fails, err.Error())
				} else if got["hash"] != first["hash"] && changed == nil {
					changed = got
				}
				done := changed != nil || len(fails) > 0
				mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("during the retake, %d of %d requests failed: %s\nlog: %s", len(fails), served, fails[0], logs)
	}
	if changed == nil {
		t.Fatalf("hash(\"x\") = %s in each of %d requests over 90s past snapshot_max_age (%s); want a new secret\nlog: %s", first["hash"], served, age, logs)
	}
	if d := stamp(changed).Sub(taken.Add(-initTook)); d < age {
		t.Errorf("the new snapshot's init ran %s after the first's started (its init took %s); want at least snapshot_max_age (%s)", d, initTook, age)
	}
	t.Logf("%d requests before the age, %d during the retake", before, served)
	// The new snapshot serves every request now, not a per-request init.
	for range 5 {
		got, err := getFresh(base)
		if err != nil {
			t.Fatal(err)
		}
		if got["hash"] != changed["hash"] || got["stamp"] != changed["stamp"] {
			t.Fatalf("after the retake hash(\"x\") = %s, then %s; want %s in every request of the new snapshot", changed["hash"], got["hash"], changed["hash"])
		}
	}
}

// TestPythonSnapshotRestart: a start on the same cache_dir reuses the
// stored snapshot (no init: the log says "loaded from the cache", and the
// frozen hash secret is the first start's); an edit of a file the init
// read takes it again; a corrupted stored image is taken again, not an
// error.
func TestPythonSnapshotRestart(t *testing.T) {
	needPython(t)
	site, cache, lib := t.TempDir(), linkedCache(t), t.TempDir()
	writeLib(t, lib, "one")
	start := func(step string) (hash, mod, snap string) {
		t.Helper()
		base, logs, stop := freshSite(t, site, cache, lib, 0)
		defer stop()
		hash, mod, err := getHash(t, base)
		if err != nil {
			t.Fatalf("%s: %v\nlog: %s", step, err, logs)
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `python.wasm","snapshot":"snapshot: `) {
				snap = line
			}
		}
		if snap == "" {
			t.Fatalf("%s: no snapshot event for python.wasm\nlog: %s", step, logs)
		}
		return hash, mod, snap
	}
	const loaded = "loaded from the cache"
	h1, m1, s1 := start("first start")
	if strings.Contains(s1, loaded) || m1 != "one" {
		t.Fatalf("first start: mod=%s, %s; want one, a snapshot taken now", m1, s1)
	}
	h2, m2, s2 := start("restart")
	if !strings.Contains(s2, loaded) || h2 != h1 || m2 != m1 {
		t.Fatalf("restart: hash=%s mod=%s, %s; want hash=%s mod=%s, %s", h2, m2, s2, h1, m1, loaded)
	}

	// A file the init imported changes: taken again, with the new value.
	writeLib(t, lib, "two")
	h3, m3, s3 := start("after an edit")
	if strings.Contains(s3, loaded) || m3 != "two" || h3 == h1 {
		t.Fatalf("after an edit of freshmod.py: hash=%s mod=%s, %s; want a new init (mod=two, not hash=%s)", h3, m3, s3, h1)
	}
	// A new file where the init looked and found nothing (a module
	// shadowing one it imported from the standard library).
	writeFile(t, filepath.Join(lib, "json.py"), "VALUE = 'shadow'\n")
	_, _, s4 := start("after a new file")
	if strings.Contains(s4, loaded) {
		t.Fatalf("after json.py appeared in the init's search path: %s; want a new init", s4)
	}
	if h, _, s := start("restart again"); !strings.Contains(s, loaded) || h == "" {
		t.Fatalf("restart again: %s; want %s", s, loaded)
	}

	// Every stored image corrupted: a miss, a new init and a 200.
	imgs, _ := filepath.Glob(filepath.Join(cache, "snapshots", "*.img"))
	if len(imgs) == 0 {
		t.Fatalf("no stored image in %s", filepath.Join(cache, "snapshots"))
	}
	for _, img := range imgs {
		f, err := os.OpenFile(img, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("corrupt"), 4096); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	_, m5, s5 := start("after corruption")
	if strings.Contains(s5, loaded) || m5 != "two" {
		t.Fatalf("after the stored image was corrupted: mod=%s, %s; want a new init and mod=two", m5, s5)
	}
}
