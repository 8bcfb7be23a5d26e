package router

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestScriptsFolderSwappedForLink: the start refuses a scripts folder
// that reaches cache_dir (its HMAC key signs the snapshots). A symbolic
// link renamed into the folder's place after the start, pointing at
// cache_dir, is not followed: the key is never served. A real folder
// renamed in is.
func TestScriptsFolderSwappedForLink(t *testing.T) {
	dir := t.TempDir()
	scripts := filepath.Join(dir, "site", "scripts")
	writeFile(t, filepath.Join(scripts, "a.txt"), "old\n")
	writeFile(t, filepath.Join(dir, "cache", "hmac.key"), "secret key\n")
	srv, _ := testSite(t, dir, "cache_dir = \"cache\"\n[[route]]\npath = \"/s/*\"\nscripts = \"site/scripts\"\nstatic = true\n")
	if res, body := get(t, srv.URL+"/s/a.txt"); res.StatusCode != 200 || body != "old\n" {
		t.Fatalf("before the swap: %d %q; want 200 old", res.StatusCode, body)
	}
	if err := os.Rename(scripts, scripts+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "cache"), scripts); err != nil {
		t.Fatal(err)
	}
	res, body := get(t, srv.URL+"/s/hmac.key")
	if strings.Contains(body, "secret") {
		t.Errorf("after a link to cache_dir was renamed in: %d %q; want the key not served", res.StatusCode, body)
	}
	// A real folder renamed in is followed.
	os.Remove(scripts)
	writeFile(t, filepath.Join(scripts, "a.txt"), "new\n")
	if res, body := get(t, srv.URL+"/s/a.txt"); res.StatusCode != 200 || body != "new\n" {
		t.Errorf("after a folder was renamed in: %d %q; want 200 new", res.StatusCode, body)
	}
}

// TestScriptsFolderSwapLoopFDs: a deploy that renames a new scripts folder
// into place every few seconds, for months, must not leave a descriptor
// open per swap: the server would run out of them. After 300 swaps, each
// followed by a request, the descriptors open are about those before.
func TestScriptsFolderSwapLoopFDs(t *testing.T) {
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	writeFile(t, filepath.Join(scripts, "a.txt"), "0\n")
	srv, _ := testSite(t, dir, "[[route]]\npath = \"/s/*\"\nscripts = \"scripts\"\nstatic = true\n")
	get(t, srv.URL+"/s/a.txt")
	http.DefaultClient.CloseIdleConnections()
	before := openFDs(t)
	const swaps = 300
	for i := 1; i <= swaps; i++ {
		next := filepath.Join(dir, fmt.Sprintf("new%d", i))
		writeFile(t, filepath.Join(next, "a.txt"), fmt.Sprintf("%d\n", i))
		if err := os.Rename(scripts, filepath.Join(dir, "old")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(next, scripts); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(dir, "old")); err != nil {
			t.Fatal(err)
		}
		if res, body := get(t, srv.URL+"/s/a.txt"); res.StatusCode != 200 || body != fmt.Sprintf("%d\n", i) {
			t.Fatalf("after swap %d: %d %q; want 200 %d", i, res.StatusCode, body, i)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	var after int
	for deadline := time.Now().Add(5 * time.Second); ; {
		runtime.GC()
		if after = openFDs(t); after < before+swaps/10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after >= before+swaps/10 {
		t.Errorf("after %d swaps of the scripts folder: %d descriptors open, %d before; want about as many (not one per swap)", swaps, after, before)
	}
}
