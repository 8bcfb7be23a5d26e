package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi"
)

// learnScripts: what requests import, honest and hostile.
var learnScripts = map[string]string{
	// probe says which modules the snapshot already holds.
	"probe.py": `import sys
print("Content-Type: text/plain\n")
for m in ("wsgiref.handlers", "helper", "datamod", "evil", "json.scanner"):
    print(m, m in sys.modules)
`,
	// use imports a stdlib module, one of its own folder and one of a
	// writable volume; its answer must not change with the snapshot.
	"use.py": `import sys
sys.path.insert(0, "/data")
import wsgiref.handlers, helper, datamod
print("Content-Type: text/plain\n")
print(wsgiref.handlers.BaseHandler.server_software, helper.X, datamod.Y)
`,
	"helper.py": "X = 'helper'\n",
	// hostile fills sys.modules with lies: bogus names, files outside the
	// volumes, a real file under another name, and thousands of entries.
	"hostile.py": `import sys, types
def fake(name, file):
    m = types.ModuleType(name)
    m.__file__ = file
    sys.modules[name] = m
fake("evil", "/etc/passwd")
fake("../../etc", "/usr/local/lib/python3.11/os.py")
fake("json.scanner", "/usr/local/lib/python3.11/json/decoder.py")
fake("os2", "/usr/local/lib/python3.11/os2.py")
fake("helper2", "/cgi-bin/helper2.py")
for i in range(20000):
    fake("m%05d" % i, "/usr/local/lib/python3.11/m%05d.py" % i)
print("Content-Type: text/plain\n")
print("lied")
`,
}

// learnSite serves learnScripts at /s/* with CPython and no preload list,
// a writable volume at /data holding datamod.py.
func learnSite(t *testing.T, dir string) (string, *logBuffer) {
	t.Helper()
	srv, logs := scriptsSite(t, dir, pythonInterpreter("")+`
[[route]]
path = "/s/*"
scripts = "scripts"
volumes = { "/data" = { path = "data", writable = true } }
`)
	return srv.URL, logs
}

// learnedEvents are the log's events of retakes for learned preloads.
func learnedEvents(logs *logBuffer) []map[string]any {
	var evs []map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["message"] == "interpreter snapshot retaken" && slices.Contains(strs(ev["reasons"]), "learned") {
			evs = append(evs, ev)
		}
	}
	return evs
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestPythonLearnedPreload: with no preload list, what requests import
// from the interpreter's volumes is learned and preloaded by a background
// retake, logged once, and kept in cache_dir; the scripts' own modules, a
// writable volume's and a hostile script's lies are not; answers do not
// change; a restart starts with the list.
func TestPythonLearnedPreload(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	for name, src := range learnScripts {
		writeFile(t, filepath.Join(dir, "scripts", name), src)
	}
	writeFile(t, filepath.Join(dir, "data", "datamod.py"), "Y = 'data'\n")
	start := time.Now()
	base, logs := learnSite(t, dir)

	_, before := pyDo(t, "GET", base+"/s/probe.py", "", nil)
	if !strings.Contains(before, "wsgiref.handlers False") {
		t.Fatalf("before learning got %q; want wsgiref.handlers not preloaded", before)
	}
	res, first := pyDo(t, "GET", base+"/s/use.py", "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("use.py: got %d %q; want 200\nlog: %s", res.StatusCode, first, logs)
	}
	if res, body := pyDo(t, "GET", base+"/s/hostile.py", "", nil); res.StatusCode != 200 || !strings.Contains(body, "lied") {
		t.Fatalf("hostile.py: got %d %q; want 200 lied", res.StatusCode, body)
	}

	deadline := time.Now().Add(90 * time.Second)
	for len(learnedEvents(logs)) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	evs := learnedEvents(logs)
	if len(evs) == 0 {
		t.Fatalf("no retake for learned preloads logged within 90s\nlog: %s", logs)
	}
	var added []string
	for _, ev := range evs {
		added = append(added, strs(ev["added"])...)
		if ev["route"] == nil || ev["interpreter"] != ".py" || ev["module"] == nil || ev["image"] == nil || ev["init"] == nil {
			t.Errorf("event %v: want route, interpreter .py, module, image and init", ev)
		}
	}
	if !slices.Contains(added, "wsgiref.handlers") {
		t.Errorf("learned %v; want wsgiref.handlers in it", added)
	}
	for _, n := range added {
		if n == "helper" || n == "datamod" || n == "evil" || n == "os2" || n == "helper2" || n == "json.scanner" ||
			strings.HasPrefix(n, "m0") || strings.HasPrefix(n, "m1") || strings.Contains(n, "/") {
			t.Errorf("learned %q; want never a script's, a writable volume's or a lie", n)
		}
	}

	// The next requests start from the new snapshot (a program moves at
	// its next request) and answer as before.
	var after string
	for i := 0; i < 3; i++ {
		_, after = pyDo(t, "GET", base+"/s/probe.py", "", nil)
	}
	for _, want := range []string{"wsgiref.handlers True", "helper False", "datamod False", "evil False"} {
		if !strings.Contains(after, want) {
			t.Errorf("after learning probe got %q; want %q", after, want)
		}
	}
	if _, again := pyDo(t, "GET", base+"/s/use.py", "", nil); again != first {
		t.Errorf("use.py after the retake got %q; want %q as before", again, first)
	}

	// The list is in cache_dir, and a site built again starts with it.
	files, _ := filepath.Glob(filepath.Join(wasi.DefaultCacheDir(), "test", "learned", "*.json"))
	found := false
	for _, f := range files {
		st, err := os.Stat(f)
		b, _ := os.ReadFile(f)
		if err == nil && st.ModTime().After(start) && strings.Contains(string(b), `"wsgiref.handlers"`) {
			found = true
			if strings.Contains(string(b), `"helper"`) || strings.Contains(string(b), `"evil"`) {
				t.Errorf("kept list %s: %s; want no script's module or lie", f, b)
			}
		}
	}
	if !found {
		t.Errorf("no learned list with wsgiref.handlers in cache_dir (%d files)", len(files))
	}
	base2, logs2 := learnSite(t, dir)
	if _, body := pyDo(t, "GET", base2+"/s/probe.py", "", nil); !strings.Contains(body, "wsgiref.handlers True") {
		t.Errorf("restart: first probe got %q; want wsgiref.handlers preloaded\nlog: %s", body, logs2)
	}
}
