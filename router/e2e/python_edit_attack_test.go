package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPythonEditNewModuleImported: the preloaded helper imports an
// optional module of the scripts folder that is absent at the first
// init (a local settings file); once it is written, the next request
// must answer from an init that imported it, as a fresh start would.
// CPython looks a name up in its listing of the folder, never by path:
// nothing the init opened changes, only the folder's listing does.
func TestPythonEditNewModuleImported(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	writeFile(t, filepath.Join(scripts, "show.py"), editScript)
	writeFile(t, filepath.Join(scripts, "helper.py"), "import os\nSTAMP = os.urandom(8).hex()\ntry:\n    from local_settings import VALUE\nexcept ImportError:\n    VALUE = 'default'\n")
	base, logs, stop := editSite(t, dir)
	defer stop()
	if status, body := editGet(t, base+"/s/show.py"); status != 200 || oracle(body)["value"] != "default" {
		t.Fatalf("first request: %d %q; want 200 value=default\nlog: %s", status, body, logs)
	}
	writeFile(t, filepath.Join(scripts, "local_settings.py"), fmt.Sprintf("VALUE = %q\n", "local"))
	if status, body := editGet(t, base+"/s/show.py"); status != 200 || oracle(body)["value"] != "local" {
		t.Fatalf("after local_settings.py was written: %d value=%q; want 200 value=local (a fresh start imports it)\nlog: %s", status, oracle(body)["value"], logs)
	}
}

// TestPythonEditFolderSwapped: a deploy that writes the new scripts
// folder beside the old one and renames it into place (the old one kept,
// or removed) is an edit of helper.py like any other: the next request
// sees the new helper, and later requests take no more inits.
func TestPythonEditFolderSwapped(t *testing.T) {
	needPython(t)
	for _, keepOld := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep old %v", keepOld), func(t *testing.T) {
			dir := t.TempDir()
			scripts := filepath.Join(dir, "scripts")
			writeFile(t, filepath.Join(scripts, "show.py"), editScript)
			writeFile(t, filepath.Join(scripts, "helper.py"), helperSource("one"))
			base, logs, stop := editSite(t, dir)
			defer stop()
			if status, body := editGet(t, base+"/s/show.py"); status != 200 || oracle(body)["value"] != "one" {
				t.Fatalf("first request: %d %q; want 200 value=one\nlog: %s", status, body, logs)
			}
			next := filepath.Join(dir, "scripts.new")
			writeFile(t, filepath.Join(next, "show.py"), editScript)
			writeFile(t, filepath.Join(next, "helper.py"), helperSource("two"))
			if err := os.Rename(scripts, filepath.Join(dir, "scripts.old")); err != nil {
				t.Fatal(err)
			}
			if !keepOld {
				if err := os.RemoveAll(filepath.Join(dir, "scripts.old")); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Rename(next, scripts); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if status, body := editGet(t, base+"/s/show.py"); status != 200 || oracle(body)["value"] != "two" {
					t.Fatalf("request %d after the folder was swapped: %d value=%q; want 200 value=two\nlog: %s", i, status, oracle(body)["value"], logs)
				}
			}
			if n := editRetakes(logs); n != 1 {
				t.Fatalf("%d inits for 3 requests after one swap; want 1\nlog: %s", n, logs)
			}
		})
	}
}

// TestPythonEditFolderSwappedInFlight: a request running when the scripts
// folder is renamed over (the old one kept) ends on the folder and the
// snapshot it started with, reading the old folder's files after the
// swap; the request after it runs the new helper with the new folder.
func TestPythonEditFolderSwappedInFlight(t *testing.T) {
	needPython(t)
	const slow = `import sys, time, helper
print("Content-Type: text/plain\n")
print("value=%s" % helper.VALUE)
sys.stdout.flush()
if "slow" in sys.argv[1:]:
    time.sleep(3)
print("data=%s" % open("/cgi-bin/data.txt").read().strip())
`
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	writeFile(t, filepath.Join(scripts, "show.py"), slow)
	writeFile(t, filepath.Join(scripts, "helper.py"), helperSource("one"))
	writeFile(t, filepath.Join(scripts, "data.txt"), "old\n")
	base, logs, stop := editSite(t, dir)
	defer stop()
	if status, body := editGet(t, base+"/s/show.py"); status != 200 || oracle(body)["data"] != "old" {
		t.Fatalf("first request: %d %q; want 200 data=old\nlog: %s", status, body, logs)
	}
	c := http.Client{Timeout: 2 * time.Minute}
	res, err := c.Get(base + "/s/show.py?slow")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// Its headers are here: it runs, and sleeps before reading data.txt.
	next := filepath.Join(dir, "scripts.new")
	writeFile(t, filepath.Join(next, "show.py"), slow)
	writeFile(t, filepath.Join(next, "helper.py"), helperSource("two"))
	writeFile(t, filepath.Join(next, "data.txt"), "new\n")
	if err := os.Rename(scripts, filepath.Join(dir, "scripts.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, scripts); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := oracle(string(b)); res.StatusCode != 200 || got["value"] != "one" || got["data"] != "old" {
		t.Errorf("request in flight during the swap: %d %q; want 200 value=one data=old (the folder and snapshot it started with)\nlog: %s", res.StatusCode, b, logs)
	}
	if status, body := editGet(t, base+"/s/show.py"); status != 200 || oracle(body)["value"] != "two" || oracle(body)["data"] != "new" {
		t.Errorf("request after the swap: %d %q; want 200 value=two data=new\nlog: %s", status, body, logs)
	}
}
