package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// snapScript prints what a snapshot must not freeze
// (cmd/wasigate/DECISIONS.md#interpreters-start-from-a-snapshot-of-their-start-up):
// module state, random (preloaded, so seeded in the init unless reseeded),
// the time, the environment (os.environ and posix.environ, libc's copy,
// with the variable only the init's environment held) and argv.
const snapScript = `import os, posix, random, sys, time
count = 0
count += 1
print("Content-Type: text/plain\n")
print("count=%d" % count)
print("random=%r" % random.random())
print("time=%d" % time.time_ns())
print("x=%s" % os.environ.get("HTTP_X_REQ", "-"))
print("posix=%s" % posix.environ.get(b"HTTP_X_REQ", b"-").decode())
print("init=%s" % os.environ.get("WASIGATE_SNAPSHOT_INIT", "-"))
print("posixinit=%s" % posix.environ.get(b"WASIGATE_SNAPSHOT_INIT", b"-").decode())
print("getenv=%s" % (os.getenv("PYTHONDONTWRITEBYTECODE") or "-"))
print("argv=%s" % "|".join(sys.argv[1:]))
`

func init() { pythonScripts["snap.py"] = snapScript }

// TestPythonSnapshotIsolation: with the interpreter started from a
// snapshot (and with snapshot = false), every request sees counter 1, its
// own random numbers and time, its own environment and argv, whether it
// runs alone or beside another.
func TestPythonSnapshotIsolation(t *testing.T) {
	for _, tt := range []struct {
		name, extra string
		snapshot    bool
	}{
		{"snapshot", `preload = ["random", "posix"]`, true},
		{"no snapshot", "preload = [\"random\"]\nsnapshot = false", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base, logs := pythonSite(t, tt.extra)
			on := strings.Contains(logs.String(), `python.wasm","snapshot":"snapshot: `)
			if on != tt.snapshot {
				t.Fatalf("python snapshot on = %v; want %v\nlog: %s", on, tt.snapshot, logs)
			}
			get := func(i int) map[string]string {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/s/snap.py?q%d+w%d", base, i, i), nil)
				if i != 2 {
					req.Header.Set("X-Req", fmt.Sprintf("v%d", i))
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return nil
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				got := oracle(string(b))
				if res.StatusCode != 200 {
					t.Errorf("request %d: status %d; want 200\nlog: %s", i, res.StatusCode, logs)
				}
				return got
			}
			results := make([]map[string]string, 4)
			results[0], results[1] = get(0), get(1)
			var wg sync.WaitGroup
			for i := 2; i < 4; i++ {
				wg.Add(1)
				go func() { defer wg.Done(); results[i] = get(i) }()
			}
			wg.Wait()
			randoms, times := map[string]bool{}, map[string]bool{}
			for i, got := range results {
				x := fmt.Sprintf("v%d", i)
				if i == 2 {
					x = "-"
				}
				// The init's environment held WASIGATE_SNAPSHOT_INIT
				// (wasi/snapshot.go) and no request's does: a driver
				// that did not replace os.environ and posix.environ
				// would show it.
				want := map[string]string{"count": "1", "x": x, "posix": x, "argv": fmt.Sprintf("q%d|w%d", i, i),
					"init": "-", "posixinit": "-", "getenv": "1"}
				for k, w := range want {
					if got[k] != w {
						t.Errorf("request %d: %s=%q; want %q", i, k, got[k], w)
					}
				}
				if randoms[got["random"]] || got["random"] == "" {
					t.Errorf("request %d: random=%s seen before; want a fresh seed", i, got["random"])
				}
				if times[got["time"]] || got["time"] == "" {
					t.Errorf("request %d: time=%s seen before", i, got["time"])
				}
				randoms[got["random"]], times[got["time"]] = true, true
			}
		})
	}
}

// quotaScript fills its scratch /tmp: two 600,000-byte files (the second
// over a 1 MiB cap), the first deleted and the second written again, a
// truncate past the cap, then empty files until one fails.
const quotaScript = `import os
print("Content-Type: text/plain\n")
def write(name, n):
    try:
        with open("/tmp/" + name, "wb") as f:
            f.write(b"x" * n)
        return "ok"
    except OSError as e:
        return "errno %d" % e.errno
print("a=" + write("a", 600000))
print("b=" + write("b", 600000))
os.remove("/tmp/a")
print("b2=" + write("b", 600000))
try:
    with open("/tmp/b", "r+b") as f:
        f.truncate(2000000)
    print("truncate=ok")
except OSError as e:
    print("truncate=errno %d" % e.errno)
n = 0
try:
    while n < 10000:
        open("/tmp/e%d" % n, "w").close()
        n += 1
except OSError:
    pass
print("files=%d" % n)
`

func init() { pythonScripts["quota.py"] = quotaScript }

// TestPythonScratchQuota: scratch_size caps what a request's /tmp holds,
// bytes and files; a write over the cap fails in the script (EIO, 29) and
// writes nothing; deleting gives the room back; the next request starts
// with the whole cap again.
func TestPythonScratchQuota(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	base, logs := pythonSite(t, "scratch = true\nscratch_size = \"1MiB\"")
	for i := 0; i < 2; i++ {
		res, body := pyDo(t, "GET", base+"/s/quota.py", "", nil)
		got := oracle(body)
		want := map[string]string{"a": "ok", "b": "errno 29", "b2": "ok", "truncate": "errno 29"}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("request %d: %s=%q; want %q\nbody: %s\nlog: %s", i, k, got[k], w, body, logs)
			}
		}
		// 1 MiB less the 600,000 bytes of b and the blocks of a's and b's
		// entries leave room for about 108 files of 4 KiB each.
		if n, _ := strconv.Atoi(got["files"]); res.StatusCode != 200 || n < 90 || n > 120 {
			t.Errorf("request %d: %d, %s empty files; want 200 and about 108", i, res.StatusCode, got["files"])
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "wasigate-scratch-*")); len(left) != 0 {
		t.Errorf("scratch folders left on the host: %v", left)
	}
}
