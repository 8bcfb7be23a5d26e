package router

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
